"""Tiered cost, computed per request from the usage each answer reports (issue 21 item 3): prompt-
length bands on both sides of each threshold, the service tier the answer (or else the request)
names, Anthropic's 1-hour cache writes, and a dollar budget reserving at the band a long prompt
falls in."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest

from support import build_app, chat, client_for, completion, json_response, make_config
from switchboard.state import keys
from switchboard.state.store.memory import MemoryStore

pytestmark = pytest.mark.anyio
NANO = 1_000_000_000
PROVIDERS = {
    "claude": {"type": "anthropic", "base_url": "https://anthropic.example/v1", "api_key_env": "A_KEY"}
}
MODELS = {
    "sol": {"targets": ["a/gpt-6.2-sol"]},
    "opus": {"targets": ["claude/claude-opus-5-5"]},
    "haiku": {"targets": ["claude/claude-haiku-5-5"]},
}


def openai_answer(prompt: int, out: int, cached: int = 0, tier: str | None = None) -> dict[str, Any]:
    body = completion()
    body["usage"] = {
        "prompt_tokens": prompt,
        "completion_tokens": out,
        "total_tokens": prompt + out,
        "prompt_tokens_details": {"cached_tokens": cached},
    }
    if tier is not None:
        body["service_tier"] = tier
    return body


def anthropic_answer(usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }


async def _cost(
    answer: dict[str, Any], request: dict[str, Any], path: str = "/v1/chat/completions"
) -> Decimal:
    app = build_app(
        make_config({"models": MODELS}, providers=PROVIDERS), lambda r: json_response(200, answer)
    )
    async with client_for(app) as client:
        response = await client.post(path, json=request)
    assert response.status_code == 200, response.text
    return Decimal(response.headers["x-switchboard-cost-usd"])


def usd(micro: float) -> Decimal:
    return (Decimal(str(micro)) / 1_000_000).normalize()


async def test_gpt_6_band_on_both_sides_of_272k_input_tokens() -> None:
    # 272,000 input tokens (half read from the cache): the standard rates
    at = await _cost(openai_answer(272_000, 1_000, cached=136_000), chat("sol"))
    assert at == usd(136_000 * 2 + 136_000 * 0.10 + 1_000 * 10)
    # one more: the whole request at 2x input and cache, 1.5x output
    above = await _cost(openai_answer(272_001, 1_000, cached=136_000), chat("sol"))
    assert above == usd(136_001 * 4 + 136_000 * 0.20 + 1_000 * 15)


async def test_the_answers_service_tier_else_the_requests() -> None:
    standard = await _cost(openai_answer(10_000, 1_000), chat("sol"))
    assert standard == usd(10_000 * 2 + 1_000 * 10)
    assert await _cost(openai_answer(10_000, 1_000, tier="priority"), chat("sol")) == 2 * standard
    # the request asked for flex and the answer does not say: the request's tier
    assert await _cost(openai_answer(10_000, 1_000), chat("sol", service_tier="flex")) == standard / 2
    # the request asked for priority but was served on the default tier: billed as served
    assert (
        await _cost(openai_answer(10_000, 1_000, tier="default"), chat("sol", service_tier="priority"))
        == standard
    )


async def test_anthropic_one_hour_cache_writes_cost_their_own_price() -> None:
    usage = {
        "input_tokens": 1_000,
        "cache_read_input_tokens": 4_000,
        "cache_creation_input_tokens": 3_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 1_000, "ephemeral_1h_input_tokens": 2_000},
        "output_tokens": 500,
    }
    message = {"model": "opus", "max_tokens": 600, "messages": [{"role": "user", "content": "hi"}]}
    cost = await _cost(anthropic_answer(usage), message, "/v1/messages")  # passed through to Anthropic
    # Opus 5.5: $4 in, $0.20 cache read, $5 5-minute write, $8 1-hour write, $20 out
    assert cost == usd(1_000 * 4 + 4_000 * 0.20 + 1_000 * 5 + 2_000 * 8 + 500 * 20)


@pytest.mark.parametrize(("fresh", "rates"), [(40_000, (0.10, 0.01, 0.50)), (40_001, (0.50, 0.05, 2.50))])
async def test_haiku_5_5_band_counts_cache_reads_towards_100k(fresh: int, rates: tuple[float, ...]) -> None:
    usage = {"input_tokens": fresh, "cache_read_input_tokens": 60_000, "output_tokens": 1_000}
    message = {"model": "haiku", "max_tokens": 1_000, "messages": [{"role": "user", "content": "hi"}]}
    prompt, read, out = rates
    assert await _cost(anthropic_answer(usage), message, "/v1/messages") == usd(
        fresh * prompt + 60_000 * read + 1_000 * out
    )


async def test_a_budget_reserves_a_long_prompt_at_its_bands_rates() -> None:
    store = MemoryStore()
    key, _ = await keys.create_key(store, tenant="acme", name="ci", budget_nano_usd_per_day=NANO // 20)
    calls: list[int] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        calls.append(len(request.content))
        return json_response(200, anthropic_answer({"input_tokens": 10, "output_tokens": 10}))

    app = build_app(make_config({"models": MODELS}, providers=PROVIDERS), upstream, store=store)

    def message(chars: int) -> bytes:
        body = {"model": "haiku", "max_tokens": 1_000, "messages": [{"role": "user", "content": "x" * chars}]}
        return orjson.dumps(body)

    async with client_for(app) as client:
        # ~90,000 prompt tokens: below 100K, worst case ~$0.019 fits a $0.05 budget
        short = await client.post("/v1/messages", content=message(360_000), headers={"x-api-key": key})
        # ~105,000 prompt tokens: the 5x band, worst case ~$0.11 does not
        long = await client.post("/v1/messages", content=message(420_000), headers={"x-api-key": key})
    assert short.status_code == 200 and long.status_code == 429 and len(calls) == 1
    assert "USD per day ($0.05)" in long.json()["error"]["message"]
