"""One behavioural suite for every store backend: memory, SQLite, and DynamoDB (moto, with the key
schema and TTL attribute the CDK data stack creates)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from support import make_table
from switchboard.errors import StoreError
from switchboard.state.store import StoreSettings, open_store
from switchboard.state.store.dynamodb import DynamoDBStore

pytestmark = pytest.mark.anyio


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


@pytest.fixture(params=["memory", "sqlite", "dynamodb", "delayed-memory"])
async def store(request, tmp_path: Path):
    if request.param == "dynamodb":
        monkeypatch = request.getfixturevalue("monkeypatch")
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.setenv(key, "testing")
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            make_table(client)
            backend = open_store(
                StoreSettings(backend="dynamodb", table="switchboard-test", region="us-east-1")
            )
            yield backend
            await backend.close()
        return
    if request.param == "delayed-memory":  # the benchmark's simulated remote store
        backend = open_store(StoreSettings(backend="memory", simulated_latency_ms=1))
        assert type(backend).__name__ == "DelayedStore"
        yield backend
        assert backend.calls > 0  # type: ignore[attr-defined]
        await backend.close()
        return
    backend = open_store(StoreSettings(backend=request.param, path=str(tmp_path / "state.db")))
    yield backend
    await backend.close()


async def test_put_get_roundtrip(store) -> None:
    attributes = {
        "tenant": "acme",
        "rpm": 600,
        "enabled": True,
        "models": ["gpt-4o*", "claude-*"],
        "meta": {"a": 1},
    }
    assert await store.put("KEY#1", "META", attributes)
    item = await store.get("KEY#1", "META")
    assert {k: item[k] for k in attributes} == attributes
    assert (item["pk"], item["sk"], item["expires_at"]) == ("KEY#1", "META", None)
    assert await store.get("KEY#1", "other") is None


async def test_if_absent_and_expiry(store) -> None:
    past = int(time.time()) - 5
    assert await store.put("K", "S", {"v": 1}, if_absent=True)
    assert not await store.put("K", "S", {"v": 2}, if_absent=True)
    assert (await store.get("K", "S"))["v"] == 1
    await store.put("E", "S", {"v": 1}, expires_at=past)
    assert await store.get("E", "S") is None  # filtered on read: TTL deletion is lazy
    assert await store.put("E", "S", {"v": 2}, if_absent=True)  # an expired item counts as absent


async def test_update_only_live_items(store) -> None:
    assert not await store.update("NOPE", "S", {"revoked": True})
    await store.put("K", "S", {"revoked": False, "name": "ci"})
    assert await store.update("K", "S", {"revoked": True})
    item = await store.get("K", "S")
    assert item["revoked"] is True and item["name"] == "ci"


async def test_add_is_atomic_under_concurrency(store) -> None:
    expires = int(time.time()) + 60
    # moto's in-memory DynamoDB is not thread-safe (real DynamoDB's ADD is atomic): one at a time there
    gate = asyncio.Semaphore(1 if isinstance(store, DynamoDBStore) else 50)

    async def add() -> dict[str, int]:
        async with gate:
            return await store.add("RL#k", "rpm#1", {"n": 1, "tokens": 10}, expires_at=expires)

    results = await asyncio.gather(*(add() for _ in range(50)))
    assert sorted(r["n"] for r in results) == list(range(1, 51))  # every caller saw a distinct count
    item = await store.get("RL#k", "rpm#1")
    assert (item["n"], item["tokens"], item["expires_at"]) == (50, 500, expires)


async def test_add_restarts_an_expired_counter(store) -> None:
    await store.add("RL#x", "w", {"n": 5}, expires_at=int(time.time()) - 1)
    assert await store.add("RL#x", "w", {"n": 2}, expires_at=int(time.time()) + 60) == {"n": 2}


async def test_add_once_applies_each_token_once_per_item(store) -> None:
    deltas = {"requests": 1, "tokens": 10}
    assert await store.add_once("USAGE#k", "d#m", deltas, "inst.1")
    assert not await store.add_once("USAGE#k", "d#m", deltas, "inst.1")  # a retry or a replay
    assert await store.add_once("USAGE#k", "d#other", deltas, "inst.1")  # same batch, another item
    assert await store.add_once("USAGE#k", "d#m", deltas, "inst.2")
    item = await store.get("USAGE#k", "d#m")
    assert (item["requests"], item["tokens"]) == (2, 20)
    assert [i["sk"] for i in await store.query("USAGE#k")] == ["d#m", "d#other"]  # markers live apart
    # an expired counter restarts from the deltas, as with add
    await store.add("RL#x", "w", {"n": 5}, expires_at=int(time.time()) - 1)
    assert await store.add_once("RL#x", "w", {"n": 2}, "t", expires_at=int(time.time()) + 60)
    assert (await store.get("RL#x", "w"))["n"] == 2


async def test_query_scan_and_delete(store) -> None:
    for sk in ("2026-11-22#b", "2026-11-21#a", "2026-11-22#a", "other"):
        await store.put("USAGE#k", sk, {"tokens": 1})
    await store.put("USAGE#k", "2026-11-22#gone", {"tokens": 1}, expires_at=int(time.time()) - 1)
    await store.put("USAGE#j", "2026-11-22#a", {"tokens": 1})
    assert [i["sk"] for i in await store.query("USAGE#k", "2026-11-22")] == ["2026-11-22#a", "2026-11-22#b"]
    assert len(await store.query("USAGE#k")) == 4
    assert [(i["pk"], i["sk"]) for i in await store.scan_prefix("USAGE#j")] == [("USAGE#j", "2026-11-22#a")]
    await store.delete("USAGE#k", "other")
    assert len(await store.query("USAGE#k")) == 3


def test_sqlite_add_is_atomic_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    script = (
        "import asyncio, sys\n"
        "from switchboard.state.store.sqlite import SQLiteStore\n"
        "async def main():\n"
        "    store = SQLiteStore(sys.argv[1])\n"
        "    for _ in range(100):\n"
        "        await store.add('RL#k', 'w', {'n': 1})\n"
        "    await store.close()\n"
        "asyncio.run(main())\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path)]) for _ in range(4)]
    assert [p.wait(60) for p in procs] == [0, 0, 0, 0]

    async def read() -> int:
        store = open_store(StoreSettings(backend="sqlite", path=str(path)))
        item = await store.get("RL#k", "w")
        await store.close()
        return int(item["n"])

    assert asyncio.run(read()) == 400


async def test_dynamodb_faults_become_store_errors(aws_env) -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    make_table(client)

    def throttle(**kwargs):
        from botocore.exceptions import ClientError

        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "GetItem"
        )

    client.meta.events.register("before-call.dynamodb.GetItem", throttle)
    store = DynamoDBStore("switchboard-test", client=client)
    with pytest.raises(StoreError, match="ProvisionedThroughputExceeded"):
        await store.get("K", "S")


def test_unknown_backend() -> None:
    with pytest.raises(ValueError, match="unknown store backend"):
        open_store(StoreSettings(backend="redis"))
    with pytest.raises(ValueError, match="table is required"):
        open_store(StoreSettings(backend="dynamodb"))


async def test_dynamodb_client_is_created_once_under_concurrent_first_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """boto3 clients must be created once: the first calls of a busy process run in several worker
    threads at the same time, and each must see the same client."""
    import threading

    created: list[object] = []
    lock = threading.Lock()

    class FakeClient:
        def get_item(self, **_: object) -> dict:
            return {}

    def client_factory(*_: object, **__: object) -> FakeClient:
        time.sleep(0.05)  # creating a client reads config and endpoint data from disk: slow
        with lock:
            created.append(client := FakeClient())
        return client

    monkeypatch.setattr(boto3, "client", client_factory)
    store = DynamoDBStore("switchboard-test", region="us-east-1")
    assert await asyncio.gather(*(store.get("K", str(i)) for i in range(16))) == [None] * 16
    assert len(created) == 1
