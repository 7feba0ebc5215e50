"""In-process store for tests and single-process experiments."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping
from typing import Any

from switchboard.state.store.base import ONCE_PREFIX, ONCE_TTL_S, Item, live, now, once_key

_PRUNE_EVERY = 1024


class MemoryStore:
    def __init__(self) -> None:
        self._items: dict[tuple[str, str], Item] = {}
        self._lock = asyncio.Lock()
        self._once_writes = 0

    def _live(self, pk: str, sk: str) -> Item | None:
        item = self._items.get((pk, sk))
        return item if live(item) else None

    async def get(self, pk: str, sk: str) -> Item | None:
        item = self._live(pk, sk)
        return copy.deepcopy(item) if item is not None else None

    async def put(
        self,
        pk: str,
        sk: str,
        attributes: Mapping[str, Any],
        *,
        expires_at: int | None = None,
        if_absent: bool = False,
    ) -> bool:
        async with self._lock:
            if if_absent and self._live(pk, sk) is not None:
                return False
            self._items[(pk, sk)] = {
                **copy.deepcopy(dict(attributes)),
                "pk": pk,
                "sk": sk,
                "expires_at": expires_at,
            }
            return True

    async def update(self, pk: str, sk: str, attributes: Mapping[str, Any]) -> bool:
        async with self._lock:
            item = self._live(pk, sk)
            if item is None:
                return False
            item.update(copy.deepcopy(dict(attributes)))
            return True

    async def add(
        self, pk: str, sk: str, deltas: Mapping[str, int], *, expires_at: int | None = None
    ) -> dict[str, int]:
        async with self._lock:
            return self._add(pk, sk, deltas, expires_at)

    def _add(self, pk: str, sk: str, deltas: Mapping[str, int], expires_at: int | None) -> dict[str, int]:
        item = self._live(pk, sk)
        if item is None:
            item = self._items[(pk, sk)] = {"pk": pk, "sk": sk, "expires_at": expires_at}
        for name, delta in deltas.items():
            item[name] = int(item.get(name, 0)) + int(delta)
        return {name: int(item[name]) for name in deltas}

    async def add_once(
        self,
        pk: str,
        sk: str,
        deltas: Mapping[str, int],
        token: str,
        *,
        expires_at: int | None = None,
    ) -> bool:
        marker = once_key(token, pk, sk)
        async with self._lock:
            if marker in self._items:  # present until pruned, expired or not (as in DynamoDB)
                return False
            self._add(pk, sk, deltas, expires_at)
            at = now()
            self._items[marker] = {"pk": marker[0], "sk": marker[1], "expires_at": int(at) + ONCE_TTL_S}
            self._once_writes += 1
            if self._once_writes % _PRUNE_EVERY == 0:
                self._prune_markers(at)
            return True

    def _prune_markers(self, at: float) -> None:
        for key in [k for k, v in self._items.items() if k[0].startswith(ONCE_PREFIX) and not live(v, at)]:
            del self._items[key]

    async def query(self, pk: str, sk_prefix: str = "") -> list[Item]:
        found = [
            copy.deepcopy(v)
            for (p, s), v in self._items.items()
            if p == pk and s.startswith(sk_prefix) and live(v)
        ]
        return sorted(found, key=lambda item: str(item["sk"]))

    async def scan_prefix(self, pk_prefix: str) -> list[Item]:
        found = [copy.deepcopy(v) for (p, _), v in self._items.items() if p.startswith(pk_prefix) and live(v)]
        return sorted(found, key=lambda item: (str(item["pk"]), str(item["sk"])))

    async def delete(self, pk: str, sk: str) -> None:
        async with self._lock:
            self._items.pop((pk, sk), None)

    async def close(self) -> None:
        return None
