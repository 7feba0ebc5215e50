"""Store faults on the production backend (DynamoDB through moto), injected with a botocore event
hook: auth fails closed (503), the cache is bypassed, usage is spilled and replayed. Throttling
and timeouts both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from moto import mock_aws

from support import build_app, chat, client_for, completion, json_response, make_config, make_table
from switchboard.state import keys
from switchboard.state.store.dynamodb import DynamoDBStore
from switchboard.state.usage import UsageRecorder, usage_report

pytestmark = pytest.mark.anyio


class Faults:
    """Fails DynamoDB calls whose key starts with one of `prefixes` while `on`."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.prefixes: tuple[str, ...] = ()
        self.injected = 0

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        writes = [next(iter(w.values())) for w in params.get("TransactItems", [])] or [params]
        keys = [w.get("Key") or w.get("Item") or {} for w in writes]
        pks = [(key.get("pk") or {}).get("S", "") for key in keys]
        if not self.prefixes or not any(pk.startswith(self.prefixes) for pk in pks):
            return
        self.injected += 1
        if self.kind == "timeout":
            raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, model.name)


@pytest.fixture(params=["throttle", "timeout"])
def dynamo(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Faults]]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        make_table(client)
        faults = Faults(request.param)
        client.meta.events.register("before-parameter-build.dynamodb.*", faults)
        yield client, faults


async def gateway(client: Any, tmp_path: Path):
    store = DynamoDBStore("switchboard-test", client=client)
    key, record = await keys.create_key(store, tenant="acme", name="ci")
    app = build_app(make_config(), lambda r: json_response(200, completion()), store=store)

    async def no_sleep(_: float) -> None:
        return None

    app.services.usage = UsageRecorder(store, spill_path=str(tmp_path / "spill.jsonl"), sleep=no_sleep)
    return app, store, key, record


async def test_auth_fails_closed(dynamo, tmp_path: Path) -> None:
    client, faults = dynamo
    app, _, key, _ = await gateway(client, tmp_path)
    faults.prefixes = ("KEY#",)
    async with client_for(app) as http:
        response = await http.post(
            "/v1/chat/completions", json=chat(), headers={"authorization": f"Bearer {key}"}
        )
    assert response.status_code == 503 and response.json()["error"]["code"] == "auth_unavailable"
    assert "sb-" not in response.text and faults.injected >= 1
    await app.aclose()


async def test_cache_is_bypassed_and_usage_spilled_then_replayed(dynamo, tmp_path: Path) -> None:
    client, faults = dynamo
    app, store, key, record = await gateway(client, tmp_path)
    headers = {"authorization": f"Bearer {key}", "cache-control": "max-age=60"}
    faults.prefixes = ("CACHE#", "USAGE#")
    async with client_for(app) as http:
        first = await http.post("/v1/chat/completions", json=chat(), headers=headers)
        assert first.status_code == 200 and first.headers["x-switchboard-cache"] == "bypass"
        await app.services.usage.drain()
        assert (tmp_path / "spill.jsonl").exists()
        faults.prefixes = ()  # the store recovers
        second = await http.post("/v1/chat/completions", json=chat(), headers=headers)
        assert second.status_code == 200 and second.headers["x-switchboard-cache"] == "miss"
    await app.aclose()  # the next write replays the spill
    assert not (tmp_path / "spill.jsonl").exists()
    [row] = await usage_report(store, record.key_id)
    assert row["requests"] == 2 and row["prompt_tokens"] == 2
