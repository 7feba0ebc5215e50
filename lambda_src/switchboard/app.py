"""`create_app`: the one place the gateway is assembled. Everything is injectable for tests."""

from __future__ import annotations

import os

import httpx

from switchboard.asgi import ASGIApp, Gateway
from switchboard.config import Config, load_config
from switchboard.constants import ENV_CONFIG
from switchboard.credentials import Credentials
from switchboard.executor import Executor
from switchboard.metrics import MetricsSink, make_sink


def default_http_client(transport: str = "aiohttp") -> httpx.AsyncClient:
    """The upstream client. Timeouts are enforced by the executor (one deadline per request);
    redirects are never followed."""
    if transport == "httpx":  # httpx's own pool: kept for comparison (README, Transport)
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
        return httpx.AsyncClient(timeout=None, follow_redirects=False, limits=limits)  # noqa: S113
    from switchboard.transport import AiohttpTransport

    return httpx.AsyncClient(transport=AiohttpTransport(), timeout=None, follow_redirects=False)  # noqa: S113


def create_app(
    config: Config | None = None,
    *,
    http_client: httpx.AsyncClient | None = None,
    credentials: Credentials | None = None,
    metrics: MetricsSink | None = None,
    tune_gc: bool = False,
) -> Gateway:
    if config is None:
        config = config_from_env()
    owns_client = http_client is None
    client = http_client if http_client is not None else default_http_client(config.gateway.transport)
    executor = Executor(config, client, credentials)
    sink = metrics if metrics is not None else make_sink(config.gateway.metrics, config.gateway.region)

    def web_app() -> ASGIApp:
        from switchboard.webapp import create_web_app

        return create_web_app(config)

    async def close_client() -> None:
        if owns_client:
            await client.aclose()

    return Gateway(config, executor, sink, web_app, on_shutdown=close_client, tune_gc=tune_gc)


def config_from_env() -> Config:
    """`SWITCHBOARD_CONFIG` names a TOML file; without it, the built-in demo configuration."""
    path = os.environ.get(ENV_CONFIG)
    if path:
        return load_config(path)
    from switchboard.demo import demo_config

    return demo_config()
