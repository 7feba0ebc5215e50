"""Typed, validated configuration loaded from TOML (stdlib `tomllib`).

Every error names the offending key by its dotted path, e.g.
`models."gpt-4o".targets[1]: provider 'backup' is not defined in [providers]`.
Secrets are never read from the file: a provider names the environment variable
(`api_key_env`) or the AWS Secrets Manager secret (`api_key_secret`) that holds its key.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from switchboard.constants import (
    ENV_AUTH,
    ENV_AWS_REGION,
    ENV_LAMBDA_FUNCTION,
    ENV_ORIGIN_SECRET,
    ENV_REGION_COUNT,
    ENV_TABLE,
)


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key."""


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    retry_budget: int = 2
    """Extra attempts (beyond the first per target) a request may spend on retryable failures."""
    backoff_base_ms: int = 100
    backoff_cap_ms: int = 2_000
    retry_after_cap_ms: int = 10_000
    """Longest Retry-After Switchboard waits out on the same target; longer ones fail over or fail."""
    cooldown_failures: int = 3
    """Consecutive failures after which a target is skipped for `cooldown_ms`."""
    cooldown_ms: int = 15_000
    timeout_ms: int = 60_000
    """Default deadline per request across every attempt (to the first streamed byte for streams)."""
    max_timeout_ms: int = 600_000
    """Cap on a per-request `timeout` override."""
    stream_idle_timeout_ms: int = 120_000
    """Longest silence between two upstream stream events once a stream has started."""
    stream_heartbeat_ms: int = 15_000
    """An SSE comment (`: keep-alive`) goes to the client after this much silence on a started stream,
    so proxies and CloudFront (origin read timeout) do not cut a model that thinks for minutes; 0: off."""
    stream_commit_ms: int = 10_000
    """A stream whose first output has not come after this long is committed (200 + SSE headers go
    out, then keep-alive comments every `stream_heartbeat_ms`), so a model that thinks silently for
    longer than a proxy's read timeout is not cut with a 504; fallback still works (no event has
    reached the client), and only a final failure becomes an error event instead of a status. 0: off."""
    allow_priority: bool = False
    """Honour a request's `"priority": "speed" | "cost"` on every model (per model: `allow_priority`)."""


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    name: str
    type: str
    base_url: str = ""
    api_key_env: str | None = None
    api_key_secret: str | None = None
    auth_header: str = "authorization"
    """`authorization` (Bearer), `api-key` (Azure OpenAI), `x-api-key` or `none`."""
    api_version: str | None = None
    """Azure OpenAI `api-version` query parameter."""
    azure_deployments: bool = False
    """Azure OpenAI: the upstream model is a deployment name in the path."""
    headers: tuple[tuple[str, str], ...] = ()
    timeout_ms: int | None = None
    region: str | None = None
    """AWS region (Bedrock)."""
    responses_api: bool = True
    """`openai` providers: serve `POST /v1/responses` by passing the client's request through to the
    provider's own `/responses`; false for servers that only speak Chat Completions (requests are
    then translated)."""
    stream_usage: bool = True
    """OpenAI-compatible servers: send `stream_options` (Switchboard asks for the usage chunk to
    count tokens). False for servers that reject the field: it is then dropped, and the tokens of
    streams from that provider are estimated."""


STRATEGIES = ("ordered", "weighted", "latency", "cost")
"""How a model orders its targets per request (see `routing/strategies.py`)."""


@dataclass(frozen=True, slots=True)
class Target:
    provider: str
    model: str
    timeout_ms: int | None = None
    # Balancing data: not part of a target's identity (health and latency are kept per target).
    weight: int = field(default=1, compare=False)
    """Share of traffic under the `weighted` strategy (relative to the chain's other weights)."""
    cost: float | None = field(default=None, compare=False)
    """Rank under the `cost` strategy (lower first); default: from `[prices]`."""
    context_window: int | None = field(default=None, compare=False)
    """Tokens the target accepts: a context-length 400 falls back only to a larger window."""

    @property
    def id(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True, slots=True)
class ModelConfig:
    name: str
    targets: tuple[Target, ...]
    timeout_ms: int | None = None
    strategy: str = "ordered"
    """`ordered` | `weighted` | `latency` | `cost` (see `STRATEGIES`)."""
    allow_priority: bool = False
    """Honour a request's `priority` (`speed` -> latency, `cost` -> cost) for this model."""
    fallback_price: Price | None = None
    """Opt-in: what a target of this model costs when nobody prices it (otherwise it is unpriced:
    no cost is known, and keys with a dollar budget are not served by it)."""


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
class Price:
    """USD per million tokens."""

    prompt: float = 0.0
    completion: float = 0.0
    cached: float | None = None
    """Price of cached prompt tokens (default: the prompt price)."""
    cache_write: float | None = None
    """Price of prompt tokens written to a provider's cache (Anthropic: the 5-minute write;
    default: the prompt price)."""
    cache_write_1h: float | None = None
    """Price of cache writes kept for an hour, where the answer tells them apart (Anthropic's
    `cache_creation.ephemeral_1h_input_tokens`; default: `cache_write`)."""
    long_above: int | None = None
    """Prompt-length band: a request whose prompt (cache reads and writes included) is longer
    than this many tokens pays `long` for every token of the request, output included."""
    long: Price | None = None
    tiers: tuple[tuple[str, float], ...] = ()
    """Service-tier multipliers (`("priority", 2.0), ("flex", 0.5)`) applied to the whole request
    when the request or the answer names that tier; other tiers cost the list price."""


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


# --------------------------------------------------------------------------- parsing helpers


def _check_keys(section: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in section:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"{where}.{key}: unknown key ({hint}allowed: {', '.join(sorted(allowed))})")


ENV_OVERRIDES: Final = {
    ENV_AUTH: "gateway.auth",
    ENV_REGION_COUNT: "gateway.regions",
    ENV_ORIGIN_SECRET: "gateway.origin_secret",
    ENV_AWS_REGION: "gateway.region and store.region (defaults)",
    ENV_TABLE: "store.table (and the dynamodb backend by default)",
}
"""Environment variables that set configuration, and what they set (errors name the variable)."""


def _env_int(env: Mapping[str, str], name: str, minimum: int) -> int | None:
    value = env.get(name)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise ConfigError(
            f"${name} ({ENV_OVERRIDES[name]}): expected an integer >= {minimum}, got {value[:40]!r}"
        )
    return number


def _get(
    section: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str, default: Any
) -> Any:
    if key not in section:
        return default
    value = section[key]
    # bool is an int subclass: never accept it where a number is expected.
    if isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{where}.{key}: expected {_kind_name(kind)}, got a boolean")
    if not isinstance(value, kind):
        raise ConfigError(f"{where}.{key}: expected {_kind_name(kind)}, got {type(value).__name__}")
    if kind is int and isinstance(value, int) and value < 0:
        raise ConfigError(f"{where}.{key}: must not be negative")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", bool: "a boolean", list: "a list", dict: "a table"}
    if isinstance(kind, tuple):
        return " or ".join(names.get(k, k.__name__) for k in kind)
    return names.get(kind, kind.__name__)


def _table(raw: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}{key}: expected a table")
    return value


def parse_target(spec: str, where: str = "target") -> Target:
    """`"<provider>/<upstream model>"`, split at the first `/` (upstream models may contain `/`)."""
    provider, sep, model = spec.partition("/")
    if not sep or not provider or not model:
        raise ConfigError(f"{where}: {spec!r} is not '<provider>/<upstream model>'")
    if spec != spec.strip() or any(c in spec for c in "\r\n\x00"):
        raise ConfigError(f"{where}: {spec!r} contains whitespace or control characters")
    return Target(provider=provider, model=model)


# --------------------------------------------------------------------------- sections


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


def _routing(raw: Mapping[str, Any]) -> RoutingPolicy:
    where = "routing"
    names = set(RoutingPolicy.__slots__)
    _check_keys(raw, names, where)
    defaults = RoutingPolicy()
    values = {
        name: _get(raw, name, bool if name == "allow_priority" else int, where, getattr(defaults, name))
        for name in names
    }
    policy = RoutingPolicy(**values)
    if policy.timeout_ms <= 0 or policy.max_timeout_ms < policy.timeout_ms:
        raise ConfigError("routing.timeout_ms: must be > 0 and <= routing.max_timeout_ms")
    if policy.cooldown_failures < 1:
        raise ConfigError("routing.cooldown_failures: must be at least 1")
    if policy.stream_heartbeat_ms < 0:
        raise ConfigError("routing.stream_heartbeat_ms: must be >= 0 (0 turns heartbeats off)")
    if policy.stream_commit_ms < 0:
        raise ConfigError("routing.stream_commit_ms: must be >= 0 (0: streams commit at their first output)")
    return policy


_PROVIDER_KEYS = {
    "type",
    "stream_usage",
    "responses_api",
    "base_url",
    "api_key_env",
    "api_key_secret",
    "auth_header",
    "api_version",
    "azure_deployments",
    "headers",
    "timeout_ms",
    "region",
}
_AUTH_HEADERS = {"authorization", "api-key", "x-api-key", "none"}
_SECRET_HEADERS: Final = frozenset(
    {"authorization", "proxy-authorization", "api-key", "x-api-key", "x-goog-api-key", "cookie"}
)
_SECRET_VALUE: Final = re.compile(r"(?i)^\s*(bearer|basic)\s|^\s*(sk-|sk_|AKIA|ASIA)")


@dataclass(frozen=True, slots=True)
class ProviderFields:
    """What a provider type needs in its `[providers.NAME]` table, as its descriptor declares it
    (`providers/__init__.py`): the configuration validates against these, never against type names."""

    base_url: bool = True
    """`base_url` is required (otherwise optional: an override of the type's own endpoint)."""
    region: bool = False
    """`region` is required (AWS services)."""


def _provider(name: str, raw: Any, known_types: Mapping[str, ProviderFields]) -> ProviderConfig:
    where = f"providers.{name}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table")
    if "api_key" in raw:
        raise ConfigError(f"{where}.api_key: secrets never go in the file; use api_key_env or api_key_secret")
    _check_keys(raw, _PROVIDER_KEYS, where)
    ptype = _get(raw, "type", str, where, None)
    if ptype is None:
        raise ConfigError(f"{where}.type: required (one of: {', '.join(sorted(known_types))})")
    if ptype not in known_types:
        raise ConfigError(
            f"{where}.type: unknown provider type {ptype!r} (known: {', '.join(sorted(known_types))})"
        )
    fields = known_types[ptype]
    base_url = _get(raw, "base_url", str, where, "")
    region = _get(raw, "region", str, where, None)
    if fields.region and not region:
        raise ConfigError(f'{where}.region: required for {ptype} providers (e.g. "us-east-1")')
    if fields.base_url or base_url:
        if not base_url.startswith(("https://", "http://")):
            raise ConfigError(f"{where}.base_url: required, an http(s) URL")
        if "?" in base_url or "#" in base_url or "@" in base_url:
            raise ConfigError(f"{where}.base_url: must not contain a query, fragment or credentials")
    headers_raw = _get(raw, "headers", dict, where, {})
    headers: list[tuple[str, str]] = []
    for hname, hvalue in headers_raw.items():
        if not isinstance(hvalue, str) or not _header_safe(hname) or not _header_safe(hvalue):
            raise ConfigError(f"{where}.headers.{hname}: must be a string without control characters")
        if hname.lower() in _SECRET_HEADERS or _SECRET_VALUE.match(hvalue):
            raise ConfigError(
                f"{where}.headers.{hname}: secrets never go in the file; use api_key_env or "
                "api_key_secret (and auth_header for the header that carries it)"
            )
        headers.append((hname.lower(), hvalue))
    auth_header = _get(raw, "auth_header", str, where, "authorization").lower()
    if auth_header not in _AUTH_HEADERS:
        raise ConfigError(f"{where}.auth_header: one of {', '.join(sorted(_AUTH_HEADERS))}")
    for key in ("api_key_env", "api_key_secret"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"{where}.{key}: expected a non-empty string")
    return ProviderConfig(
        name=name,
        type=ptype,
        base_url=base_url.rstrip("/"),
        api_key_env=raw.get("api_key_env"),
        api_key_secret=raw.get("api_key_secret"),
        auth_header=auth_header,
        api_version=_get(raw, "api_version", str, where, None),
        azure_deployments=_get(raw, "azure_deployments", bool, where, False),
        headers=tuple(headers),
        timeout_ms=_get(raw, "timeout_ms", int, where, None),
        region=region,
        stream_usage=_get(raw, "stream_usage", bool, where, True),
        responses_api=_get(raw, "responses_api", bool, where, True),
    )


def _header_safe(value: str) -> bool:
    return bool(value) and all(32 <= ord(c) < 127 for c in value)


def _model(
    name: str, raw: Any, providers: Mapping[str, ProviderConfig], routing: RoutingPolicy
) -> ModelConfig:
    where = f'models."{name}"'
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table")
    _check_keys(raw, {"targets", "timeout_ms", "strategy", "allow_priority", "fallback_price"}, where)
    specs = _get(raw, "targets", list, where, None)
    if not specs:
        raise ConfigError(f"{where}.targets: required, a non-empty list of '<provider>/<model>'")
    targets: list[Target] = []
    for i, spec in enumerate(specs):
        twhere = f"{where}.targets[{i}]"
        if isinstance(spec, str):
            target = parse_target(spec, twhere)
        elif isinstance(spec, dict):
            target = _target_table(spec, twhere)
        else:
            raise ConfigError(f"{twhere}: expected '<provider>/<model>' or a table with 'target'")
        if target.provider not in providers:
            raise ConfigError(f"{twhere}: provider {target.provider!r} is not defined in [providers]")
        targets.append(target)
    strategy = _get(raw, "strategy", str, where, "ordered")
    if strategy not in STRATEGIES:
        raise ConfigError(f"{where}.strategy: one of {', '.join(STRATEGIES)}")
    return ModelConfig(
        name=name,
        targets=tuple(targets),
        timeout_ms=_get(raw, "timeout_ms", int, where, None),
        strategy=strategy,
        allow_priority=_get(raw, "allow_priority", bool, where, routing.allow_priority),
        fallback_price=None
        if "fallback_price" not in raw
        else _price(name, raw["fallback_price"], f"{where}.fallback_price"),
    )


def _target_table(spec: Mapping[str, Any], where: str) -> Target:
    """`{ target = "a/m", timeout_ms = 5000, weight = 3, cost = 0.5, context_window = 128000 }`."""
    _check_keys(spec, {"target", "timeout_ms", "weight", "cost", "context_window"}, where)
    tspec = _get(spec, "target", str, where, None)
    if tspec is None:
        raise ConfigError(f"{where}.target: required")
    target = parse_target(tspec, where)
    weight = _get(spec, "weight", int, where, 1)
    if weight < 1:
        raise ConfigError(f"{where}.weight: must be at least 1")
    cost = _get(spec, "cost", (int, float), where, None)
    if cost is not None and not 0 <= cost < float("inf"):
        raise ConfigError(f"{where}.cost: must be a finite number >= 0")
    return Target(
        target.provider,
        target.model,
        _get(spec, "timeout_ms", int, where, None),
        weight=weight,
        cost=None if cost is None else float(cost),
        context_window=_get(spec, "context_window", int, where, None),
    )


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


def _price(name: str, raw: Any, where: str | None = None) -> Price:
    where = where or f"prices.{name!r}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table with prompt / completion (USD per million tokens)")
    names = ("prompt", "completion", "cached", "cache_write", "cache_write_1h")
    _check_keys(raw, set(names), where)
    values = {k: _get(raw, k, (int, float), where, None) for k in names}
    if any(v is not None and v < 0 for v in values.values()):
        raise ConfigError(f"{where}: prices must not be negative")
    cached, write, write_1h = (None if values[k] is None else float(values[k]) for k in names[2:])
    return Price(
        prompt=float(values["prompt"] or 0.0),
        completion=float(values["completion"] or 0.0),
        cached=cached,
        cache_write=write,
        cache_write_1h=write_1h,
    )


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
