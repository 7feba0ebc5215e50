"""Per-minute aggregates of every request, kept in the store: what the console's time series read.

Each process sums its requests in memory per UTC minute (a few dict updates per request, nothing
awaited) and writes the sums every `flush_interval_s` (10 s; on Lambda right after the response,
as usage is) with `Store.add_once`: one item per minute and region,
`pk = MINUTES`, `sk = <YYYY-MM-DDTHH:MM>#<region>`, counters added atomically, so any number of
processes and regions add into the same items, and a write retried after an unknown outcome keeps
its batch token and cannot count twice (the usage discipline). Items expire after `KEEP_S` (8 days,
the longest console window is 7), so the table holds at most ~11,500 of them per region.

Counters: `n` requests, `e_client` / `e_gateway` / `e_provider` unsuccessful requests by cause
(`telemetry/recent.py`), `c_hit` / `c_miss` cache lookups, `f:<provider>` requests that needed a
fallback, by the provider that served them, and two latency histograms, `o<i>` (overhead) and
`u<i>` (upstream), in log-spaced buckets (x1.2 from 0.05 ms: p50/p95/p99 within ~10 %), which sum
across minutes, processes and regions exactly.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import logging
import math
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from switchboard.errors import StoreError
from switchboard.state.store.base import Store
from switchboard.telemetry.metrics import MetricsSink, RequestRecord
from switchboard.telemetry.recent import cause

log = logging.getLogger("switchboard.minutes")
PK = "MINUTES"
KEEP_S = 8 * 86_400
BASE_MS = 0.05
FACTOR = 1.2
BUCKETS = 90
"""Bucket i holds values up to BASE_MS * FACTOR**i ms (the last one: everything above ~650 s)."""
MAX_RETRY = 2_000
"""Aggregates kept for a retry while the store refuses them (beyond: the oldest are dropped)."""
_LOG_FACTOR = math.log(FACTOR)


def bucket(ms: float) -> int:
    if ms <= BASE_MS:
        return 0
    return min(BUCKETS - 1, math.ceil(math.log(ms / BASE_MS) / _LOG_FACTOR))


def bucket_ms(index: int) -> float:
    """The upper bound of a bucket (what a percentile in it is reported as)."""
    return BASE_MS * FACTOR**index


def minute_key(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M", time.gmtime(at))


@dataclass(slots=True)
class _Entry:
    sk: str
    counters: dict[str, int]
    token: str
    expires_at: int


class MinuteAggregator(MetricsSink):
    enabled = True

    def __init__(self, store: Store, region: str, flush_interval_s: float = 10.0) -> None:
        self._store = store
        self._region = region
        self._interval = flush_interval_s
        self._pending: dict[str, dict[str, int]] = {}
        self._retry: list[_Entry] = []
        self._flusher: asyncio.Task[None] | None = None
        self._writer = secrets.token_hex(8)
        self._batches = 0
        self._minute_start = -1
        self._minute = ""

    def record(self, record: RequestRecord) -> None:
        start = int(record.at // 60) * 60
        if start != self._minute_start:
            self._minute_start, self._minute = start, minute_key(start)
        totals = self._pending.get(self._minute)
        if totals is None:
            totals = self._pending[self._minute] = {"n": 0}
        totals["n"] += 1
        why = cause(record)
        if why is not None:
            name = "e_" + why
            totals[name] = totals.get(name, 0) + 1
        if record.cache != "bypass":
            name = "c_hit" if record.cache == "hit" else "c_miss"
            totals[name] = totals.get(name, 0) + 1
        if record.attempts > 1 and record.provider:
            name = "f:" + record.provider
            totals[name] = totals.get(name, 0) + 1
        name = f"o{bucket(record.overhead_ms)}"
        totals[name] = totals.get(name, 0) + 1
        if record.upstream_ms > 0:
            name = f"u{bucket(record.upstream_ms)}"
            totals[name] = totals.get(name, 0) + 1
        if self._flusher is None:
            # without a running loop (a sync caller) the counts wait for the next flush
            with contextlib.suppress(RuntimeError):
                self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        try:
            while self._pending or self._retry:
                await asyncio.sleep(self._interval)
                await self.flush()
                if self._retry and not self._pending:
                    break  # the store is refusing: try again with the next request's flush
        finally:
            if self._flusher is asyncio.current_task():
                self._flusher = None

    async def flush(self) -> None:
        """Write what is pending as one batch (one token), then anything kept for a retry."""
        batch, self._pending = self._pending, {}
        entries = self._retry
        self._retry = []
        if batch:
            self._batches += 1
            token = f"{self._writer}.{self._batches}"
            entries += [
                _Entry(f"{minute}#{self._region}", counters, token, _expiry(minute))
                for minute, counters in batch.items()
            ]
        for index, entry in enumerate(entries):
            try:
                await self._store.add_once(
                    PK, entry.sk, entry.counters, entry.token, expires_at=entry.expires_at
                )
            except StoreError:
                self._keep(entries[index:])
                log.warning("per-minute aggregates not written (store unavailable): kept for a retry")
                return
            except BaseException:
                self._keep(entries[index:])
                raise

    def _keep(self, entries: list[_Entry]) -> None:
        self._retry = (entries + self._retry)[-MAX_RETRY:]

    async def drain(self) -> None:
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        await self.flush()


def _expiry(minute: str) -> int:
    return calendar.timegm(time.strptime(minute, "%Y-%m-%dT%H:%M")) + KEEP_S


# --------------------------------------------------------------------------- reading


async def read_minutes(store: Store, since: float, until: float) -> list[dict[str, Any]]:
    """The stored items of the minutes in [since, until], every region."""
    days = sorted({time.strftime("%Y-%m-%d", time.gmtime(t)) for t in _day_steps(since, until)})
    first, last = minute_key(since), minute_key(until)
    items: list[dict[str, Any]] = []
    for day in days:
        for item in await store.query(PK, day + "T"):
            minute = str(item["sk"]).partition("#")[0]
            if first <= minute <= last:
                items.append(item)
    return items


def _day_steps(since: float, until: float) -> Iterable[float]:
    at = since
    while at < until:
        yield at
        at += 86_400
    yield until


def percentile(histogram: Mapping[int, int], q: float) -> float | None:
    total = sum(histogram.values())
    if not total:
        return None
    rank = q * total
    seen = 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return round(bucket_ms(index), 3)
    return round(bucket_ms(max(histogram)), 3)


def series(items: Iterable[Mapping[str, Any]], since: float, until: float, step_s: int) -> dict[str, Any]:
    """Time series over [since, until] in steps of `step_s`: requests per minute, overhead and
    upstream p50/p95/p99, error rate by cause, cache hit rate, fallbacks per provider (one point per
    step; steps without traffic are null, so the chart shows a gap)."""
    start = int(since // step_s) * step_s
    count = int((until - start) // step_s) + 1
    sums: list[dict[str, int]] = [{} for _ in range(count)]
    for item in items:
        minute = str(item["sk"]).partition("#")[0]
        at = calendar.timegm(time.strptime(minute, "%Y-%m-%dT%H:%M"))
        slot = int((at - start) // step_s)
        if not 0 <= slot < count:
            continue
        target = sums[slot]
        for name, value in item.items():
            if name in ("pk", "sk", "expires_at") or not isinstance(value, int | float):
                continue
            target[name] = target.get(name, 0) + int(value)
    minutes_per_step = step_s / 60
    out: dict[str, Any] = {
        "t": [start + i * step_s for i in range(count)],
        "step_s": step_s,
        "rpm": [],
        "requests": [],
        "overhead_p50": [],
        "overhead_p95": [],
        "overhead_p99": [],
        "upstream_p50": [],
        "upstream_p95": [],
        "upstream_p99": [],
        "error_client": [],
        "error_gateway": [],
        "error_provider": [],
        "cache_hit_rate": [],
    }
    fallbacks: dict[str, list[int]] = {}
    totals = {"requests": 0, "errors": 0, "cache_hits": 0, "cache_lookups": 0, "fallbacks": 0}
    for index, counters in enumerate(sums):
        n = counters.get("n", 0)
        out["requests"].append(n)
        out["rpm"].append(round(n / minutes_per_step, 3) if n else None)
        overhead = {int(k[1:]): v for k, v in counters.items() if k[0] == "o" and k[1:].isdigit()}
        upstream = {int(k[1:]): v for k, v in counters.items() if k[0] == "u" and k[1:].isdigit()}
        for q, label in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
            out["overhead_" + label].append(percentile(overhead, q))
            out["upstream_" + label].append(percentile(upstream, q))
        for why in ("client", "gateway", "provider"):
            errors = counters.get("e_" + why, 0)
            totals["errors"] += errors
            out["error_" + why].append(round(errors / n, 4) if n else None)
        hits, misses = counters.get("c_hit", 0), counters.get("c_miss", 0)
        out["cache_hit_rate"].append(round(hits / (hits + misses), 4) if hits + misses else None)
        totals["requests"] += n
        totals["cache_hits"] += hits
        totals["cache_lookups"] += hits + misses
        for name, value in counters.items():
            if name.startswith("f:"):
                fallbacks.setdefault(name[2:], [0] * count)[index] += value
                totals["fallbacks"] += value
    out["fallbacks"] = fallbacks
    out["totals"] = totals
    return out
