"""What each response cost: `x-switchboard-cost-usd` on JSON answers, `cost_usd` in a stream's final
timing comment, the same figure in usage accounting; `check-config` names the unpriced targets."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
import pytest

from support import (
    build_app,
    chat,
    chunk,
    client_for,
    completion,
    json_response,
    make_config,
    parse_sse,
    sse_response,
)
from switchboard.cli.main import main
from switchboard.state import keys
from switchboard.state.store.memory import MemoryStore
from switchboard.state.usage import usage_report

pytestmark = pytest.mark.anyio

PRICED = {
    "models": {
        "mini": {"targets": ["a/gpt-4o-mini"]},
        "sonnet": {"targets": ["claude/claude-sonnet-4-5-20250929"]},
        "house": {"targets": ["b/house-model"]},
        "chain": {"targets": ["a/model-a", "b/model-b"]},
    },
}
CLAUDE = {"claude": {"type": "anthropic", "base_url": "https://anthropic.example/v1", "api_key_env": "A_KEY"}}


def config(**prices: dict[str, float]):  # type: ignore[no-untyped-def]
    document = dict(PRICED)
    if prices:
        document["prices"] = prices
    return make_config(document, providers=CLAUDE)


def answer(prompt: int, completion_tokens: int, cached: int = 0) -> dict:  # type: ignore[type-arg]
    body = completion()
    body["usage"] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached},
    }
    return body


async def keyed(store: MemoryStore) -> tuple[str, str]:
    key, record = await keys.create_key(store, tenant="acme", name="ci")
    return key, record.key_id


async def test_json_answer_says_what_it_cost_and_usage_sums_the_same() -> None:
    store = MemoryStore()
    key, key_id = await keyed(store)
    app = build_app(config(), lambda r: json_response(200, answer(10_000, 2_000, cached=4_000)), store=store)
    async with client_for(app) as client:
        response = await client.post(
            "/v1/chat/completions", json=chat("mini"), headers={"authorization": f"Bearer {key}"}
        )
    await app.aclose()
    # gpt-4o-mini: 6,000 x $0.15 + 4,000 cached x $0.075 + 2,000 x $0.60 per million
    expected = Decimal(6_000 * 0.15 + 4_000 * 0.075 + 2_000 * 0.60) / 1_000_000
    assert Decimal(response.headers["x-switchboard-cost-usd"]) == expected.quantize(Decimal("1e-9"))
    assert response.headers["x-switchboard-cost-usd"] == "0.0024"
    [row] = await usage_report(store, key_id)
    assert row["cost_usd"] == pytest.approx(0.0024)


async def test_anthropic_answer_prices_cache_reads_and_writes() -> None:
    body = json.loads(
        (Path(__file__).parents[1] / "fixtures/providers/anthropic/completion.json").read_text()
    )
    body["usage"] = {
        "input_tokens": 1_000,
        "output_tokens": 500,
        "cache_read_input_tokens": 6_000,
        "cache_creation_input_tokens": 3_000,
    }
    store = MemoryStore()
    key, key_id = await keyed(store)
    app = build_app(config(), lambda r: json_response(200, body), store=store)
    request = {"model": "sonnet", "max_tokens": 600, "messages": [{"role": "user", "content": "hi"}]}
    async with client_for(app) as client:
        response = await client.post("/v1/messages", json=request, headers={"x-api-key": key})
    await app.aclose()
    assert response.status_code == 200
    # claude-sonnet-4-5: 1,000 x $3 + 6,000 read x $0.30 + 3,000 written x $3.75 + 500 x $15
    assert response.headers["x-switchboard-cost-usd"] == "0.02355"
    [row] = await usage_report(store, key_id)
    assert row["cost_usd"] == pytest.approx(0.02355)


async def test_translated_answer_is_priced_from_its_usage() -> None:
    app = build_app(config(), lambda r: json_response(200, answer(1_000_000, 0)))
    request = {"model": "mini", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    async with client_for(app) as client:
        response = await client.post("/v1/messages", json=request)  # Anthropic in, OpenAI target
    assert response.status_code == 200 and "usage" in response.json()
    assert response.headers["x-switchboard-cost-usd"] == "0.15"


async def test_config_prices_override_and_unknown_models_have_no_cost() -> None:
    prices = {"b/house-model": {"prompt": 2.0, "completion": 4.0}, "gpt-4o-mini": {"prompt": 1.0}}
    app = build_app(config(**prices), lambda r: json_response(200, answer(1_000, 1_000)))
    async with client_for(app) as client:
        house = await client.post("/v1/chat/completions", json=chat("house"))
        mini = await client.post("/v1/chat/completions", json=chat("mini"))
        unknown = await client.post("/v1/chat/completions", json=chat("chain"))
    assert house.headers["x-switchboard-cost-usd"] == "0.006"
    assert mini.headers["x-switchboard-cost-usd"] == "0.001"  # the override, not the shipped row
    assert "x-switchboard-cost-usd" not in unknown.headers  # unknown, not free: 0 would claim a price


async def _streamed(model: str, prompt: int, completion_tokens: int):  # type: ignore[no-untyped-def]
    """A stream of `model` whose usage chunk reports these tokens: its response, its final timing
    summary and the key's usage rows."""
    usage = orjson.dumps(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion_tokens},
        }
    )
    store = MemoryStore()
    key, key_id = await keyed(store)
    app = build_app(
        config(),
        lambda r: sse_response(
            chunk("hi"), chunk(finish="stop"), b"data: " + usage + b"\n\n", b"data: [DONE]\n\n"
        ),
        store=store,
    )
    async with client_for(app) as client:
        response = await client.post(
            "/v1/chat/completions", json=chat(model, stream=True), headers={"authorization": f"Bearer {key}"}
        )
    await app.aclose()
    [comment] = [line for line in response.text.split("\n") if line.startswith(": switchboard-timing ")]
    return (
        response,
        json.loads(comment.removeprefix(": switchboard-timing ")),
        await usage_report(store, key_id),
    )


async def test_stream_from_an_unpriced_target_reports_a_null_cost() -> None:
    _, summary, [row] = await _streamed("chain", 20, 10)
    assert summary["cost_usd"] is None
    # the usage report marks the row
    assert row["unpriced"] == 1 and row["cost_usd"] == 0 and "add a/model-a to [prices]" in row["note"]


async def test_stream_cost_is_in_the_final_timing_comment() -> None:
    response, summary, [row] = await _streamed("mini", 20_000, 1_000)
    assert "x-switchboard-cost-usd" not in response.headers  # a stream's cost is known at its end
    assert summary["cost_usd"] == "0.0036"  # 20,000 x $0.15 + 1,000 x $0.60 per million
    assert parse_sse(response.text)[-1] == "[DONE]"
    assert row["cost_usd"] == pytest.approx(0.0036)


async def test_a_cut_stream_reports_no_cost_in_its_comment() -> None:
    class Cut(httpx.AsyncByteStream):
        async def __aiter__(self):  # type: ignore[no-untyped-def]
            yield chunk("partial")
            raise httpx.ReadError("reset")

    app = build_app(config(), lambda r: httpx.Response(200, stream=Cut()))
    async with client_for(app) as client:
        response = await client.post("/v1/chat/completions", json=chat("mini", stream=True))
    [comment] = [line for line in response.text.split("\n") if line.startswith(": switchboard-timing ")]
    assert json.loads(comment.removeprefix(": switchboard-timing "))["cost_usd"] is None


async def test_cache_hits_cost_nothing() -> None:
    calls = []

    def upstream(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return json_response(200, answer(1_000, 1_000))

    app = build_app(config(), upstream)
    async with client_for(app) as client:
        first, second = [
            await client.post(
                "/v1/chat/completions", json=chat("mini"), headers={"cache-control": "max-age=60"}
            )
            for _ in range(2)
        ]
    assert len(calls) == 1 and second.headers["x-switchboard-cache"] == "hit"
    assert first.headers["x-switchboard-cost-usd"] == "0.00075"
    assert second.headers["x-switchboard-cost-usd"] == "0"


def test_check_config_lists_unpriced_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        """
[providers.openai]
type = "openai"
base_url = "https://api.openai.com/v1"
[providers.bedrock]
type = "bedrock"
region = "us-east-1"
[providers.mock]
type = "mock"
[models.a]
targets = ["openai/gpt-4o", "openai/my-finetune", "bedrock/us.amazon.nova-pro-v1:0"]
[models.b]
targets = ["openai/my-finetune", "bedrock/custom.model-v1:0", "mock/echo", "openai/extended"]
[prices]
"extended" = { prompt = 1.0, completion = 2.0 }
"""
    )
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "unpriced: openai/my-finetune, bedrock/custom.model-v1:0 (no cost is known" in out
    assert "prices not verified on the provider's page: openai/gpt-4o, bedrock/us.amazon.nova-pro-v1:0" in out
