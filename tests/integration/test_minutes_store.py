"""The per-minute aggregates on every store backend: two processes (two aggregators) in two regions
add into the same minutes exactly once, with counter names the backends must accept as attribute
names (`f:<provider>`, histogram buckets), and the overview's series reads them back."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from support import make_table
from switchboard.admin.minutes import MinuteAggregator, read_minutes, series
from switchboard.state.store import Store, StoreSettings, open_store
from switchboard.telemetry.metrics import RequestRecord

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
async def store(request: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Store]:
    if request.param == "dynamodb":
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.setenv(key, "testing")
        with mock_aws():
            make_table(boto3.client("dynamodb", region_name="us-east-1"))
            backend = open_store(
                StoreSettings(backend="dynamodb", table="switchboard-test", region="us-east-1")
            )
            yield backend
            await backend.close()
        return
    backend = open_store(StoreSettings(backend=request.param, path=str(tmp_path / "state.db")))
    yield backend
    await backend.close()


def _record(at: float, **overrides: Any) -> RequestRecord:
    values: dict[str, Any] = {
        "route": "/v1/chat/completions",
        "status": 200,
        "model": "m",
        "provider": "openai-prod",
        "upstream_model": "x",
        "stream": False,
        "attempts": 1,
        "overhead_ms": 0.9,
        "upstream_ms": 250.0,
        "total_ms": 251.0,
        "ttft_ms": None,
        "request_id": "r",
        "outcome": "ok",
        "at": at,
    }
    return RequestRecord(**{**values, **overrides})


async def test_two_regions_add_into_the_same_minutes(store: Store) -> None:
    now = time.time()
    minute = int(now // 60) * 60
    first, second = MinuteAggregator(store, "eu-west-1"), MinuteAggregator(store, "us-east-1")
    for n in range(4):
        first.record(_record(minute + n))
    first.record(_record(minute + 5, attempts=2, status=502, outcome="failed"))
    second.record(_record(minute + 7, cache="hit", upstream_ms=0.0))
    second.record(_record(minute - 60, status=429, outcome="refused"))
    await first.drain()
    await second.drain()
    await first.flush()  # nothing pending: writes nothing again
    items = await read_minutes(store, minute - 60, minute + 59)
    assert sorted(str(i["sk"]).partition("#")[2] for i in items) == ["eu-west-1", "us-east-1", "us-east-1"]
    found = series(items, minute - 60, minute, 60)
    assert found["requests"] == [1, 6]
    assert found["totals"] == {
        "requests": 7,
        "errors": 2,
        "cache_hits": 1,
        "cache_lookups": 1,
        "fallbacks": 1,
    }
    assert found["fallbacks"] == {"openai-prod": [0, 1]}
    assert found["error_client"][0] == 1.0 and found["error_provider"][1] == round(1 / 6, 4)
    assert found["upstream_p50"][1] is not None and found["overhead_p99"][1] is not None
