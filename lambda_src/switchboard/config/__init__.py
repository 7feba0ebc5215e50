"""Typed, validated configuration loaded from TOML (stdlib `tomllib`).

Every error names the offending key by its dotted path, e.g.
`models."gpt-4o".targets[1]: provider 'backup' is not defined in [providers]`.
Secrets are never read from the file: a provider names the environment variable
(`api_key_env`) or the AWS Secrets Manager secret (`api_key_secret`) that holds its key.

One module per section (`gateway`, `routing` with models, `providers`, `prices`, `store` with the
cache, `telemetry` with admin) and `reading` for the helpers they share; this package assembles the
document and re-exports the types.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from switchboard.config.gateway import GatewaySettings, _gateway
from switchboard.config.prices import Price, _price
from switchboard.config.providers import ProviderConfig, ProviderFields, _provider
from switchboard.config.reading import (
    ENV_OVERRIDES,
    ConfigError,
    _check_keys,
    _table,
)
from switchboard.config.routing import (
    STRATEGIES,
    ModelConfig,
    RoutingPolicy,
    Target,
    _model,
    _routing,
    parse_target,
)
from switchboard.config.store import CacheSettings, StoreSettings, _cache, _residency, _store
from switchboard.config.telemetry import AdminSettings, TelemetrySettings, _admin, _telemetry


@dataclass(frozen=True, slots=True)
class Config:
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    routing: RoutingPolicy = field(default_factory=RoutingPolicy)
    store: StoreSettings = field(default_factory=StoreSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    prices: Mapping[str, Price] = field(default_factory=dict)
    """Keyed by `provider/upstream-model` or by upstream model name."""
    providers: Mapping[str, ProviderConfig] = field(default_factory=dict)
    models: Mapping[str, ModelConfig] = field(default_factory=dict)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    admin: AdminSettings = field(default_factory=AdminSettings)


def parse_config(
    raw: Mapping[str, Any],
    *,
    known_types: Mapping[str, ProviderFields] | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Validate a decoded TOML document into a `Config`."""
    env = os.environ if env is None else env
    _check_keys(
        raw,
        {"gateway", "routing", "providers", "models", "store", "cache", "prices", "telemetry", "admin"},
        "(top level)",
    )
    gateway = _gateway(_table(raw, "gateway", ""), env)
    routing = _routing(_table(raw, "routing", ""))
    types = provider_fields() if known_types is None else known_types
    providers = {n: _provider(n, p, types) for n, p in _table(raw, "providers", "").items()}
    models = {n: _model(n, m, providers, routing) for n, m in _table(raw, "models", "").items()}
    if not models:
        raise ConfigError("models: define at least one public model")
    store = _store(_table(raw, "store", ""), env)
    return Config(
        gateway=gateway,
        routing=routing,
        providers=providers,
        models=models,
        store=store,
        cache=_residency(_cache(_table(raw, "cache", "")), env),
        prices={name: _price(name, value) for name, value in _table(raw, "prices", "").items()},
        telemetry=_telemetry(_table(raw, "telemetry", "")),
        admin=_admin(raw, env),
    )


def load_config(path: str | Path, *, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a TOML file."""
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from None
    return parse_config(raw, env=env)


def provider_fields() -> Mapping[str, ProviderFields]:
    """The registered provider types' fields (the registry is the one list of provider types)."""
    from switchboard.providers import provider_fields as registered  # the registry sits above config

    return registered()


__all__ = [
    "ENV_OVERRIDES",
    "STRATEGIES",
    "AdminSettings",
    "CacheSettings",
    "Config",
    "ConfigError",
    "GatewaySettings",
    "ModelConfig",
    "Price",
    "ProviderConfig",
    "ProviderFields",
    "RoutingPolicy",
    "StoreSettings",
    "Target",
    "TelemetrySettings",
    "load_config",
    "parse_config",
    "parse_target",
    "provider_fields",
]
