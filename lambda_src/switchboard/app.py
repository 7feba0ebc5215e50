"""`create_app`: the one place the gateway is assembled. Everything is injectable for tests."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from switchboard.asgi import ASGIApp
from switchboard.config import Config, Target, TelemetrySettings, load_config
from switchboard.constants import ENV_CONFIG
from switchboard.edge.origin import OriginGuard
from switchboard.edge.server import Gateway
from switchboard.pipeline.services import NoCache, Services
from switchboard.routing.executor import Executor
from switchboard.state.auth import Authenticator
from switchboard.state.cache import ResponseCache
from switchboard.state.conversations import ConversationStore
from switchboard.state.prices import PriceTable
from switchboard.state.ratelimit import KeyLimits, RateLimiter
from switchboard.state.store import Store, open_store
from switchboard.state.usage import UsageRecorder
from switchboard.telemetry.metrics import MetricsSink, make_sink
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


def default_services(config: Config, store: Store, metrics: MetricsSink) -> Services:
    """Keys, limits, usage, stored conversations and (when enabled) the cache over one shared store;
    one price table for costs, usage and dollar budgets."""
    prices = PriceTable.of(config)
    return Services(
        auth=Authenticator(store, required=config.gateway.auth == "required"),
        limits=KeyLimits(RateLimiter(store, region=config.gateway.region, regions=config.gateway.regions)),
        cache=ResponseCache(store, config.cache) if config.cache.enabled else NoCache(),
        usage=usage_recorder(store, config, prices),
        metrics=metrics,
        conversations=ConversationStore(store),
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
) -> Gateway:
    """Assemble the gateway. Tests inject `transport=httpx.MockTransport(handler)` and, to replace
    keys, limits, cache, usage or metrics, `services=Services(...)`."""
    if config is None:
        config = config_from_env()
    upstream = (
        as_transport(transport) if transport is not None else default_transport(config.gateway.transport)
    )
    if services is None:
        sink = metrics if metrics is not None else make_sink(config.gateway.metrics, config.gateway.region)
        # the store is opened lazily by its first call (no I/O here)
        services = default_services(config, store if store is not None else open_store(config.store), sink)
    table = services.prices

    def price(target: Target) -> float | None:
        """The `cost` strategy's rank: USD per million input + output tokens (shipped table + [prices])."""
        found = table.get(target.provider, target.model)
        return None if found is None else found.prompt + found.completion

    executor = Executor(config, upstream, credentials, price=price)

    def web_app() -> ASGIApp:
        from switchboard.edge.webapp import create_web_app

        return create_web_app(config)

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
    )


# /tmp is the only writable directory on Lambda; the file holds usage counts only, no secrets
LAMBDA_SPILL = "/tmp/switchboard-usage-spill.jsonl"  # noqa: S108  # nosec B108


def usage_recorder(store: Store, config: Config, prices: PriceTable | None = None) -> UsageRecorder:
    """On Lambda an idle execution environment is frozen and may be reclaimed without notice, so
    counts are written right after each response (still batched: whatever accumulates while a write
    is in flight goes in the next one) and spilled to /tmp (the code directory is read-only)."""
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        spill = os.environ.get("SWITCHBOARD_USAGE_SPILL") or LAMBDA_SPILL
        return UsageRecorder(store, spill_path=spill, flush_interval_s=0.0, prices=prices or config.prices)
    return UsageRecorder(store, prices=prices or config.prices)


def config_from_env() -> Config:
    """`SWITCHBOARD_CONFIG` names a TOML file; without it, the built-in demo configuration."""
    path = os.environ.get(ENV_CONFIG)
    if path:
        return load_config(path)
    from switchboard.demo import demo_config

    return demo_config()
