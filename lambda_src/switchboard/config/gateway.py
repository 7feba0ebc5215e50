"""`[gateway]`: region, body caps, metrics, auth and the other process-wide settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from switchboard.config.reading import (
    ConfigError,
    _check_keys,
    _env_int,
    _get,
)
from switchboard.constants import (
    ENV_AUTH,
    ENV_AWS_REGION,
    ENV_ORIGIN_SECRET,
    ENV_REGION_COUNT,
)


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    region: str = "local"
    max_body_bytes: int = 4 * 1024 * 1024
    max_response_bytes: int = 64 * 1024 * 1024
    """Largest upstream answer read into memory (a bigger one is a 502 and the next target); error
    bodies are read up to 64 KiB, stream events up to 8 MiB each."""
    metrics: str = "off"
    """`off`, `stdout` (CloudWatch EMF on Lambda) or a file path for EMF lines."""
    allow_request_routing: bool = True
    """Honour per-request `models` / `provider_preferences` overrides."""
    transport: str = "aiohttp"
    """Upstream connection layer: `aiohttp` (default) or `httpx` (its own pool); measured close, see
    the README's "Transport"."""
    regions: int = 1
    """How many regions share each key's limits (each enforces its 1/regions share)."""
    origin_secret: str | None = None
    """Secrets Manager secret `{"current", "previous"}` whose values callers must send in
    `x-switchboard-origin` (only CloudFront knows it). Default: $SWITCHBOARD_ORIGIN_SECRET."""
    auth: str = "required"
    """`required`: every /v1 request needs a valid gateway key (401 otherwise, also while no key
    exists). `open`: keys are optional (a presented `sb-` key must be valid and is then used for
    limits and usage; no key, or an SDK's placeholder, is served anonymously). $SWITCHBOARD_AUTH
    overrides the file (the CDK stacks set it)."""
    store_conversations: bool = True
    """Keep Responses-API conversations (`store`, `previous_response_id`) in the store; off
    ($SWITCHBOARD_STORE_CONVERSATIONS=off, data residency) keeps nothing."""


def _gateway(raw: Mapping[str, Any], env: Mapping[str, str]) -> GatewaySettings:
    where = "gateway"
    _check_keys(
        raw,
        {
            "region",
            "max_body_bytes",
            "metrics",
            "allow_request_routing",
            "transport",
            "origin_secret",
            "regions",
            "auth",
            "max_response_bytes",
        },
        where,
    )
    default_region = env.get(ENV_AWS_REGION) or "local"
    defaults = GatewaySettings()
    settings = GatewaySettings(
        region=_get(raw, "region", str, where, default_region),
        max_body_bytes=_get(raw, "max_body_bytes", int, where, defaults.max_body_bytes),
        max_response_bytes=_get(raw, "max_response_bytes", int, where, defaults.max_response_bytes),
        metrics=_get(raw, "metrics", str, where, "off"),
        allow_request_routing=_get(raw, "allow_request_routing", bool, where, True),
        transport=_get(raw, "transport", str, where, "aiohttp"),
        origin_secret=_get(raw, "origin_secret", str, where, None) or env.get(ENV_ORIGIN_SECRET) or None,
        regions=_get(raw, "regions", int, where, None) or _env_int(env, ENV_REGION_COUNT, 1) or 1,
        auth=env.get(ENV_AUTH) or _get(raw, "auth", str, where, "required"),
        store_conversations=env.get("SWITCHBOARD_STORE_CONVERSATIONS") != "off",
    )
    if settings.auth not in ("required", "open"):
        source = f"${ENV_AUTH}" if env.get(ENV_AUTH) else "gateway.auth"
        raise ConfigError(f"{source}: one of required, open (got {settings.auth[:40]!r})")
    if "regions" in raw and raw["regions"] < 1:
        raise ConfigError("gateway.regions: must be at least 1")
    if settings.transport not in ("aiohttp", "httpx"):
        raise ConfigError("gateway.transport: one of aiohttp, httpx")
    if not settings.region.isprintable() or not settings.region:
        raise ConfigError("gateway.region: must be a non-empty printable string")
    if settings.max_body_bytes < 1024:
        raise ConfigError("gateway.max_body_bytes: must be at least 1024")
    if settings.max_response_bytes < 65536:
        raise ConfigError("gateway.max_response_bytes: must be at least 65536")
    return settings
