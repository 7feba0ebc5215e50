"""The shared store behind keys, rate-limit counters, the response cache and usage accounting.

One small async interface (`base.Store`) over items addressed by a partition key and a sort key,
with an optional expiry (epoch seconds), and three backends, one file each: `memory` (tests),
`sqlite` (the embedded default for `switchboard serve`: a local WAL-mode file, driven from a worker
thread so the event loop never blocks) and `dynamodb` (production: the single table the CDK stack
creates - `pk`, `sk`, TTL on `expires_at` - with an injectable, lazily created boto3 client).
Expired items are filtered on every read: DynamoDB's TTL sweep is lazy. Every call of the sqlite and dynamodb
backends is bounded by `[store] timeout_ms` (`base.bounded`).
"""

from typing import Any

from switchboard.config import StoreSettings
from switchboard.errors import StoreError
from switchboard.state.store.base import Item, Store


def open_store(settings: StoreSettings, **kwargs: Any) -> Store:
    """The backend the configuration names (imported on demand: boto3 only for dynamodb)."""
    if settings.simulated_latency_ms:
        from dataclasses import replace

        from switchboard.state.store.latency import DelayedStore

        inner = open_store(replace(settings, simulated_latency_ms=0), **kwargs)
        return DelayedStore.wrap(inner, settings.simulated_latency_ms / 1000.0)
    if settings.backend == "memory":
        from switchboard.state.store.memory import MemoryStore

        return MemoryStore()
    if settings.backend == "sqlite":
        from switchboard.state.store.sqlite import SQLiteStore

        return SQLiteStore(settings.path, timeout_s=settings.timeout_s)
    if settings.backend == "dynamodb":
        from switchboard.state.store.dynamodb import DynamoDBStore

        if not settings.table:
            raise ValueError("store.table is required for the dynamodb backend")
        return DynamoDBStore(
            settings.table,
            region=settings.region,
            endpoint_url=settings.endpoint_url,
            timeout_s=settings.timeout_s,
            **kwargs,
        )
    raise ValueError(f"unknown store backend {settings.backend!r}")


__all__ = ["Item", "Store", "StoreError", "StoreSettings", "open_store"]
