"""A store wrapper that adds a fixed delay to every call: `[store] simulated_latency_ms`, to see on
one machine how the gateway behaves against a remote store (DynamoDB answers in a few ms). Used by
the benchmark; never needed in production."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

from switchboard.state.store.base import Store


class DelayedStore:
    """Every `Store` method of the wrapped backend, each awaited after `latency_s`."""

    def __init__(self, inner: Store, latency_s: float) -> None:
        self._inner = inner
        self._latency_s = latency_s
        self.calls = 0

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self._inner, name)

        async def delayed(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            await asyncio.sleep(self._latency_s)
            return await method(*args, **kwargs)

        return delayed

    @classmethod
    def wrap(cls, inner: Store, latency_s: float) -> Store:
        return cast(Store, cls(inner, latency_s))
