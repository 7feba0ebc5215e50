"""The store contract shared by every backend (see the package docstring)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Mapping
from typing import Any, Protocol, TypeVar

from switchboard.errors import StoreError

T = TypeVar("T")

Item = dict[str, Any]
ONCE_PREFIX = "ONCE#"
ONCE_TTL_S = 86_400
"""How long `add_once` remembers a token (at least: a marker counts until it is actually deleted)."""


def now() -> float:
    return time.time()


def once_key(token: str, pk: str, sk: str) -> tuple[str, str]:
    """The marker item recording that `token` was applied to item (`pk`, `sk`)."""
    return f"{ONCE_PREFIX}{token}", f"{pk}|{sk}"


async def bounded(call: Awaitable[T], timeout_s: float | None) -> T:
    """`call`, or `StoreError` once `timeout_s` has passed (`[store] timeout_ms`): a store that does
    not answer in time is a store fault like any other, so each caller's documented answer applies
    (503, or the degraded path). The backend's thread is abandoned, not killed: the backends bound
    their own I/O with the same figure (botocore timeouts, SQLite's busy timeout)."""
    if timeout_s is None:
        return await call
    try:
        async with asyncio.timeout(timeout_s):
            return await call
    except TimeoutError:
        raise StoreError(f"store call timed out after {timeout_s * 1000:.0f} ms") from None


def live(item: Mapping[str, Any] | None, at: float | None = None) -> bool:
    """Present and not expired (expiry is filtered on read everywhere)."""
    if item is None:
        return False
    expires = item.get("expires_at")
    return expires is None or float(expires) > (now() if at is None else at)


class Store(Protocol):
    async def get(self, pk: str, sk: str) -> Item | None:
        """The item's attributes (with `pk`, `sk`, `expires_at`), or None if absent or expired."""
        ...

    async def put(
        self,
        pk: str,
        sk: str,
        attributes: Mapping[str, Any],
        *,
        expires_at: int | None = None,
        if_absent: bool = False,
    ) -> bool:
        """Write the item whole. With `if_absent`, only when no live item exists; returns whether written."""
        ...

    async def update(self, pk: str, sk: str, attributes: Mapping[str, Any]) -> bool:
        """Set attributes of an existing live item; False when there is none."""
        ...

    async def add(
        self, pk: str, sk: str, deltas: Mapping[str, int], *, expires_at: int | None = None
    ) -> dict[str, int]:
        """Atomically add to integer counters (creating the item at 0), returning the new values. An
        expired item starts again from 0."""
        ...

    async def add_once(
        self,
        pk: str,
        sk: str,
        deltas: Mapping[str, int],
        token: str,
        *,
        expires_at: int | None = None,
    ) -> bool:
        """`add`, applied at most once per `token` and item: repeating a write whose outcome is
        unknown (a timeout after the store applied it, a cancelled call, a replayed spill) with the
        same token cannot count it twice. Atomic with a marker item (`once_key`, kept
        `ONCE_TTL_S`); returns False when the token had already been applied."""
        ...

    async def query(self, pk: str, sk_prefix: str = "") -> list[Item]:
        """Live items of one partition whose sort key starts with `sk_prefix`, in sort-key order."""
        ...

    async def scan_prefix(self, pk_prefix: str) -> list[Item]:
        """Live items whose partition key starts with `pk_prefix` (admin paths only: it scans)."""
        ...

    async def delete(self, pk: str, sk: str) -> None: ...

    async def close(self) -> None: ...
