"""Authentication of gateway API keys on the request path, without a store round-trip in steady state.

Keys arrive as `Authorization: Bearer sb-...` or `x-api-key: sb-...` (what the Anthropic SDK sends).
A validated key is cached in-process for `POSITIVE_TTL_S`, an unknown well-formed one for
`NEGATIVE_TTL_S` (so a flood of bad keys cannot become a flood of store lookups). Malformed tokens are
rejected by their shape alone and never cached. Known and unknown keys live in two separate bounded
caches, so a flood of random keys cannot evict the valid ones. Revocation
therefore takes effect within `POSITIVE_TTL_S` (plus replication lag across regions).

Whether a key is required is configuration (`[gateway] auth`, $SWITCHBOARD_AUTH), never the
store's contents: `required` (the default) answers 401 to every request without a valid key, also
while no key exists; `open` serves callers without one. A store failure fails closed (503).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TypeVar

from switchboard.errors import AuthUnavailable, Forbidden, StoreError, Unauthorized
from switchboard.state import keys
from switchboard.state.store.base import Store

POSITIVE_TTL_S = 60.0
NEGATIVE_TTL_S = 5.0
ADMIN_TOKEN_PREFIX = "sba-"  # noqa: S105  # nosec B105  # a prefix, not a token
"""Admin tokens (`admin/tokens.py`) are refused on the model routes, never served anonymously."""
CACHE_SIZE = 10_000
"""Entries per cache (validated keys; unknown well-formed keys)."""
V = TypeVar("V")


def _remember(cache: OrderedDict[str, V], digest: str, value: V) -> None:
    """Insert as most recent; evict the least recent beyond `CACHE_SIZE`."""
    cache[digest] = value
    cache.move_to_end(digest)
    while len(cache) > CACHE_SIZE:
        cache.popitem(last=False)


class Authenticator:
    def __init__(
        self, store: Store, clock: Callable[[], float] = time.monotonic, *, required: bool = True
    ) -> None:
        self._store = store
        self.required = required
        self._clock = clock
        self._known: OrderedDict[str, tuple[keys.KeyRecord, float]] = OrderedDict()
        self._unknown: OrderedDict[str, float] = OrderedDict()
        self.lookups = 0
        """Store lookups made (observable in tests: bad keys must not cause a lookup storm)."""

    async def authenticate(self, token: str | None) -> keys.KeyRecord | None:
        """The caller's key record; None for an anonymous caller of an open gateway (no key, or a
        placeholder that is not shaped like a gateway key). Raises 401 / 503."""
        if token is None or not keys.well_formed(token):
            if token is not None and token.startswith(ADMIN_TOKEN_PREFIX):
                raise Forbidden("admin tokens cannot be used for model traffic", code="admin_token")
            if not self.required:
                return None
            if token is None:
                raise Unauthorized(
                    "missing API key: send 'Authorization: Bearer sb-...', 'x-api-key' or 'x-goog-api-key' "
                    "(an operator creates keys with `switchboard keys create`)"
                )
            raise Unauthorized("invalid API key")
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = self._clock()
        known = self._known.get(digest)
        record: keys.KeyRecord | None
        if known is not None and known[1] > now:
            record = known[0]
        elif self._unknown.get(digest, 0.0) > now:
            record = None
        else:
            self.lookups += 1
            try:
                record = await keys.lookup(self._store, token)
            except StoreError:
                raise AuthUnavailable("authentication is unavailable; try again") from None
            if record is not None:
                self._unknown.pop(digest, None)
                _remember(self._known, digest, (record, now + POSITIVE_TTL_S))
            else:
                self._known.pop(digest, None)
                _remember(self._unknown, digest, now + NEGATIVE_TTL_S)
        if record is None:
            raise Unauthorized("invalid API key")
        if not record.usable():
            raise Unauthorized("this API key has been revoked or has expired", code="key_revoked")
        return record

    def forget(self, key_id: str) -> None:
        """Drop a key from the cache (revoked or edited through the admin API in this process: it
        takes effect at once here, and within `POSITIVE_TTL_S` in other processes)."""
        for digest in [d for d, (record, _) in self._known.items() if record.key_id == key_id]:
            del self._known[digest]

    def cached(self) -> int:
        """Entries in both caches (each bounded by `CACHE_SIZE`)."""
        return len(self._known) + len(self._unknown)

    async def close(self) -> None:
        await self._store.close()

    @staticmethod
    def authorize(record: keys.KeyRecord | None, models: Iterable[str]) -> None:
        if record is None:
            return
        for model in models:
            if not record.allows(model):
                raise Forbidden(f"this API key may not use model {model[:100]!r}", param="model")
