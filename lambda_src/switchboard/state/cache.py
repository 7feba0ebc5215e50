"""The response cache: opt-in per request (`Cache-Control`) or per key, two tiers (in-process LRU,
then the shared store), never across tenants.

Policy (`policy()`, pure): `no-store` -> bypass; `no-cache` or `max-age=0` -> refresh (no lookup, the
fresh answer is stored); `max-age=N` -> serve an entry at most N s old, else call the provider and
store the answer for N s; no header -> the key's default TTL, if it has one (else bypass). TTLs are
capped by `[cache] max_ttl_s`.

Key (`cache_key()`, pure): SHA-256 over the tenant, the endpoint, the stream flag and the client's
whole request body normalised (keys sorted, no whitespace), so every field that can change the
answer is in it and none is forgotten by an allow-list.

Entries (`Entry`) are what the client received: a JSON body, or a stream's body messages with their
boundaries and the position of the timing comment (a fresh one is written on replay). Only complete,
successful answers are stored (streams after their final event). Store items are zlib-compressed;
an entry whose encoding exceeds `max_item_bytes` (DynamoDB's 400 KB item limit) stays in the local
tier only and is counted (`CacheTooLarge` metric). A failing store never fails a request: lookups
degrade to `bypass`, writes are dropped with a warning.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from switchboard.config import CacheSettings
from switchboard.errors import InvalidRequest, StoreError
from switchboard.state.store.base import Store

log = logging.getLogger("switchboard.cache")
SK = "V1"
_TIMING_RE = re.compile(rb": switchboard-timing [^\n]*\n\n")

HIT, MISS, BYPASS, REFRESH = b"hit", b"miss", b"bypass", b"refresh"


@dataclass(frozen=True, slots=True)
class Policy:
    lookup: bool
    """Serve a stored answer if there is one young enough."""
    max_age_s: int | None
    """Oldest acceptable entry (None: any live entry)."""
    ttl_s: int
    """Store the fresh answer for this long."""


def policy(
    cache_control: bytes | None, key_default_ttl: int | None, settings: CacheSettings
) -> Policy | None:
    """What this request asked of the cache; None means bypass it entirely."""
    if not settings.enabled:
        return None
    if cache_control is None:
        if not key_default_ttl:
            return None
        ttl = min(key_default_ttl, settings.max_ttl_s)
        return Policy(lookup=True, max_age_s=None, ttl_s=ttl)
    no_cache = False
    max_age: int | None = None
    for part in cache_control.decode("latin-1").lower().split(","):
        name, _, value = part.strip().partition("=")
        if name == "no-store":
            return None
        if name == "no-cache":
            no_cache = True
        elif name == "max-age":
            value = value.strip().strip('"')
            if not value.isdigit() or len(value) > 10:
                raise InvalidRequest(
                    "Cache-Control max-age must be a non-negative integer number of seconds",
                    code="invalid_cache_control",
                )
            max_age = int(value)
    default = min(key_default_ttl or settings.default_ttl_s, settings.max_ttl_s)
    if no_cache or max_age == 0:
        return Policy(lookup=False, max_age_s=None, ttl_s=default)
    if max_age is None:  # only directives we do not act on (e.g. `private`)
        return Policy(lookup=True, max_age_s=None, ttl_s=default) if key_default_ttl else None
    return Policy(lookup=True, max_age_s=max_age, ttl_s=min(max_age, settings.max_ttl_s))


def cache_key(tenant: str, route: str, stream: bool, raw_body: bytes) -> str:
    """Hex digest naming the entry. The body is the client's, parsed and re-serialised with sorted
    keys, so formatting does not matter and every field does."""
    normalised = orjson.dumps(orjson.loads(raw_body), option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256()
    for part in (tenant.encode(), route.encode(), b"1" if stream else b"0"):
        digest.update(len(part).to_bytes(4, "big") + part)
    digest.update(normalised)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Entry:
    provider: str
    model: str
    stream: bool
    chunks: tuple[bytes, ...]
    """The body as sent: one element for JSON, one per body message for a stream."""
    created: float
    expires: float
    timing_at: tuple[int, int] | None = None
    """(chunk index, offset) where the stream's timing comment stood."""

    @property
    def size(self) -> int:
        return sum(len(c) for c in self.chunks) + 256

    def encode(self) -> bytes:
        head = {
            "provider": self.provider,
            "model": self.model,
            "stream": self.stream,
            "sizes": [len(c) for c in self.chunks],
            "created": self.created,
            "expires": self.expires,
            "timing_at": self.timing_at,
        }
        return zlib.compress(orjson.dumps(head) + b"\n" + b"".join(self.chunks), 6)

    @classmethod
    def decode(cls, blob: bytes) -> Entry:
        head_raw, _, data = zlib.decompress(blob).partition(b"\n")
        head = orjson.loads(head_raw)
        chunks, offset = [], 0
        for size in head["sizes"]:
            chunks.append(data[offset : offset + size])
            offset += size
        timing_at = head.get("timing_at")
        return cls(
            provider=head["provider"],
            model=head["model"],
            stream=head["stream"],
            chunks=tuple(chunks),
            created=head["created"],
            expires=head["expires"],
            timing_at=tuple(timing_at) if timing_at else None,
        )

    @classmethod
    def from_stream(
        cls, provider: str, model: str, messages: list[bytes], created: float, ttl_s: int
    ) -> Entry:
        """A stream's body messages with the timing comment cut out (its place remembered)."""
        chunks = list(messages)
        timing_at = None
        for index in range(len(chunks) - 1, -1, -1):
            match = _TIMING_RE.search(chunks[index])
            if match:
                timing_at = (index, match.start())
                chunks[index] = chunks[index][: match.start()] + chunks[index][match.end() :]
                break
        return cls(provider, model, True, tuple(chunks), created, created + ttl_s, timing_at)

    def replay(self, timing_comment: bytes) -> list[bytes]:
        """The stream's body messages with a fresh timing comment where the old one was."""
        chunks = list(self.chunks)
        if self.timing_at is not None:
            index, offset = self.timing_at
            chunks[index] = chunks[index][:offset] + timing_comment + chunks[index][offset:]
        return chunks


class ResponseCache:
    def __init__(self, store: Store, settings: CacheSettings, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self.settings = settings
        self._clock = clock
        self._memory: OrderedDict[str, Entry] = OrderedDict()
        self._bytes = 0
        self._writes: set[asyncio.Task[None]] = set()

    def _now(self) -> float:
        return self._clock()

    def policy(self, cache_control: bytes | None, key_default_ttl: int | None) -> Policy | None:
        """What this request asked of the cache (see `policy()`); None: bypass."""
        return policy(cache_control, key_default_ttl, self.settings)

    async def lookup(self, key: str, asked: Policy) -> tuple[Entry | None, bytes]:
        """(the entry to serve or None, the `x-switchboard-cache` state). A failing store never fails
        the request: the cache is bypassed (and nothing will be stored)."""
        if not asked.lookup:
            return None, REFRESH
        try:
            entry = await self.get(key, asked.max_age_s)
        except StoreError:
            log.warning("cache lookup failed: the store is unavailable (bypassed)")
            return None, BYPASS
        return entry, HIT if entry is not None else MISS

    def keep(self, key: str, provider: str, model: str, body: bytes | list[bytes], ttl_s: int) -> bool:
        """Store a complete answer: a JSON body, or a stream's body messages as the client got them.
        Returns False when it was too large for the store tier."""
        now = self._now()
        if isinstance(body, bytes):
            entry = Entry(provider, model, False, (body,), now, now + ttl_s)
        else:
            entry = Entry.from_stream(provider, model, body, now, ttl_s)
        return self.put(key, entry)

    async def get(self, key: str, max_age_s: int | None) -> Entry | None:
        """A live entry young enough for `max_age_s`, from memory, else the store. Raises StoreError
        when the store fails (the caller bypasses the cache)."""
        now = self._now()
        entry = self._memory.get(key)
        if entry is not None and entry.expires <= now:
            self._forget(key)
            entry = None
        if entry is None:
            item = await self._store.get(f"CACHE#{key}", SK)
            if item is None or not isinstance(item.get("blob"), str):
                return None
            try:
                entry = Entry.decode(base64.b64decode(item["blob"]))
            except (ValueError, zlib.error, KeyError, orjson.JSONDecodeError):
                log.warning("unreadable cache entry ignored")
                return None
            if entry.expires <= now:
                return None
            self._remember(key, entry)
        else:
            self._memory.move_to_end(key)
        if max_age_s is not None and now - entry.created > max_age_s:
            return None
        return entry

    def put(self, key: str, entry: Entry) -> bool:
        """Keep the entry locally and write it to the store in the background. Returns False when it
        was too large for the store (kept locally only)."""
        self._remember(key, entry)
        blob = base64.b64encode(entry.encode()).decode()
        if len(blob) > self.settings.max_item_bytes:
            return False
        task = asyncio.get_running_loop().create_task(self._write(key, blob, int(entry.expires) + 1))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return True

    async def _write(self, key: str, blob: str, expires_at: int) -> None:
        try:
            await self._store.put(f"CACHE#{key}", SK, {"blob": blob}, expires_at=expires_at)
        except StoreError:
            log.warning("cache entry not stored: the store is unavailable")

    async def drain(self) -> None:
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)

    def _remember(self, key: str, entry: Entry) -> None:
        if entry.size > self.settings.memory_bytes // 8:
            return
        self._forget(key)
        self._memory[key] = entry
        self._bytes += entry.size
        while len(self._memory) > self.settings.memory_entries or self._bytes > self.settings.memory_bytes:
            _, old = self._memory.popitem(last=False)
            self._bytes -= old.size

    def _forget(self, key: str) -> None:
        old = self._memory.pop(key, None)
        if old is not None:
            self._bytes -= old.size


__all__ = ["BYPASS", "HIT", "MISS", "REFRESH", "Entry", "Policy", "ResponseCache"]
