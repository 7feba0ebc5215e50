"""The services the pipeline calls, injected, with a null object for each absent one.

`Services` bundles authentication, limits, the response cache, usage accounting, metrics (and the
other consumers of the per-request record), stored conversations, the price table and the tracer.
A feature that is off is an object with the same interface that does nothing (`OpenAuth`,
`NoLimits`, `NoCache`, `NoUsage`, `MetricsSink`, `NoConversations`, `NoTracer`), so no stage asks
whether a feature exists.
Tests inject their own (`create_app(config, services=Services(auth=Authenticator(store)))`);
`Authenticator`, `KeyLimits`, `ResponseCache`, `UsageRecorder` and `EMFSink` are the real ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from switchboard.config import Price
from switchboard.state.cache import Entry, Policy
from switchboard.state.keys import KeyRecord
from switchboard.state.prices import PriceTable
from switchboard.state.ratelimit import Reservation
from switchboard.state.usage import UsageEvent
from switchboard.telemetry.metrics import MetricsSink
from switchboard.telemetry.observer import observe_all
from switchboard.telemetry.tracing import NoSpan, NoTracer


class Auth(Protocol):
    async def authenticate(self, token: str | None) -> KeyRecord | None:
        """The caller's key; None when the gateway runs open. Raises 401 / 503."""
        ...

    def authorize(self, record: KeyRecord | None, models: Iterable[str]) -> None:
        """Raises 403 when the key may not use one of the models."""
        ...

    def forget(self, key_id: str) -> None:
        """Drop a cached key (revoked or edited by the admin API)."""
        ...

    async def close(self) -> None: ...


class Limits(Protocol):
    def needs_price(self, key: KeyRecord) -> bool:
        """Whether `admit` needs the request's worst-case price (the key has dollar budgets)."""
        ...

    async def admit(
        self, key: KeyRecord, body_bytes: int, answer_cap: int | None, price: Price | None = None
    ) -> Reservation | None:
        """Take the request's units (or raise 429); None when the key has no limits."""
        ...

    def settle(
        self, reservation: Reservation | None, used_tokens: int | None, used_nano_usd: int | None = None
    ) -> None: ...


class Cache(Protocol):
    def policy(self, cache_control: bytes | None, key_default_ttl: int | None) -> Policy | None: ...

    async def lookup(self, key: str, asked: Policy) -> tuple[Entry | None, bytes]: ...

    def keep(self, key: str, provider: str, model: str, body: bytes | list[bytes], ttl_s: int) -> bool: ...

    async def drain(self) -> None: ...


class Tracing(Protocol):
    """OpenTelemetry spans: `NoTracer` when off, `Tracer` with an exporter when on."""

    def start(self, traceparent: bytes | None) -> NoSpan: ...

    def take_dropped(self) -> int: ...

    async def aclose(self) -> None: ...


class UsageLog(Protocol):
    """Where each request's usage is counted (the `UsageRecorder`)."""

    def record(self, event: UsageEvent) -> None: ...

    async def drain(self) -> None: ...


class Conversations(Protocol):
    """Stored Responses-API conversations (`store`, `previous_response_id`), per tenant."""

    async def load_history(self, tenant: str, previous_response_id: str) -> list[dict[str, Any]] | None: ...

    async def save(
        self,
        tenant: str,
        response_id: str,
        input_messages: Sequence[dict[str, Any]],
        output_messages: Sequence[dict[str, Any]],
        response_json: bytes | Mapping[str, Any],
        *,
        parent: str | None = None,
    ) -> bool: ...

    async def get(self, tenant: str, response_id: str) -> bytes | None: ...

    async def delete(self, tenant: str, response_id: str) -> bool: ...

    async def input_messages(self, tenant: str, response_id: str) -> list[dict[str, Any]] | None: ...

    async def remember_origin(self, tenant: str, response_id: str, provider: str) -> None: ...

    async def origin(self, tenant: str, response_id: str) -> str | None: ...

    async def forget_origin(self, tenant: str, response_id: str) -> None: ...


class OpenAuth:
    """No keys: every caller is served (`serve` warns; deployed gateways refuse this)."""

    async def authenticate(self, token: str | None) -> KeyRecord | None:
        return None

    def authorize(self, record: KeyRecord | None, models: Iterable[str]) -> None:
        return None

    def forget(self, key_id: str) -> None:
        return None

    async def close(self) -> None:
        return None


class NoLimits:
    def needs_price(self, key: KeyRecord) -> bool:
        return False

    async def admit(
        self, key: KeyRecord, body_bytes: int, answer_cap: int | None, price: Price | None = None
    ) -> Reservation | None:
        return None

    def settle(
        self, reservation: Reservation | None, used_tokens: int | None, used_nano_usd: int | None = None
    ) -> None:
        return None


class NoCache:
    def policy(self, cache_control: bytes | None, key_default_ttl: int | None) -> Policy | None:
        return None

    async def lookup(self, key: str, asked: Policy) -> tuple[Entry | None, bytes]:
        raise AssertionError("lookup without a policy")  # policy() is always None

    def keep(self, key: str, provider: str, model: str, body: bytes | list[bytes], ttl_s: int) -> bool:
        return True

    async def drain(self) -> None:
        return None


class NoUsage:
    def record(self, event: UsageEvent) -> None:
        return None

    async def drain(self) -> None:
        return None


class NoConversations:
    """Nothing is kept: `previous_response_id` is never found, `store` is ignored."""

    async def load_history(self, tenant: str, previous_response_id: str) -> list[dict[str, Any]] | None:
        return None

    async def save(
        self,
        tenant: str,
        response_id: str,
        input_messages: Sequence[dict[str, Any]],
        output_messages: Sequence[dict[str, Any]],
        response_json: bytes | Mapping[str, Any],
        *,
        parent: str | None = None,
    ) -> bool:
        return True

    async def get(self, tenant: str, response_id: str) -> bytes | None:
        return None

    async def delete(self, tenant: str, response_id: str) -> bool:
        return False

    async def input_messages(self, tenant: str, response_id: str) -> list[dict[str, Any]] | None:
        return None

    async def remember_origin(self, tenant: str, response_id: str, provider: str) -> None:
        return None

    async def origin(self, tenant: str, response_id: str) -> str | None:
        return None

    async def forget_origin(self, tenant: str, response_id: str) -> None:
        return None


@dataclass(slots=True)
class Services:
    auth: Auth = field(default_factory=OpenAuth)
    limits: Limits = field(default_factory=NoLimits)
    cache: Cache = field(default_factory=NoCache)
    usage: UsageLog = field(default_factory=NoUsage)
    metrics: MetricsSink = field(default_factory=MetricsSink)
    conversations: Conversations = field(default_factory=NoConversations)
    prices: PriceTable = field(default_factory=PriceTable)
    """The shipped price table with `[prices]` over it (costs of answers, usage, dollar budgets)."""
    tracer: Tracing = field(default_factory=NoTracer)
    """OpenTelemetry spans (`Tracer` with an OTLP exporter when `[telemetry] otlp_endpoint` is set)."""
    observers: tuple[MetricsSink, ...] = ()
    """Other consumers of the per-request record: the access log, the console's request ring and
    per-minute aggregates (`telemetry/observer.py`)."""
    observer: MetricsSink = field(init=False)
    """`metrics` and `observers` as one: what `finish` hands each request's record to (a null
    object when nothing consumes it, and then no record is built)."""

    def __post_init__(self) -> None:
        self.observer = observe_all(self.metrics, *self.observers)

    async def aclose(self) -> None:
        """Shutdown: write what is pending (cache entries, usage, per-minute aggregates), then
        release the store."""
        await self.cache.drain()
        await self.usage.drain()
        await self.observer.drain()
        await self.auth.close()
        await self.tracer.aclose()
        self.observer.close()


__all__ = ["NoCache", "NoConversations", "NoLimits", "NoUsage", "OpenAuth", "Services"]
