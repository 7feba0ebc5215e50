"""Authentication of gateway API keys on the request path, without a store round-trip in steady state.

Keys arrive as `Authorization: Bearer sb-...` or `x-api-key: sb-...` (what the Anthropic SDK sends).
A validated key is cached in-process for `POSITIVE_TTL_S`, an unknown one for `NEGATIVE_TTL_S` (so a
flood of bad keys cannot become a flood of store lookups); the cache is bounded. Revocation
therefore takes effect within `POSITIVE_TTL_S` (plus replication lag across regions). Auth is on
whenever the store holds keys (a marker item written at key creation, re-read every
`MARKER_TTL_S`); with no keys the gateway runs open. A store failure fails closed (503).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from switchboard.errors import AuthUnavailable, Forbidden, StoreError, Unauthorized
from switchboard.state import keys
from switchboard.state.store.base import Store

POSITIVE_TTL_S = 60.0
NEGATIVE_TTL_S = 5.0
MARKER_TTL_S = 30.0
CACHE_SIZE = 10_000


def presented_key(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer" and token:
                return token.strip().decode("latin-1")
        elif name == b"x-api-key" and value:
            return value.strip().decode("latin-1")
    return None


class Authenticator:
    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._clock = clock
        self._cache: OrderedDict[str, tuple[keys.KeyRecord | None, float]] = OrderedDict()
        self._required: tuple[bool, float] = (False, 0.0)
        self.lookups = 0
        """Store lookups made (observable in tests: bad keys must not cause a lookup storm)."""

    async def required(self) -> bool:
        value, until = self._required
        if until > self._clock():
            return value
        try:
            value = await self._store.get(keys.MARKER_PK, keys.MARKER_SK) is not None
        except StoreError:
            raise AuthUnavailable("authentication is unavailable; try again") from None
        self._required = (value, self._clock() + MARKER_TTL_S)
        return value

    async def authenticate(self, token: str | None) -> keys.KeyRecord | None:
        """The caller's key record; None when the gateway runs open (then any presented key, such as
        the placeholder an SDK insists on, is ignored). Raises 401 / 503."""
        if not await self.required():
            return None
        if token is None:
            raise Unauthorized("missing API key: send 'Authorization: Bearer sb-...' or 'x-api-key'")
        digest = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
        now = self._clock()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            record = cached[0]
        else:
            if keys.well_formed(token):
                self.lookups += 1
                try:
                    record = await keys.lookup(self._store, token)
                except StoreError:
                    raise AuthUnavailable("authentication is unavailable; try again") from None
            else:
                record = None
            ttl = POSITIVE_TTL_S if record is not None else NEGATIVE_TTL_S
            self._cache[digest] = (record, now + ttl)
            self._cache.move_to_end(digest)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        if record is None:
            raise Unauthorized("invalid API key")
        if not record.usable():
            raise Unauthorized("this API key has been revoked or has expired", code="key_revoked")
        return record

    async def close(self) -> None:
        await self._store.close()

    @staticmethod
    def authorize(record: keys.KeyRecord | None, models: Iterable[str]) -> None:
        if record is None:
            return
        for model in models:
            if not record.allows(model):
                raise Forbidden(f"this API key may not use model {model[:100]!r}", param="model")
