"""Dollar budgets per key (per UTC day and calendar month): the worst case is reserved before the
call, the real cost settled after it; admitted spend never exceeds the budget, across processes
sharing a store and across regions."""

from __future__ import annotations

import asyncio
import datetime
import inspect
import random
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from support import (
    Replicator,
    build_app,
    chat,
    client_for,
    completion,
    error_response,
    json_response,
    make_config,
)
from switchboard.config import Price
from switchboard.errors import RateLimited
from switchboard.state import keys
from switchboard.state.keys import KeyRecord
from switchboard.state.ratelimit import KeyLimits, Limit, RateLimiter
from switchboard.state.store.memory import MemoryStore
from switchboard.state.usage import usage_report

pytestmark = pytest.mark.anyio
NANO = 1_000_000_000
CONFIG = {
    "models": {
        "opus": {"targets": ["a/claude-opus-4-1"]},  # $15 in / $75 out per million
        "mini": {"targets": ["a/gpt-4o-mini"]},
        "cheap-first": {"targets": ["a/gpt-4o-mini", "b/claude-opus-4-1"]},
    }
}


def answer(prompt: int, completion_tokens: int) -> dict:  # type: ignore[type-arg]
    body = completion()
    body["usage"] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
    }
    return body


def tomorrow() -> str:
    today = datetime.datetime.now(datetime.UTC).date()
    return f"{today + datetime.timedelta(days=1)}T00:00:00Z"


async def test_over_budget_is_a_429_naming_the_budget_and_its_reset() -> None:
    store = MemoryStore()
    key, _ = await keys.create_key(store, tenant="acme", name="ci", budget_nano_usd_per_day=NANO // 20)
    app = build_app(make_config(CONFIG), lambda r: json_response(200, answer(10, 10)), store=store)
    # GIVEN a $0.05 daily budget, WHEN a request's worst case is 1,000 opus output tokens ($0.075)
    async with client_for(app) as client:
        openai = await client.post(
            "/v1/chat/completions",
            json=chat("opus", max_tokens=1000),
            headers={"authorization": f"Bearer {key}"},
        )
        anthropic = await client.post(
            "/v1/messages",
            json={"model": "opus", "max_tokens": 1000, "messages": [{"role": "user", "content": "hi"}]},
            headers={"x-api-key": key},
        )
        small = await client.post(
            "/v1/chat/completions",
            json=chat("opus", max_tokens=100),
            headers={"authorization": f"Bearer {key}"},
        )
    # THEN it is refused in the caller's dialect, naming the budget and when it resets
    assert openai.status_code == 429 and 0 < int(openai.headers["retry-after"]) <= 86_400
    message = openai.json()["error"]["message"]
    assert "USD per day ($0.05)" in message and f"resets at {tomorrow()}" in message
    assert anthropic.status_code == 429 and anthropic.json()["type"] == "error"
    assert "USD per day" in anthropic.json()["error"]["message"]
    assert small.status_code == 200  # a request whose worst case fits is served


async def test_the_worst_case_is_priced_at_the_dearest_target_of_the_chain() -> None:
    store = MemoryStore()
    key, _ = await keys.create_key(store, tenant="acme", name="ci", budget_nano_usd_per_day=NANO // 20)
    app = build_app(make_config(CONFIG), lambda r: json_response(200, answer(10, 10)), store=store)
    headers = {"authorization": f"Bearer {key}"}
    async with client_for(app) as client:
        chained = await client.post(
            "/v1/chat/completions", json=chat("cheap-first", max_tokens=1000), headers=headers
        )
        cheap = await client.post("/v1/chat/completions", json=chat("mini", max_tokens=1000), headers=headers)
    # gpt-4o-mini would serve it, but the fallback (opus) could: 1,000 x $75 / M > $0.05
    assert chained.status_code == 429
    assert cheap.status_code == 200


async def test_settled_with_the_real_cost_and_nothing_on_failures() -> None:
    store = MemoryStore()
    key, record = await keys.create_key(store, tenant="acme", name="ci", budget_nano_usd_per_day=NANO // 5)
    answers = [error_response(400)] * 20 + [json_response(200, answer(100, 10))] * 40
    app = build_app(make_config(CONFIG), lambda r: answers.pop(0), store=store)
    headers = {"authorization": f"Bearer {key}"}
    statuses = []
    async with client_for(app) as client:
        for _ in range(60):
            response = await client.post(
                "/v1/chat/completions", json=chat("opus", max_tokens=1000), headers=headers
            )
            statuses.append(response.status_code)
    await app.aclose()
    # each reserves ~$0.075 ($0.20 holds 2 worst cases); failures give it all back, answers keep
    # their real cost ($0.00225): all 60 are admitted
    assert statuses.count(400) == 20 and statuses.count(200) == 40
    rows = await usage_report(store, record.key_id)
    assert sum(r["cost_usd"] for r in rows) == pytest.approx(40 * (100 * 15 + 10 * 75) / 1e6)


async def test_monthly_budgets_follow_the_calendar_month() -> None:
    month = Limit("usd_month", NANO, 32 * 86_400, monthly=True)
    at = datetime.datetime(2026, 12, 2, 7, 0, tzinfo=datetime.UTC).timestamp()
    window = month.window_of(at)
    assert month.window_end(window) == datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC).timestamp()
    assert month.window_of(datetime.datetime(2026, 12, 31, 23, 59, tzinfo=datetime.UTC).timestamp()) == window
    assert month.window_of(datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC).timestamp()) == window + 1
    # a month's spend is refused until the 1st, then admitted again
    now = [at]
    limiter = RateLimiter(MemoryStore(), clock=lambda: now[0])
    assert (await limiter.take("k", month, NANO)).allowed
    refused = await limiter.take("k", month, 1)
    assert not refused.allowed and refused.retry_after_s == pytest.approx(30 * 86_400 - 7 * 3600)
    now[0] = datetime.datetime(2027, 1, 1, 0, 0, 1, tzinfo=datetime.UTC).timestamp()
    assert (await limiter.take("k", month, NANO)).allowed


async def test_monthly_refusal_names_the_first_of_next_month() -> None:
    limits = KeyLimits(RateLimiter(MemoryStore()))
    key = KeyRecord("k", "t", "n", "hint", 0, budget_nano_usd_per_month=NANO // 100)
    with pytest.raises(RateLimited) as refused:
        await limits.admit(key, 400, 1000, Price(15.0, 75.0))
    today = datetime.datetime.now(datetime.UTC).date()
    first = datetime.date(today.year + today.month // 12, today.month % 12 + 1, 1)
    assert f"USD per month ($0.01); resets at {first}T00:00:00Z" in str(refused.value)


async def spend(limits: KeyLimits, key: KeyRecord, price: Price, rng: random.Random) -> tuple[int, int]:
    """One request: reserve the worst case, settle with a real cost of 30-100 % of it. Returns
    (admitted, spent nano-USD)."""
    try:
        reservation = await limits.admit(key, 400, 500, price)
    except RateLimited:
        return 0, 0
    assert reservation is not None
    real = int(reservation.nano_usd * rng.uniform(0.3, 1.0))
    limits.settle(reservation, 300, real)
    return 1, real


SCRIPT = (
    """
from __future__ import annotations
import asyncio, random, sys
from switchboard.config import Price
from switchboard.errors import RateLimited
from switchboard.state.keys import KeyRecord
from switchboard.state.ratelimit import KeyLimits, RateLimiter
from switchboard.state.store.sqlite import SQLiteStore
"""
    + inspect.getsource(spend)  # the same function in the subprocesses
    + """

async def main():
    store = SQLiteStore(sys.argv[1])
    limits = KeyLimits(RateLimiter(store))
    key = KeyRecord("k", "t", "n", "hint", 0, budget_nano_usd_per_day=int(sys.argv[2]))
    rng = random.Random(int(sys.argv[3]))
    admitted = spent = 0
    for _ in range(150):
        ok, cost = await spend(limits, key, Price(3.0, 15.0), rng)
        admitted, spent = admitted + ok, spent + cost
        await asyncio.sleep(0)
    await store.close()
    print(admitted, spent)

asyncio.run(main())
"""
)


def test_processes_sharing_sqlite_never_spend_past_the_budget(tmp_path: Path) -> None:
    budget = NANO // 2  # $0.50; a worst case is 100 x $3 + 500 x $15 per million = $0.0078
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(tmp_path / "budget.db"), str(budget), str(i)],
            stdout=subprocess.PIPE,
        )
        for i in range(3)
    ]
    results = [tuple(map(int, p.communicate(timeout=120)[0].split())) for p in procs]
    admitted, spent = sum(r[0] for r in results), sum(r[1] for r in results)
    print(f"3 processes: admitted {admitted} requests, spent {spent / NANO:.6f} of {budget / NANO:.2f} USD")
    assert spent <= budget
    # under-admission at most processes x lease (10 % of the budget) + one worst case each
    assert spent >= budget - 3 * (budget // 10 + 7_800_000)


async def test_two_regions_never_spend_past_the_budget() -> None:
    east, west = MemoryStore(), MemoryStore()
    replicator = Replicator(east, west)
    budget = NANO // 2
    key = KeyRecord("k", "t", "n", "hint", 0, budget_nano_usd_per_day=budget)
    limits = [
        KeyLimits(RateLimiter(east, region="us-east-1", regions=2)),
        KeyLimits(RateLimiter(west, region="eu-west-1", regions=2)),
    ]
    rng = random.Random(7)
    admitted = spent = 0
    for step in range(200):
        for region in limits:
            ok, cost = await spend(region, key, Price(3.0, 15.0), rng)
            admitted, spent = admitted + ok, spent + cost
        if step % 7 == 0:  # replication lag: a few steps between syncs
            replicator.sync()
    print(f"2 regions: admitted {admitted} requests, spent {spent / NANO:.6f} of {budget / NANO:.2f} USD")
    assert spent <= budget  # each region spends at most its half
    assert spent >= budget - 2 * (budget // 20 + 7_800_000)


async def test_concurrent_requests_through_the_gateway_stay_within_the_budget() -> None:
    store = MemoryStore()
    budget = NANO // 4
    key, record = await keys.create_key(store, tenant="acme", name="ci", budget_nano_usd_per_day=budget)

    def upstream(request: httpx.Request) -> httpx.Response:
        return json_response(200, answer(50, 1000))  # every answer uses its whole cap

    app = build_app(make_config(CONFIG), upstream, store=store)
    headers = {"authorization": f"Bearer {key}"}
    async with client_for(app) as client:
        responses = await asyncio.gather(
            *(
                client.post("/v1/chat/completions", json=chat("opus", max_tokens=1000), headers=headers)
                for _ in range(10)
            )
        )
    await app.aclose()
    served = sum(r.status_code == 200 for r in responses)
    rows = await usage_report(store, record.key_id)
    spent = sum(r["cost_usd"] for r in rows)
    assert served == 3 and all(r.status_code in (200, 429) for r in responses)  # $0.0757 each
    assert spent <= budget / NANO
