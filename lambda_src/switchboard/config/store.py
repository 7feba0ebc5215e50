"""`[store]` and `[cache]`: where state lives and how answers are cached."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from switchboard.config.reading import (
    ConfigError,
    _check_keys,
    _get,
)
from switchboard.constants import (
    ENV_AWS_REGION,
    ENV_TABLE,
)


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """`[cache]`: the response cache (opt-in per request with `Cache-Control`, or per key)."""

    enabled: bool = True
    default_ttl_s: int = 300
    """TTL when a request says `no-cache` without `max-age`."""
    max_ttl_s: int = 86_400
    """Upper bound on any TTL (max-age or a key's default)."""
    memory_entries: int = 4096
    memory_bytes: int = 64 * 1024 * 1024
    max_item_bytes: int = 350_000
    """Largest encoded entry written to the store (DynamoDB items are capped at 400 KB)."""


@dataclass(frozen=True, slots=True)
class StoreSettings:
    backend: str = "sqlite"
    path: str = ".switchboard/state.db"
    table: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    simulated_latency_ms: int = 0
    """Delay added to every store call (benchmarks: a local file behaving like a remote store)."""
    timeout_ms: int = 5000
    """Longest wait for one store call; past it the call fails as a store fault (503 where the
    store is needed). The backends' own I/O timeouts (botocore connect/read, SQLite busy timeout)
    are set from it too. 0: unbounded (tests only)."""

    @property
    def timeout_s(self) -> float | None:
        return self.timeout_ms / 1000.0 if self.timeout_ms else None


def _residency(cache: CacheSettings, env: Mapping[str, str]) -> CacheSettings:
    """$SWITCHBOARD_CACHE=off (set by the CDK stacks for data residency) turns the response cache off."""
    return replace(cache, enabled=False) if env.get("SWITCHBOARD_CACHE") == "off" else cache


def _cache(raw: Mapping[str, Any]) -> CacheSettings:
    where = "cache"
    defaults = CacheSettings()
    names = set(CacheSettings.__slots__)
    _check_keys(raw, names, where)
    values = {
        name: _get(raw, name, bool if name == "enabled" else int, where, getattr(defaults, name))
        for name in names
    }
    settings = CacheSettings(**values)
    if settings.max_item_bytes > 390_000:
        raise ConfigError("cache.max_item_bytes: at most 390000 (DynamoDB's item limit is 400 KB)")
    if settings.default_ttl_s > settings.max_ttl_s:
        raise ConfigError("cache.default_ttl_s: must not exceed cache.max_ttl_s")
    return settings


def _store(raw: Mapping[str, Any], env: Mapping[str, str]) -> StoreSettings:
    """`[store]`: `backend = "sqlite"` (default, `path`), `"dynamodb"` (`table`, `region`,
    `endpoint_url`) or `"memory"`. On Lambda the table defaults to $SWITCHBOARD_TABLE."""
    where = "store"
    _check_keys(
        raw,
        {"backend", "path", "table", "region", "endpoint_url", "simulated_latency_ms", "timeout_ms"},
        where,
    )
    default = "dynamodb" if env.get(ENV_TABLE) else "sqlite"  # on Lambda the stack sets the table
    backend = _get(raw, "backend", str, where, default)
    if backend not in ("sqlite", "dynamodb", "memory"):
        raise ConfigError("store.backend: one of sqlite, dynamodb, memory")
    settings = StoreSettings(
        backend=backend,
        path=_get(raw, "path", str, where, StoreSettings().path),
        table=_get(raw, "table", str, where, None) or env.get(ENV_TABLE),
        region=_get(raw, "region", str, where, None) or env.get(ENV_AWS_REGION),
        endpoint_url=_get(raw, "endpoint_url", str, where, None),
        simulated_latency_ms=_get(raw, "simulated_latency_ms", int, where, 0),
        timeout_ms=_get(raw, "timeout_ms", int, where, StoreSettings().timeout_ms),
    )
    if not 0 <= settings.timeout_ms <= 600_000:
        raise ConfigError("store.timeout_ms: between 0 (unbounded) and 600000")
    if backend == "dynamodb" and not settings.table:
        raise ConfigError("store.table: required for the dynamodb backend")
    return settings
