"""The store contract shared by every backend (see the package docstring)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol

Item = dict[str, Any]
RESERVED = frozenset({"pk", "sk", "expires_at"})


def now() -> float:
    return time.time()


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

    async def query(self, pk: str, sk_prefix: str = "") -> list[Item]:
        """Live items of one partition whose sort key starts with `sk_prefix`, in sort-key order."""
        ...

    async def scan_prefix(self, pk_prefix: str) -> list[Item]:
        """Live items whose partition key starts with `pk_prefix` (admin paths only: it scans)."""
        ...

    async def delete(self, pk: str, sk: str) -> None: ...

    async def close(self) -> None: ...
