"""`create_app`: the one place the gateway is assembled. Everything is injectable for tests."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from switchboard.admin.minutes import MinuteAggregator
from switchboard.asgi import ASGIApp
from switchboard.config import Config, Target, TelemetrySettings
from switchboard.demo import resolve_config
from switchboard.edge.health import DeepHealth
from switchboard.edge.origin import OriginGuard
from switchboard.edge.server import Gateway
from switchboard.pipeline.services import NoCache, NoConversations, Services
from switchboard.routing.executor import Executor
from switchboard.state.auth import Authenticator
from switchboard.state.cache import ResponseCache
from switchboard.state.conversations import ConversationStore
from switchboard.state.prices import PriceTable
from switchboard.state.ratelimit import KeyLimits, RateLimiter
from switchboard.state.store import Store, open_store
from switchboard.state.usage import UsageRecorder
from switchboard.telemetry.metrics import MetricsSink, make_sink
from switchboard.telemetry.recent import RecentRequests
from switchboard.telemetry.tracing import NoTracer, Tracer
from switchboard.upstream.credentials import Credentials
from switchboard.upstream.http import Transport, as_transport

if TYPE_CHECKING:
    import httpx


def default_transport(kind: str = "aiohttp") -> Transport:
    """The upstream connection layer (README, Transport). Redirects are never followed: the
    executor treats a 3xx as a failed target."""
    if kind == "httpx":  # httpx's own pool, kept for comparison
        import httpx

        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
        return as_transport(httpx.AsyncHTTPTransport(limits=limits))
    from switchboard.upstream.transport import AiohttpTransport

    return AiohttpTransport()


def default_services(
    config: Config, store: Store, metrics: MetricsSink, observers: tuple[MetricsSink, ...] = ()
) -> Services:
    """Keys, limits, usage, stored conversations and (when enabled) the cache over one shared store;
    one price table for costs, usage and dollar budgets."""
    prices = PriceTable.of(config)
    return Services(
        observers=observers,
        auth=Authenticator(store, required=config.gateway.auth == "required"),
        limits=KeyLimits(RateLimiter(store, region=config.gateway.region, regions=config.gateway.regions)),
        cache=ResponseCache(store, config.cache) if config.cache.enabled else NoCache(),
        usage=usage_recorder(store, config, prices),
        metrics=metrics,
        conversations=ConversationStore(store) if config.gateway.store_conversations else NoConversations(),
        prices=prices,
        tracer=make_tracer(config.telemetry, config.gateway.region),
    )


def make_tracer(settings: TelemetrySettings, region: str) -> NoTracer:
    """`NoTracer` unless `[telemetry] otlp_endpoint` is set (the exporter, and aiohttp for its POSTs,
    load only then)."""
    if settings.otlp_endpoint is None:
        return NoTracer()
    from switchboard.telemetry.otlp import OTLPExporter

    exporter = OTLPExporter(settings.otlp_endpoint, settings.service_name)
    return Tracer(exporter, settings.sample_ratio, region)


def create_app(
    config: Config | None = None,
    *,
    transport: Transport | httpx.AsyncBaseTransport | None = None,
    credentials: Credentials | None = None,
    metrics: MetricsSink | None = None,
    tune_gc: bool = False,
    origin_guard: OriginGuard | None = None,
    store: Store | None = None,
    services: Services | None = None,
    access_log: bool | None = None,
) -> Gateway:
    """Assemble the gateway. Tests inject `transport=httpx.MockTransport(handler)` and, to replace
    keys, limits, cache, usage or metrics, `services=Services(...)` (then without the admin API and
    console). `access_log`: None follows `[telemetry] access_log` (off when unset)."""
    if config is None:
        config = config_from_env()
    upstream = (
        as_transport(transport) if transport is not None else default_transport(config.gateway.transport)
    )
    console: Console | None = None
    opened = store
    if services is None:
        sink = metrics if metrics is not None else make_sink(config.gateway.metrics, config.gateway.region)
        # the store is opened lazily by its first call (no I/O here)
        opened = store if store is not None else open_store(config.store)
        observers, console = request_observers(config, opened, access_log)
        services = default_services(config, opened, sink, observers)
    table = services.prices

    def price(target: Target) -> float | None:
        """The `cost` strategy's rank: USD per million input + output tokens (shipped table + [prices])."""
        found = table.get(target.provider, target.model)
        return None if found is None else found.prompt + found.completion

    executor = Executor(config, upstream, credentials, price=price)

    def web_app() -> ASGIApp:
        from switchboard.edge.webapp import create_web_app

        if console is None:
            return create_web_app(config)
        from switchboard.admin.api import AdminContext

        context = AdminContext(
            config, console.store, executor, console.recent, console.minutes, forget_key=services.auth.forget
        )
        return create_web_app(config, admin=context)

    async def close_transport() -> None:
        if transport is None:
            await upstream.aclose()

    if origin_guard is None and config.gateway.origin_secret:
        origin_guard = OriginGuard(config.gateway.origin_secret)
    return Gateway(
        config,
        executor,
        services,
        web_app,
        on_shutdown=close_transport,
        tune_gc=tune_gc,
        origin_guard=origin_guard,
        deep_health=DeepHealth(config, opened),
    )


class Console:
    """The console's per-process state: the request ring and the per-minute aggregator."""

    def __init__(self, store: Store, recent: RecentRequests, minutes: MinuteAggregator) -> None:
        self.store = store
        self.recent = recent
        self.minutes = minutes


def request_observers(
    config: Config, store: Store, access_log: bool | None
) -> tuple[tuple[MetricsSink, ...], Console | None]:
    """The consumers of the per-request record besides metrics: the access log (when on) and, when
    the admin API is enabled, the console's request ring and per-minute aggregates."""
    observers: list[MetricsSink] = []
    if access_log if access_log is not None else bool(config.telemetry.access_log):
        from switchboard.telemetry.access_log import AccessLog

        observers.append(AccessLog())
    console = None
    if config.admin.enabled:
        # on Lambda an idle environment is frozen: write right after the response, as usage does
        interval = 0.0 if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") else 10.0
        recent = RecentRequests(config.admin.recent_requests)
        minutes = MinuteAggregator(store, config.gateway.region, flush_interval_s=interval)
        console = Console(store, recent, minutes)
        observers += [recent, minutes]
    return tuple(observers), console


# /tmp is the only writable directory on Lambda; the file holds usage counts only, no secrets
LAMBDA_SPILL = "/tmp/switchboard-usage-spill.jsonl"  # noqa: S108  # nosec B108


def usage_recorder(store: Store, config: Config, prices: PriceTable | None = None) -> UsageRecorder:
    """On Lambda an idle execution environment is frozen and may be reclaimed without notice, so
    counts are written right after each response (still batched: whatever accumulates while a write
    is in flight goes in the next one) and spilled to /tmp (the code directory is read-only)."""
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        spill = os.environ.get("SWITCHBOARD_USAGE_SPILL") or LAMBDA_SPILL
        return UsageRecorder(
            store,
            spill_path=spill,
            flush_interval_s=0.0,
            prices=prices or config.prices,
            region=config.gateway.region,
        )
    return UsageRecorder(store, prices=prices or config.prices, region=config.gateway.region)


def config_from_env() -> Config:
    """`SWITCHBOARD_CONFIG` names a TOML file; without it, the built-in demo configuration."""
    return resolve_config()[0]
