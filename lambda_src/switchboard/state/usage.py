"""Usage accounting: every request is counted once, after its response has been sent.

Per key, per UTC day, public model and serving target, one store item accumulates requests,
errors, cache hits, prompt / completion / cache-read / cache-write tokens and cost (nano-USD, from the shipped
price table with `[prices]` over it, see `state/prices.py`) with atomic adds, so concurrent
instances never lose or double a count:
`pk = USAGE#<key_id>`, `sk = <YYYY-MM-DD>#@<region>#<model>#<provider>/<upstream model>`. Each
region writes its own items: a DynamoDB global table resolves concurrent writes to one item last
writer wins, which would drop the other regions' increments; readers (`usage_report`, hence
`switchboard usage`) sum the regions (items written before regions were recorded have no `@`
segment and are summed too). A cache hit counts
as a request and a hit, with no tokens (the provider was not called). Counts are summed in memory
and written in the background `flush_interval_s` after they arrive (counts recorded while a write is
in flight are written right after it, without waiting for another request); a failing store is
retried with jittered backoff, then the sums are spilled to a local JSON-lines file and replayed by
the next successful write (or by `switchboard usage`), so a store hiccup loses nothing.

Exactly once: every batch has a token and each aggregate is written with `Store.add_once`, so a
retry after a lost answer, a replay of a line that had in fact been written, or a replay finished
after a crash (a claimed file whose process died is taken over) cannot count twice, within the
store's `ONCE_TTL_S` (1 day). A line torn by a crash mid-append is skipped with a warning; shutdown
(`drain`) writes or spills everything, a batch caught mid-write included. (A process killed between
two flushes loses up to one interval of counts: the price of keeping writes off the request path.)
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import random
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from switchboard.config import Price
from switchboard.errors import StoreError
from switchboard.state.prices import PriceTable
from switchboard.state.prices import cost_nano_usd as cost_nano_usd
from switchboard.state.store.base import Store
from switchboard.values import Usage

log = logging.getLogger("switchboard.usage")
RETRIES = 3
COUNTERS = (
    "requests",
    "errors",
    "cache_hits",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "unpriced",
    "cost_nano_usd",
)
"""Per key, day, model and target. `unpriced` counts answers from a target nobody priced: their
cost is unknown and not in `cost_nano_usd` (the report marks such rows). The cost stays last."""


@dataclass(slots=True)
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
    cache_write_tokens: int = 0
    """Prompt tokens written to the provider's cache (part of `prompt_tokens`)."""
    cost_nano_usd: int | None = None
    """The cost when the caller already knows it (None: priced here from the tokens)."""


class UsageRecorder:
    """Aggregates events in memory per key, day and model, and writes the sums every
    `flush_interval_s` (one atomic `add` per aggregate), so the per-request cost is a dict update.

    Each flushed batch carries a token (`<recorder id>.<batch number>`) and every aggregate is
    written with `Store.add_once`, so retrying a write whose answer was lost, or replaying a spilled
    line that had in fact been applied, never counts it twice."""

    def __init__(
        self,
        store: Store,
        spill_path: str | None = None,
        sleep: Any = asyncio.sleep,
        flush_interval_s: float = 1.0,
        prices: PriceTable | Mapping[str, Price] | None = None,
        region: str = "local",
    ) -> None:
        self._store = store
        self._region = region
        self._prices = prices if isinstance(prices, PriceTable) else PriceTable(prices)
        self._spill = Path(
            spill_path or os.environ.get("SWITCHBOARD_USAGE_SPILL") or ".switchboard/usage-spill.jsonl"
        )
        self._sleep = sleep
        self._interval = flush_interval_s
        self._pending: dict[tuple[str, str], dict[str, int]] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._day_number = -1
        self._day = ""
        self._writer = secrets.token_hex(8)
        self._batches = 0
        self._store_ok: bool | None = None
        """Whether the last write reached the store (None: none tried yet)."""
        self._claims: set[Path] = set()
        self._orphans_checked = False

    def record(self, event: UsageEvent) -> None:
        """Count one request (never awaited by it). A dictionary update: a few microseconds."""
        prompt, completion, cached = event.prompt_tokens, event.completion_tokens, event.cached_tokens
        written = event.cache_write_tokens
        day_number = int(event.at // 86_400)
        if day_number != self._day_number:
            self._day_number = day_number
            self._day = datetime.datetime.fromtimestamp(event.at, datetime.UTC).strftime("%Y-%m-%d")
        target = f"{event.provider or '-'}/{event.upstream_model or '-'}"
        key = (f"USAGE#{event.key_id}", usage_sort_key(self._day, self._region, event.model, target))
        totals = self._pending.get(key)
        if totals is None:
            totals = self._pending[key] = dict.fromkeys(COUNTERS, 0)
        totals["requests"] += 1
        totals["errors"] += event.status >= 400
        totals["cache_hits"] += event.cache_hit
        totals["prompt_tokens"] += prompt
        totals["completion_tokens"] += completion
        totals["cached_tokens"] += cached
        totals["cache_write_tokens"] += written
        if event.cost_nano_usd is not None:
            totals["cost_nano_usd"] += event.cost_nano_usd
        elif (prompt or completion) and event.provider and event.upstream_model:
            usage = Usage(prompt, completion, cached, written)
            cost = self._prices.cost(event.provider, event.upstream_model, usage)
            if cost is None:
                totals["unpriced"] += 1
            else:
                totals["cost_nano_usd"] += cost
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        """Flush `flush_interval_s` after the first pending count, and again as long as counts
        arrive while a write is in flight: a quiet gateway has written everything within an
        interval of the last write ending (no later request is needed to trigger it)."""
        try:
            while self._pending:
                await asyncio.sleep(self._interval)
                await self.flush()
        finally:
            if self._flusher is asyncio.current_task():
                self._flusher = None

    async def flush(self) -> None:
        """Write what is pending, one batch (spilling what the store refuses); then replay the spill
        if anything was written. Cancelled mid-write, it spills the rest of its batch, the write in
        flight included (its token makes a later replay safe whether or not it landed)."""
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        self._batches += 1
        token = f"{self._writer}.{self._batches}"
        entries = [_Entry(pk, sk, counters, token) for (pk, sk), counters in batch.items()]
        wrote = False
        done = 0
        try:
            for entry in entries:
                if await self._add(entry):
                    wrote = True
                else:
                    self._append([entry])
                done += 1
        except BaseException:
            self._append(entries[done:])
            raise
        if wrote:
            await self.replay()

    async def _add(self, entry: _Entry) -> bool:
        """Write one aggregate (retried with jittered backoff); False when the store kept failing."""
        for attempt in range(RETRIES):
            try:
                if entry.token is None:  # a line spilled before batches had tokens
                    await self._store.add(entry.pk, entry.sk, entry.counters)
                else:  # False (already applied) is as good as written
                    await self._store.add_once(entry.pk, entry.sk, entry.counters, entry.token)
                self._store_ok = True
                return True
            except StoreError:
                if attempt + 1 < RETRIES:
                    await self._sleep(random.random() * 0.05 * (2**attempt))
        self._store_ok = False
        return False

    def _append(self, entries: list[_Entry]) -> None:
        if not entries:
            return
        lines = b"".join(
            orjson.dumps({"pk": e.pk, "sk": e.sk, "counters": e.counters, "token": e.token}) + b"\n"
            for e in entries
        )
        try:
            self._spill.parent.mkdir(parents=True, exist_ok=True)
            with self._spill.open("a+b") as fh:
                if fh.seek(0, os.SEEK_END) > 0:
                    fh.seek(-1, os.SEEK_END)
                    if fh.read(1) != b"\n":  # a torn last line: start ours on a line of its own
                        lines = b"\n" + lines
                fh.write(lines)
            log.warning("usage store unavailable: counts spilled to %s", self._spill)
        except OSError:
            log.error("usage counts lost: store and spill file both unavailable")

    async def replay(self) -> int:
        """Write spilled counts back to the store; returns how many aggregates were replayed. Each
        line is applied at most once (its batch token), so a replay cut short by a crash is simply
        finished by a later one: files left claimed by a process that died are taken over. Lines a
        crash tore are skipped with a warning. Stops at the first line the store still refuses
        (the rest goes back to the spill file)."""
        replayed = 0
        for claimed in self._claim():
            entries = self._read(claimed)
            done = 0
            try:
                for entry in entries:
                    if not await self._add(entry):
                        self._append([*entries[done + 1 :], entry])  # a refused line rotates last
                        break
                    done += 1
            except BaseException:
                self._append(entries[done:])
                raise
            finally:
                claimed.unlink(missing_ok=True)
                self._claims.discard(claimed)
            replayed += done
        return replayed

    def _claim(self) -> list[Path]:
        """Rename the spill file (and any orphaned claims) to names of our own: one replayer each."""
        found = [self._spill] if self._spill.exists() else []
        if found or not self._orphans_checked:
            self._orphans_checked = True
            prefix = self._spill.stem + ".replaying-"
            with contextlib.suppress(OSError):
                found += [
                    p for p in self._spill.parent.iterdir() if p.name.startswith(prefix) and self._orphaned(p)
                ]
        claims = []
        for path in found:
            claimed = self._spill.with_suffix(f".replaying-{os.getpid()}-{secrets.token_hex(4)}")
            try:
                path.rename(claimed)
            except OSError:
                continue  # another replayer was first
            self._claims.add(claimed)
            claims.append(claimed)
        return claims

    def _orphaned(self, path: Path) -> bool:
        """A claimed file whose replayer is gone (a process that died, or an earlier life of ours)."""
        if path in self._claims:
            return False
        try:
            pid = int(path.name.rpartition(".replaying-")[2].split("-")[0])
        except ValueError:
            return False
        if pid == os.getpid():
            return True
        if os.name == "nt":  # os.kill(pid, 0) would terminate it there
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False
        return False

    def _read(self, claimed: Path) -> list[_Entry]:
        try:
            lines = claimed.read_bytes().splitlines()
        except OSError:
            log.error("usage spill %s unreadable: left for a later replay", claimed)
            return []
        entries, torn = [], 0
        for line in lines:
            entry = _Entry.parse(line)
            if entry is not None:
                entries.append(entry)
            elif line.strip():
                torn += 1
        if torn:
            log.warning("usage spill %s: skipped %d unreadable line(s) (torn by a crash?)", claimed, torn)
        return entries

    async def drain(self) -> None:
        """Write everything pending now (shutdown, tests). A flush in flight is cancelled: it spills
        the rest of its batch, which is then written with what is pending (or stays spilled if the
        store is down)."""
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        await self.flush()
        if self._store_ok is not False:
            await self.replay()


@dataclass(frozen=True, slots=True)
class _Entry:
    """One aggregate on its way to the store (or in the spill file)."""

    pk: str
    sk: str
    counters: dict[str, int]
    token: str | None

    @classmethod
    def parse(cls, line: bytes) -> _Entry | None:
        """A spill line, or None when it is not one (torn by a crash mid-write)."""
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict):
            return None
        pk, sk, counters, token = data.get("pk"), data.get("sk"), data.get("counters"), data.get("token")
        if not (isinstance(pk, str) and isinstance(sk, str) and isinstance(counters, dict)):
            return None
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in counters.values()):
            return None
        if token is not None and not isinstance(token, str):
            return None
        return cls(pk, sk, counters, token)


REGION_MARK = "@"


def usage_sort_key(day: str, region: str, model: str, target: str) -> str:
    """The sort key of one region's usage item (the module docstring)."""
    return f"{day}#{REGION_MARK}{region}#{model}#{target}"


def parse_sort_key(sk: str) -> tuple[str, str | None, str, str]:
    """(day, region or None for items written before regions were recorded, model, target)."""
    day, _, rest = sk.partition("#")
    region = None
    if rest.startswith(REGION_MARK):
        region, _, rest = rest[len(REGION_MARK) :].partition("#")
    model, _, target = rest.rpartition("#")
    return day, region, model, target


async def usage_report(store: Store, key_id: str, since: str | None = None) -> list[dict[str, Any]]:
    """Per day and model, the counters of one key (from `since`, a YYYY-MM-DD date, on), every
    region's items summed (exact however the regions' writes interleave: each item has one writer
    region)."""
    sums: dict[tuple[str, str, str], dict[str, int]] = {}
    for item in await store.query(f"USAGE#{key_id}"):
        day, _, model, target = parse_sort_key(str(item["sk"]))
        if since and day < since:
            continue
        summed = sums.setdefault((day, model, target), dict.fromkeys(COUNTERS, 0))
        for name in COUNTERS:
            summed[name] += int(item.get(name, 0))
    rows = []
    for (day, model, target), counters in sorted(sums.items()):
        cost = counters.pop("cost_nano_usd") / 1e9
        row = {"day": day, "model": model, "target": target, **counters, "cost_usd": round(cost, 6)}
        if counters["unpriced"]:  # the cost of those answers is unknown: the sum is a lower bound
            row["note"] = f"{counters['unpriced']} unpriced: add {target} to [prices]"
        rows.append(row)
    return rows


def usage_totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The sums of `usage_report` rows (cost in USD, rounded to the micro-dollar like the rows)."""
    sums: dict[str, Any] = {name: sum(int(row[name]) for row in rows) for name in COUNTERS[:-1]}
    sums["cost_usd"] = round(sum(float(row["cost_usd"]) for row in rows), 6)
    return sums
