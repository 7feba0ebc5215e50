"""Per-minute aggregates: what one request adds, exactly-once writes (a write whose outcome was lost
is retried with its batch token and cannot count twice), the bound on what is kept for a retry, and
the series and percentiles the overview reads."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest

from switchboard.admin import minutes
from switchboard.admin.minutes import MinuteAggregator, bucket, bucket_ms, percentile, read_minutes, series
from switchboard.errors import StoreError
from switchboard.state.store.memory import MemoryStore
from switchboard.telemetry.metrics import RequestRecord

pytestmark = pytest.mark.anyio
NOW = 1_796_600_000.0


def _record(**overrides: Any) -> RequestRecord:
    values: dict[str, Any] = {
        "route": "/v1/chat/completions",
        "status": 200,
        "model": "m",
        "provider": "p",
        "upstream_model": "x",
        "stream": False,
        "attempts": 1,
        "overhead_ms": 0.8,
        "upstream_ms": 120.0,
        "total_ms": 121.0,
        "ttft_ms": None,
        "request_id": "r",
        "outcome": "ok",
        "at": NOW,
    }
    return RequestRecord(**{**values, **overrides})


class LosesAnswers(MemoryStore):
    """Applies a write, then fails as if its answer had been lost (the first `failures` times)."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def add_once(
        self, pk: str, sk: str, deltas: Mapping[str, int], token: str, *, expires_at: int | None = None
    ) -> bool:
        applied = await super().add_once(pk, sk, deltas, token, expires_at=expires_at)
        if self.failures:
            self.failures -= 1
            raise StoreError("timed out")
        return applied


async def test_a_lost_answer_is_retried_with_its_token_and_counted_once() -> None:
    store = LosesAnswers(failures=1)
    aggregator = MinuteAggregator(store, "r1", flush_interval_s=3600)
    for _ in range(3):
        aggregator.record(_record())
    aggregator.record(_record(status=502, outcome="failed", attempts=2))
    aggregator.record(_record(status=400, outcome="refused", upstream_ms=0.0))
    await aggregator.flush()  # applied, but reported as failed: kept for a retry
    await aggregator.flush()  # the same token again: not applied twice
    items = await read_minutes(store, NOW - 60, NOW)
    assert len(items) == 1 and items[0]["sk"].endswith("#r1")
    item = items[0]
    assert (item["n"], item["e_provider"], item["e_client"], item["f:p"]) == (5, 1, 1, 1)
    assert item[f"o{bucket(0.8)}"] == 5 and item[f"u{bucket(120.0)}"] == 4
    assert item["expires_at"] == int(NOW // 60 * 60) + minutes.KEEP_S
    await aggregator.drain()


async def test_what_waits_for_a_retry_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(minutes, "MAX_RETRY", 3)
    store = LosesAnswers(failures=10**6)
    aggregator = MinuteAggregator(store, "r1", flush_interval_s=3600)
    for n in range(6):
        aggregator.record(_record(at=NOW + 60 * n))
        await aggregator.flush()
    assert len(aggregator._retry) == 3


def test_percentiles_come_from_the_histogram_within_a_bucket() -> None:
    values = [1.0] * 50 + [10.0] * 45 + [100.0] * 5
    histogram: dict[int, int] = {}
    for value in values:
        histogram[bucket(value)] = histogram.get(bucket(value), 0) + 1
    for q, exact in ((0.5, 1.0), (0.95, 10.0), (0.99, 100.0)):
        found = percentile(histogram, q)
        assert found is not None and exact <= found <= exact * minutes.FACTOR
    assert percentile({}, 0.5) is None
    assert bucket(0.0) == 0 and bucket(10**9) == minutes.BUCKETS - 1
    assert bucket_ms(bucket(3.3)) >= 3.3


def test_series_points_rates_and_gaps() -> None:
    start = int(NOW // 60) * 60
    items = [
        {
            "sk": f"{time.strftime('%Y-%m-%dT%H:%M', time.gmtime(start))}#r1",
            "n": 4,
            "e_gateway": 1,
            "c_hit": 1,
            "c_miss": 3,
            "o5": 4,
            "f:p": 2,
        },
        {"sk": f"{time.strftime('%Y-%m-%dT%H:%M', time.gmtime(start))}#r2", "n": 6, "o5": 6},
    ]
    found = series(items, start - 240, start, 60)
    assert len(found["t"]) == 5 and found["t"][-1] == start
    assert found["requests"] == [0, 0, 0, 0, 10] and found["rpm"][:4] == [None] * 4
    assert found["error_gateway"][-1] == 0.1 and found["cache_hit_rate"][-1] == 0.25
    assert found["fallbacks"] == {"p": [0, 0, 0, 0, 2]}
    assert found["totals"] == {
        "requests": 10,
        "errors": 1,
        "cache_hits": 1,
        "cache_lookups": 4,
        "fallbacks": 2,
    }
