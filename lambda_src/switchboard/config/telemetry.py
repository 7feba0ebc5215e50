"""`[telemetry]` and `[admin]`: the access log, tracing, the console's admin access."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from switchboard.config.reading import (
    ConfigError,
    _check_keys,
    _get,
    _header_safe,
    _table,
)
from switchboard.constants import (
    ENV_LAMBDA_FUNCTION,
)


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    """`[telemetry]`: OpenTelemetry traces, off unless `otlp_endpoint` is set."""

    otlp_endpoint: str | None = None
    """An OTLP/HTTP collector (`http://localhost:4318`): spans are POSTed as JSON to `<it>/v1/traces`."""
    service_name: str = "switchboard"
    """The `service.name` resource attribute."""
    sample_ratio: float = 1.0
    """Share of new traces recorded; a caller's `traceparent` decides for its own trace."""
    access_log: bool | None = None
    """One JSON line per request on stderr (`telemetry/access_log.py`). None: on for `switchboard
    serve` (unless `--no-access-log`), off on Lambda."""


@dataclass(frozen=True, slots=True)
class AdminSettings:
    """`[admin]`: the admin API (`/admin/api/...`) and the web console (`/console`)."""

    enabled: bool = True
    """Off by default on a deployed (Lambda) gateway: there it needs an `[admin]` section."""
    token_env: str = "SWITCHBOARD_ADMIN_TOKEN"  # noqa: S105  # the variable's name, not a token
    """An environment variable whose value is accepted as an admin token (besides the tokens
    `switchboard admin create-token` stores hashed); unset or empty: only stored tokens."""
    recent_requests: int = 1000
    """Size of the per-process ring of recent requests the console lists."""


def _admin(document: Mapping[str, Any], env: Mapping[str, str]) -> AdminSettings:
    where = "admin"
    raw = _table(document, "admin", "")
    _check_keys(raw, {"enabled", "token_env", "recent_requests"}, where)
    deployed = bool(env.get(ENV_LAMBDA_FUNCTION))
    settings = AdminSettings(
        enabled=_get(raw, "enabled", bool, where, "admin" in document or not deployed),
        token_env=_get(raw, "token_env", str, where, AdminSettings().token_env),
        recent_requests=_get(raw, "recent_requests", int, where, AdminSettings().recent_requests),
    )
    if not 1 <= settings.recent_requests <= 100_000:
        raise ConfigError(f"{where}.recent_requests: between 1 and 100000")
    if not settings.token_env.isidentifier():
        raise ConfigError(f"{where}.token_env: the name of an environment variable")
    return settings


def _telemetry(raw: Mapping[str, Any]) -> TelemetrySettings:
    where = "telemetry"
    _check_keys(raw, {"otlp_endpoint", "service_name", "sample_ratio", "access_log"}, where)
    endpoint = _get(raw, "otlp_endpoint", str, where, None)
    if endpoint is not None and (
        not endpoint.startswith(("http://", "https://")) or not _header_safe(endpoint) or "?" in endpoint
    ):
        raise ConfigError(f"{where}.otlp_endpoint: an http:// or https:// URL without a query")
    ratio = float(_get(raw, "sample_ratio", (int, float), where, 1.0))
    if not 0.0 <= ratio <= 1.0:
        raise ConfigError(f"{where}.sample_ratio: between 0 and 1")
    name = _get(raw, "service_name", str, where, "switchboard")
    if not name or not _header_safe(name):
        raise ConfigError(f"{where}.service_name: a non-empty printable name")
    return TelemetrySettings(
        otlp_endpoint=endpoint or None,
        service_name=name,
        sample_ratio=ratio,
        access_log=_get(raw, "access_log", bool, where, None),
    )
