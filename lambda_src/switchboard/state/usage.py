"""Usage accounting: every request is counted once, after its response has been sent.

Per key, per UTC day, public model and serving target, one store item accumulates requests,
errors, cache hits, prompt / completion / cached tokens and cost (nano-USD, from the `[prices]`
table) with atomic `add`s, so concurrent instances never lose or double a count:
`pk = USAGE#<key_id>`, `sk = <YYYY-MM-DD>#<model>#<provider>/<upstream model>`. A cache hit counts
as a request and a hit, with no tokens (the provider was not called). Counts are summed in memory
and written once a second in the background; a failing store is retried with jittered backoff,
then the sums are spilled to a local JSON-lines file and replayed by the next successful write (or
by `switchboard usage`), so a store hiccup loses nothing. (A process killed between two flushes loses up
to one second of counts: the price of keeping writes off the request path.)
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from switchboard.config import Price
from switchboard.errors import StoreError
from switchboard.state.store.base import Store

log = logging.getLogger("switchboard.usage")
RETRIES = 3
COUNTERS = (
    "requests",
    "errors",
    "cache_hits",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_nano_usd",
)


@dataclass(frozen=True, slots=True)
class UsageEvent:
    key_id: str
    tenant: str
    model: str
    provider: str | None
    upstream_model: str | None
    status: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    at: float = 0.0
    cache_hit: bool = False


def tokens_from_usage(usage: Any) -> tuple[int, int, int]:
    if not isinstance(usage, dict):
        return 0, 0, 0
    details = usage.get("prompt_tokens_details") or {}
    return (
        int(usage.get("prompt_tokens") or 0),
        int(usage.get("completion_tokens") or 0),
        int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0,
    )


_TOKENS = {
    name: re.compile(rb'"' + name.encode() + rb'"\s*:\s*(\d+)')
    for name in ("prompt_tokens", "completion_tokens", "cached_tokens")
}


def tokens_from_body(content: bytes) -> tuple[int, int, int]:
    """Token counts of a chat completion's `usage` object, read without parsing the whole body (the
    answer can be large; `usage` comes last)."""
    start = content.rfind(b'"usage"')
    if start < 0:
        return 0, 0, 0
    found = [
        _TOKENS[name].search(content, start)
        for name in ("prompt_tokens", "completion_tokens", "cached_tokens")
    ]
    prompt, completion, cached = (int(m[1]) if m else 0 for m in found)
    return prompt, completion, cached


_TOTAL = re.compile(rb'"total_tokens"\s*:\s*(\d+)')


def total_tokens(content: bytes) -> int | None:
    """The provider-reported total of an answer (to settle a token reservation), read like
    `tokens_from_body`; None when the answer reports none."""
    start = content.rfind(b'"usage"')
    match = _TOTAL.search(content, start) if start >= 0 else None
    return int(match[1]) if match else None


class UsageRecorder:
    """Aggregates events in memory per key, day and model, and writes the sums every
    `flush_interval_s` (one atomic `add` per aggregate), so the per-request cost is a dict update."""

    def __init__(
        self,
        store: Store,
        spill_path: str | None = None,
        sleep: Any = asyncio.sleep,
        flush_interval_s: float = 1.0,
        prices: dict[str, Price] | None = None,
    ) -> None:
        self._store = store
        self._prices = prices or {}
        self._spill = Path(
            spill_path or os.environ.get("SWITCHBOARD_USAGE_SPILL") or ".switchboard/usage-spill.jsonl"
        )
        self._sleep = sleep
        self._interval = flush_interval_s
        self._pending: dict[tuple[str, str], dict[str, int]] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._day_number = -1
        self._day = ""

    def record(self, event: UsageEvent, body: bytes | None = None) -> None:
        """Count one request (never awaited by it); token counts come from `body` (a chat completion)
        when given. A dictionary update: a few microseconds."""
        if body is not None:
            prompt, completion, cached = tokens_from_body(body)
        else:
            prompt, completion, cached = event.prompt_tokens, event.completion_tokens, event.cached_tokens
        day_number = int(event.at // 86_400)
        if day_number != self._day_number:
            self._day_number = day_number
            self._day = datetime.datetime.fromtimestamp(event.at, datetime.UTC).strftime("%Y-%m-%d")
        target = f"{event.provider or '-'}/{event.upstream_model or '-'}"
        key = (f"USAGE#{event.key_id}", f"{self._day}#{event.model}#{target}")
        totals = self._pending.get(key)
        if totals is None:
            totals = self._pending[key] = dict.fromkeys(COUNTERS, 0)
        totals["requests"] += 1
        totals["errors"] += event.status >= 400
        totals["cache_hits"] += event.cache_hit
        totals["prompt_tokens"] += prompt
        totals["completion_tokens"] += completion
        totals["cached_tokens"] += cached
        if self._prices and (prompt or completion):
            price = self._prices.get(target) or self._prices.get(event.upstream_model or "")
            if price is not None:
                totals["cost_nano_usd"] += cost_nano_usd(price, prompt, completion, cached)
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        try:
            await asyncio.sleep(self._interval)
            await self.flush()
        finally:
            self._flusher = None

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        wrote = False
        for (pk, sk), counters in pending.items():
            if await self._add(pk, sk, counters):
                wrote = True
            else:
                self._append(pk, sk, counters)
        if wrote:
            await self.replay()

    async def _add(self, pk: str, sk: str, counters: dict[str, int]) -> bool:
        for attempt in range(RETRIES):
            try:
                await self._store.add(pk, sk, counters)
                return True
            except StoreError:
                await self._sleep(random.random() * 0.05 * (2**attempt))
        return False

    def _append(self, pk: str, sk: str, counters: dict[str, int]) -> None:
        try:
            self._spill.parent.mkdir(parents=True, exist_ok=True)
            with self._spill.open("ab") as fh:
                fh.write(orjson.dumps({"pk": pk, "sk": sk, "counters": counters}) + b"\n")
            log.warning("usage store unavailable: counts spilled to %s", self._spill)
        except OSError:
            log.error("usage counts lost: store and spill file both unavailable")

    async def replay(self) -> int:
        """Write spilled counts back to the store; returns how many aggregates were replayed."""
        if not self._spill.exists():
            return 0
        claimed = self._spill.with_suffix(f".replaying-{os.getpid()}")
        try:
            self._spill.rename(claimed)  # one replayer per spill file
        except OSError:
            return 0
        replayed = 0
        for line in claimed.read_bytes().splitlines():
            entry = orjson.loads(line)
            if await self._add(entry["pk"], entry["sk"], entry["counters"]):
                replayed += 1
            else:
                self._append(entry["pk"], entry["sk"], entry["counters"])
        claimed.unlink(missing_ok=True)
        return replayed

    async def drain(self) -> None:
        """Write everything pending now (shutdown, tests)."""
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        await self.flush()


def cost_nano_usd(price: Price, prompt: int, completion: int, cached: int) -> int:
    """Prices are USD per million tokens, i.e. micro-USD per token; cached prompt tokens (part of
    `prompt`) are charged at the cached price."""
    cached_price = price.prompt if price.cached is None else price.cached
    micro = (prompt - cached) * price.prompt + cached * cached_price + completion * price.completion
    return round(micro * 1000)


async def usage_report(store: Store, key_id: str, since: str | None = None) -> list[dict[str, Any]]:
    """Per day and model, the counters of one key (from `since`, a YYYY-MM-DD date, on)."""
    rows = []
    for item in await store.query(f"USAGE#{key_id}"):
        day, _, rest = str(item["sk"]).partition("#")
        model, _, target = rest.rpartition("#")
        if since and day < since:
            continue
        counters = {k: int(item.get(k, 0)) for k in COUNTERS}
        cost = counters.pop("cost_nano_usd") / 1e9
        rows.append({"day": day, "model": model, "target": target, **counters, "cost_usd": round(cost, 6)})
    return rows
