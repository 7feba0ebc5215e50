"""Per-key limits under faults and odd inputs: never exceeded (reservations settle into the window
they were taken in; negative caps and usage cannot credit a key), never leaked (a store failure
returns the units already taken and answers 503), and bounded in memory however many keys pass."""

from __future__ import annotations

import time

import pytest

from switchboard.errors import RateLimited, StoreError, StoreUnavailable
from switchboard.state.keys import KeyRecord
from switchboard.state.ratelimit import KeyLimits, Limit, RateLimiter, estimate_tokens
from switchboard.state.store.memory import MemoryStore

pytestmark = pytest.mark.anyio


def key(key_id: str = "k", **limits: int) -> KeyRecord:
    return KeyRecord(key_id=key_id, tenant="acme", name="ci", hint="abcd", created_at=0, **limits)


def window_start() -> float:
    return time.time() // 60 * 60  # store expiry runs on real time: stay near it


async def test_a_reservation_settles_into_the_window_it_was_taken_in() -> None:
    """A stream admitted just before a minute boundary and settled after it must not refund its
    estimate into the new minute (that admitted 1,800 tokens against a 1,000 tokens-per-minute limit)."""
    now = [window_start() + 59.5]
    limits = KeyLimits(RateLimiter(MemoryStore(), clock=lambda: now[0]))
    tpm = key(tpm=1000)
    cap = 900
    crossing = await limits.admit(tpm, 0, cap)  # minute W
    now[0] += 1.0  # minute W + 1
    assert await limits.admit(tpm, 0, cap) is not None
    limits.settle(crossing, 0)  # the stream ends in W + 1: its refund belongs to W, which is over
    with pytest.raises(RateLimited):
        await limits.admit(tpm, 0, cap)
    # nor is the new minute charged for an old reservation that used more than its estimate
    now[0] += 60.0
    late = await limits.admit(tpm, 0, 100)
    now[0] += 60.0
    assert await limits.admit(tpm, 0, cap) is not None
    limits.settle(late, 5000)
    assert await limits.admit(tpm, 0, 100) is not None


async def test_settling_with_zero_returns_the_whole_estimate_to_its_window() -> None:
    """Failure paths settle with 0 (nothing delivered): the estimate goes back to every token limit."""
    now = [window_start() + 1.0]
    limits = KeyLimits(RateLimiter(MemoryStore(), clock=lambda: now[0]))
    record = key(tpm=1000, budget_tokens_per_day=1000)
    for _ in range(5):
        reservation = await limits.admit(record, 400, 800)  # 100 + 800 tokens
        assert reservation is not None and reservation.tokens == 900
        now[0] += 1.0
        limits.settle(reservation, 0)


async def test_store_failure_while_leasing_is_503_and_returns_units_already_taken() -> None:
    class TokensDown(MemoryStore):
        down = True

        async def add(self, pk, sk, deltas, *, expires_at=None):
            if self.down and pk.endswith("#tpm"):
                raise StoreError("dynamodb store failed: ThrottlingException")
            return await super().add(pk, sk, deltas, expires_at=expires_at)

    store = TokensDown()
    limits = KeyLimits(RateLimiter(store))
    record = key(rpm=2, tpm=100_000)
    with pytest.raises(StoreUnavailable):  # a gateway error (503), not a stack trace
        await limits.admit(record, 0, 10)
    store.down = False
    assert await limits.admit(record, 0, 10) is not None
    assert await limits.admit(record, 0, 10) is not None  # the failed request's unit
    with pytest.raises(RateLimited):
        await limits.admit(record, 0, 10)


def test_token_estimates_are_never_negative() -> None:
    for cap in (-10_000_000, 0, -1, 1.5, "100", True, None):
        assert estimate_tokens(400, cap) == 100 + 1024  # absent: the default answer
    assert estimate_tokens(400, 50) == 150
    assert estimate_tokens(-400, 10) >= 0


async def test_negative_caps_and_usage_cannot_credit_a_key() -> None:
    limits = KeyLimits(RateLimiter(MemoryStore()))
    record = key(tpm=3000)
    assert await limits.admit(record, 0, -10_000_000) is not None  # reserves 1024
    with pytest.raises(RateLimited):
        await limits.admit(record, 0, 2000)
    # settling refunds at most what was reserved, whatever the usage claims, and only once
    record = key("k2", tpm=1000)
    first = await limits.admit(record, 0, 400)
    second = await limits.admit(record, 0, 400)
    limits.settle(first, -10_000)
    limits.settle(first, 0)
    assert await limits.admit(record, 0, 400) is not None  # first's 400 came back
    with pytest.raises(RateLimited):  # and no more: second's 400 is still in use
        await limits.admit(record, 0, 400)
    assert second is not None


async def test_budgets_of_past_windows_are_dropped() -> None:
    now = [window_start() + 1.0]
    limiter = RateLimiter(MemoryStore(), clock=lambda: now[0])
    rpm = Limit("rpm", 10, 60)
    for minute in range(4):
        for i in range(3000):
            assert (await limiter.take(f"m{minute}-{i}", rpm)).allowed
        now[0] += 60.0
    assert len(limiter._budgets) <= 2 * 3000  # about one minute's keys, not all 12,000


async def test_budgets_stay_bounded_within_one_window_and_limits_still_hold() -> None:
    limiter = RateLimiter(MemoryStore(), max_tracked=500)
    rpm = Limit("rpm", 3, 60)
    for _ in range(3):
        assert (await limiter.take("hot", rpm)).allowed
    for i in range(5000):
        await limiter.take(f"k{i}", rpm)
    assert len(limiter._budgets) <= 500
    # an evicted budget is rebuilt from the store's counter: the limit still holds
    assert not (await limiter.take("hot", rpm)).allowed


async def test_key_limit_table_is_bounded() -> None:
    limits = KeyLimits(RateLimiter(MemoryStore()))
    for i in range(12_000):
        limits._of(key(f"k{i}", rpm=5))
    assert len(limits._limits) <= 10_001


async def test_a_store_failure_while_admitting_is_a_clean_503() -> None:
    from support import build_app, chat, client_for, completion, json_response, make_config
    from switchboard.state import keys

    class LimitsDown(MemoryStore):
        async def add(self, pk, sk, deltas, *, expires_at=None):
            if pk.startswith("RL#"):
                raise StoreError("dynamodb store failed: ThrottlingException")
            return await super().add(pk, sk, deltas, expires_at=expires_at)

    store = LimitsDown()
    secret, _ = await keys.create_key(store, tenant="acme", name="ci", rpm=5)
    app = build_app(make_config(), lambda request: json_response(200, completion()), store=store)
    async with client_for(app) as client:
        response = await client.post(
            "/v1/chat/completions", json=chat(), headers={"authorization": f"Bearer {secret}"}
        )
    await app.aclose()
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "store_unavailable"
    assert "Traceback" not in response.text and "Throttling" not in response.text
