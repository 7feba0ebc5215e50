"""A dollar budget cannot be bypassed by a model the price list does not know (issue 21): a key with a
budget is never served by an unpriced target - the chain skips to a priced one, or the request is
refused in the caller's dialect naming the target and how to price it - unless the model declares a
fallback price, which is then what the answer costs. Keys without a budget keep the whole chain."""

from __future__ import annotations

import httpx
import pytest

from support import build_app, chat, client_for, completion, json_response, make_config
from switchboard.state import keys
from switchboard.state.store.memory import MemoryStore
from switchboard.state.usage import usage_report

pytestmark = pytest.mark.anyio
NANO = 1_000_000_000
CONFIG = {
    "models": {
        "sol-x": {"targets": ["a/gpt-6-sol-x"]},  # nobody prices it
        "luna": {"targets": ["a/gpt-6-luna"]},
        "x-then-luna": {"targets": ["a/gpt-6-sol-x", "b/gpt-6-luna"]},
        "declared": {"targets": ["a/house-model"], "fallback_price": {"prompt": 5.0, "completion": 20.0}},
    }
}


class Upstream:
    def __init__(self) -> None:
        self.models: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        import orjson

        self.models.append(orjson.loads(request.content)["model"])
        body = completion()
        body["usage"] = {"prompt_tokens": 1_000, "completion_tokens": 1_000, "total_tokens": 2_000}
        return json_response(200, body)


async def _setup(budget_nano: int | None):  # type: ignore[no-untyped-def]
    store = MemoryStore()
    key, record = await keys.create_key(store, tenant="acme", name="ci", budget_nano_usd_per_day=budget_nano)
    upstream = Upstream()
    return build_app(make_config(CONFIG), upstream, store=store), upstream, store, key, record


async def test_a_budget_key_gets_no_single_unpriced_answer() -> None:
    # GIVEN a key with a $0.0001 daily budget (the reproduction)
    app, upstream, _, key, _ = await _setup(NANO // 10_000)
    async with client_for(app) as client:
        answers = [
            await client.post(
                "/v1/chat/completions", json=chat("sol-x"), headers={"authorization": f"Bearer {key}"}
            )
            for _ in range(15)
        ]
        anthropic = await client.post(
            "/v1/messages",
            json={"model": "sol-x", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
            headers={"x-api-key": key},
        )
    # THEN none of 15 is served; each refusal names the target and how to price it
    assert [a.status_code for a in answers] == [403] * 15 and upstream.models == []
    error = answers[0].json()["error"]
    assert error["code"] == "unpriced_model" and "a/gpt-6-sol-x" in error["message"]
    assert "[prices]" in error["message"] and "fallback_price" in error["message"]
    # in the caller's dialect
    assert anthropic.status_code == 403 and anthropic.json()["type"] == "error"
    assert "a/gpt-6-sol-x" in anthropic.json()["error"]["message"]


async def _served(budget_nano: int | None, model: str):  # type: ignore[no-untyped-def]
    """One chat request of a key with this budget: the response, the upstream models called and the
    key's usage row."""
    app, upstream, store, key, record = await _setup(budget_nano)
    async with client_for(app) as client:
        response = await client.post(
            "/v1/chat/completions", json=chat(model), headers={"authorization": f"Bearer {key}"}
        )
    await app.aclose()  # flushes the usage counts
    [row] = await usage_report(store, record.key_id)
    return response, upstream.models, row


async def test_the_chain_skips_to_a_priced_target() -> None:
    response, called, row = await _served(NANO, "x-then-luna")
    assert response.status_code == 200 and called == ["gpt-6-luna"]
    assert response.headers["x-switchboard-provider"] == "b"
    assert response.headers["x-switchboard-cost-usd"] == "0.0006"  # 1,000 x $0.10 + 1,000 x $0.50
    assert row["unpriced"] == 0 and row["cost_usd"] == pytest.approx(0.0006)


async def test_a_declared_fallback_price_serves_and_is_charged() -> None:
    response, called, row = await _served(NANO, "declared")
    assert response.status_code == 200 and called == ["house-model"]
    assert response.headers["x-switchboard-cost-usd"] == "0.025"  # 1,000 x $5 + 1,000 x $20
    assert row["cost_usd"] == pytest.approx(0.025)


async def test_keys_without_a_budget_keep_the_whole_chain() -> None:
    response, called, row = await _served(None, "x-then-luna")
    assert response.status_code == 200 and called == ["gpt-6-sol-x"]
    assert "x-switchboard-cost-usd" not in response.headers  # unknown, not 0
    assert row["unpriced"] == 1 and "note" in row
