"""A store wrapper that adds a fixed delay to every call: `[store] simulated_latency_ms`, to see on
one machine how the gateway behaves against a remote store (DynamoDB answers in a few ms). Used by
the benchmark; never needed in production."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from switchboard.store.base import Item, Store


class DelayedStore:
    def __init__(self, inner: Store, latency_s: float) -> None:
        self._inner = inner
        self._latency_s = latency_s
        self.calls = 0

    async def _wait(self) -> None:
        self.calls += 1
        await asyncio.sleep(self._latency_s)

    async def get(self, pk: str, sk: str) -> Item | None:
        await self._wait()
        return await self._inner.get(pk, sk)

    async def put(
        self,
        pk: str,
        sk: str,
        attributes: Mapping[str, Any],
        *,
        expires_at: int | None = None,
        if_absent: bool = False,
    ) -> bool:
        await self._wait()
        return await self._inner.put(pk, sk, attributes, expires_at=expires_at, if_absent=if_absent)

    async def update(self, pk: str, sk: str, attributes: Mapping[str, Any]) -> bool:
        await self._wait()
        return await self._inner.update(pk, sk, attributes)

    async def add(
        self, pk: str, sk: str, deltas: Mapping[str, int], *, expires_at: int | None = None
    ) -> dict[str, int]:
        await self._wait()
        return await self._inner.add(pk, sk, deltas, expires_at=expires_at)

    async def query(self, pk: str, sk_prefix: str = "") -> list[Item]:
        await self._wait()
        return await self._inner.query(pk, sk_prefix)

    async def scan_prefix(self, pk_prefix: str) -> list[Item]:
        await self._wait()
        return await self._inner.scan_prefix(pk_prefix)

    async def delete(self, pk: str, sk: str) -> None:
        await self._wait()
        await self._inner.delete(pk, sk)

    async def close(self) -> None:
        await self._inner.close()
