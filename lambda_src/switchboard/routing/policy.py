"""Routing policy as pure functions: config + request -> ordered targets, deadline, and what to do
after a failed attempt. The executor (`executor.py`) carries these decisions out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from switchboard.config import Config, RoutingPolicy, Target
from switchboard.dialects.request import ChatRequest
from switchboard.errors import (
    AllTargetsFailed,
    DeadlineExceeded,
    GatewayError,
    InvalidRequest,
    UnknownModel,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnsupported,
)


def plan_targets(config: Config, request: ChatRequest) -> tuple[Target, ...]:
    """The ordered target chain for one request (`models` and `provider_preferences` applied)."""
    overrides = request.models is not None or request.primary is not None or request.fallback is not None
    if overrides and not config.gateway.allow_request_routing:
        raise InvalidRequest("per-request routing overrides are disabled on this gateway", param="models")
    names = request.models if request.models is not None else (request.model,)
    targets: list[Target] = []
    for name in names:
        model = config.models.get(name)
        if model is None:
            raise UnknownModel(
                f"model {name[:100]!r} is not configured on this gateway (GET /v1/models lists them)",
                param="models" if request.models is not None else "model",
            )
        targets.extend(t for t in model.targets if t not in targets)
    if request.primary is not None or request.fallback is not None:
        targets = _apply_preferences(config, targets, request.primary, request.fallback)
    return tuple(targets)


def _apply_preferences(
    config: Config, targets: list[Target], primary: str | None, fallback: Sequence[str] | None
) -> list[Target]:
    order = ([primary] if primary else []) + [p for p in (fallback or ()) if p != primary]
    for name in order:
        if name not in config.providers:
            raise InvalidRequest(f"provider {name[:100]!r} is not configured", param="provider_preferences")
    ranked = [t for name in order for t in targets if t.provider == name]
    if fallback is None:  # primary only: it goes first, the rest keep their order
        ranked += [t for t in targets if t not in ranked]
    if not ranked:
        raise InvalidRequest(
            "provider_preferences leaves no target for this model", param="provider_preferences"
        )
    return ranked


def deadline_ms(config: Config, request: ChatRequest) -> float:
    """One deadline per request across all attempts."""
    policy = config.routing
    if request.timeout_s is not None:
        return min(request.timeout_s * 1000.0, float(policy.max_timeout_ms))
    first = request.models[0] if request.models else request.model
    model = config.models.get(first)
    if model is not None and model.timeout_ms:
        return float(model.timeout_ms)
    return float(policy.timeout_ms)


def backoff_s(retry_number: int, policy: RoutingPolicy, rand: Callable[[], float]) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**n)]."""
    ceiling = min(policy.backoff_cap_ms, policy.backoff_base_ms << min(retry_number, 30))
    return rand() * ceiling / 1000.0


@dataclass(frozen=True, slots=True)
class Decision:
    action: Literal["retry", "next", "fail"]
    delay_s: float = 0.0


RETRIES_PER_TARGET = 1
"""A failing target gets one retry before the chain moves on (the shared budget still applies)."""


def decide(
    error: UpstreamError,
    *,
    policy: RoutingPolicy,
    retries_left: int,
    retries_on_target: int,
    has_next: bool,
    remaining_s: float,
    rand: Callable[[], float],
) -> Decision:
    """What to do after one failed attempt."""
    if error.action == "return":
        return Decision("fail")
    if error.action == "skip":
        return Decision("next") if has_next else Decision("fail")
    if error.action == "rate_limited":
        if has_next:
            return Decision("next")
        wait = error.retry_after_s
        if wait is None:
            wait = backoff_s(retries_on_target, policy, rand)
        if retries_left > 0 and wait * 1000 <= policy.retry_after_cap_ms and wait < remaining_s:
            return Decision("retry", wait)
        return Decision("fail")
    if retries_left > 0 and retries_on_target < RETRIES_PER_TARGET:
        delay = backoff_s(retries_on_target, policy, rand)
        if delay < remaining_s:
            return Decision("retry", delay)
    return Decision("next") if has_next else Decision("fail")


def final_error(
    failures: Sequence[tuple[Target, UpstreamError]], *, deadline_hit: bool, deadline_ms: float
) -> GatewayError:
    """The error the client gets when the chain is exhausted: the last meaningful status class."""
    if failures and failures[-1][1].action == "return":
        return failures[-1][1]
    if failures and all(isinstance(e, UpstreamUnsupported) for _, e in failures):
        return failures[-1][1]  # no target can serve the request as asked: 400 naming the parameter
    attempts = "; ".join(f"{t.id}: {e.describe()}" for t, e in failures) or "no attempt could start"
    if deadline_hit:
        return DeadlineExceeded(f"request deadline of {deadline_ms:.0f} ms exceeded ({attempts})")
    meaningful = [e for _, e in failures if e.action != "skip"] or [e for _, e in failures]
    last = meaningful[-1] if meaningful else None
    message = f"all {len(failures)} attempts failed ({attempts})"
    if isinstance(last, UpstreamRateLimited):
        return AllTargetsFailed(message, status=429, retry_after_s=last.retry_after_s)
    if isinstance(last, UpstreamTimeout):
        return AllTargetsFailed(message, status=504)
    if isinstance(last, UpstreamServerError) and last.upstream_status == 503:
        return AllTargetsFailed(message, status=503)
    return AllTargetsFailed(message, status=502)
