"""`[routing]` and `[models.NAME]`: the retry policy, public models and their target chains."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from switchboard.config.prices import Price, _price
from switchboard.config.providers import ProviderConfig
from switchboard.config.reading import (
    ConfigError,
    _check_keys,
    _get,
)


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


def parse_target(spec: str, where: str = "target") -> Target:
    """`"<provider>/<upstream model>"`, split at the first `/` (upstream models may contain `/`)."""
    provider, sep, model = spec.partition("/")
    if not sep or not provider or not model:
        raise ConfigError(f"{where}: {spec!r} is not '<provider>/<upstream model>'")
    if spec != spec.strip() or any(c in spec for c in "\r\n\x00"):
        raise ConfigError(f"{where}: {spec!r} contains whitespace or control characters")
    return Target(provider=provider, model=model)


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
