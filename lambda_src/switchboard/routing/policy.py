"""Routing policy as pure functions: config + request -> the request's plan (ordered targets, how
they are balanced, the deadline, the price ceiling) and what to do after a failed attempt. The
executor (`executor.py`) carries these decisions out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from switchboard.config import STRATEGIES, Config, Price, RoutingPolicy, Target
from switchboard.dialects.request import ChatRequest
from switchboard.errors import (
    AllTargetsFailed,
    DeadlineExceeded,
    GatewayError,
    InvalidRequest,
    UnknownModel,
    UpstreamClientError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnsupported,
)
from switchboard.routing.priced import priced_chain
from switchboard.routing.strategies import ORDERED, Balance


@dataclass(frozen=True, slots=True)
class RequestPlan:
    """What one request will do, decided once after it is authorized and read by every stage
    (admission, conversation recall, execution)."""

    targets: tuple[Target, ...]
    """The ordered target chain (`models` and `provider_preferences` applied)."""
    balance: Balance
    deadline_s: float
    """One deadline across every attempt."""
    ceiling: Price | None = None
    """A price no target of the chain exceeds (what a dollar budget reserves at); None when the
    request is not under a dollar budget."""


def plan_request(
    config: Config,
    request: ChatRequest,
    session: bytes | None = None,
    price_of: Callable[[Target], Price | None] | None = None,
) -> RequestPlan:
    """The request's plan; with `price_of` (the request is under a dollar budget) only the priced
    targets of its chain (`routing/priced.py`) and its price ceiling. Raises the request's 4xx
    (unknown model, disabled overrides, bad priority, nothing priced under a budget)."""
    targets = plan_targets(config, request)
    if price_of is not None:  # a dollar budget is never served by a target without a price
        targets = priced_chain(targets, price_of)
    balance = plan_balance(config, request, session)
    deadline_s = deadline_ms(config, request) / 1000.0
    ceiling = None if price_of is None else price_ceiling([price_of(t) for t in targets])
    return RequestPlan(targets, balance, deadline_s, ceiling)


class Plans:
    """`plan_request` for one configuration, remembering the plan of a request that only names a
    configured model: with no `models` / `provider_preferences` / `priority` / `timeout`, no dollar
    budget and a strategy that is not session-keyed (`weighted`), every such request gets the same
    plan (a frozen value), so it is decided once per model instead of once per request. Bounded by
    the number of configured models (an unknown one raises before anything is kept)."""

    __slots__ = ("_common", "config")

    def __init__(self, config: Config) -> None:
        self.config = config
        self._common: dict[str, RequestPlan] = {}

    def plan(
        self,
        request: ChatRequest,
        session: bytes | None = None,
        price_of: Callable[[Target], Price | None] | None = None,
    ) -> RequestPlan:
        common = (
            price_of is None
            and request.models is None
            and request.primary is None
            and request.fallback is None
            and request.priority is None
            and request.timeout_s is None
        )
        if not common:
            return plan_request(self.config, request, session, price_of)
        found = self._common.get(request.model)
        if found is None:
            found = plan_request(self.config, request, session)
            if found.balance.strategy != "weighted":
                self._common[request.model] = found
        return found


def price_ceiling(prices: Sequence[Price | None]) -> Price:
    """Per token, the dearest input price (a cache write included) and the dearest output price of
    a chain; an unpriced target counts as free."""
    found = [p for p in prices if p is not None]
    return Price(
        prompt=max(
            (max(p.prompt, p.cached or 0.0, p.cache_write or 0.0, p.cache_write_1h or 0.0) for p in found),
            default=0.0,
        ),
        completion=max((p.completion for p in found), default=0.0),
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


_PREBUILT: dict[tuple[str, bool], Balance] = {
    (strategy, timed): Balance(strategy, timed) for strategy in STRATEGIES for timed in (False, True)
}


def plan_balance(config: Config, request: ChatRequest, session: bytes | None = None) -> Balance:
    """How this request's chain is ordered: its (first) model's `strategy`, or the one its
    `priority` asks for (`speed` -> latency, `cost` -> cost) where the model allows it. Under
    `weighted`, a session key (`x-session-affinity`, else the body's `prompt_cache_key` or
    `metadata.user_id`) makes the choice sticky. The default (`ordered`) allocates nothing."""
    model = config.models.get(request.models[0] if request.models else request.model)
    if model is None:  # plan_targets has refused it already
        return ORDERED
    strategy = model.strategy
    if request.priority is not None:
        if not model.allow_priority:
            raise InvalidRequest(
                f"'priority' is not enabled for model {model.name[:100]!r} (allow_priority)", param="priority"
            )
        strategy = "latency" if request.priority == "speed" else "cost"
    timed = model.allow_priority or model.strategy == "latency"
    if strategy == "ordered" and not timed:
        return ORDERED
    if strategy == "weighted":
        key = session.decode("latin-1") if session else affinity_key(request)
        if key is not None:
            return Balance(strategy, timed, key)
    return _PREBUILT[(strategy, timed)]


def affinity_key(request: ChatRequest) -> str | None:
    """The client's own conversation key: `prompt_cache_key` (OpenAI) or `metadata.user_id`
    (Anthropic), read from the body as the client sent it."""
    body = request.native.body if request.native is not None else request.body
    key = body.get("prompt_cache_key")
    if isinstance(key, str) and key:
        return key
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        user = metadata.get("user_id")
        if isinstance(user, str) and user:
            return user
    return None


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


CONTEXT_MARKERS = (
    "context_length_exceeded",  # OpenAI's code (and in some compatible servers' messages)
    "maximum context length",  # OpenAI, vLLM, Mistral, ...: "This model's maximum context length is"
    "context window",
    "prompt is too long",  # Anthropic: "prompt is too long: 210000 tokens > 200000 maximum"
    "exceeds the maximum number of tokens",  # Gemini: "The input token count (N) exceeds the ..."
    "input is too long",  # Bedrock: "Input is too long for requested model."
    "too many input tokens",  # Bedrock Converse
)
"""How providers say that the prompt does not fit the model (read from the message Switchboard
parsed out of the 400; matched in lower case)."""


def is_context_overflow(error: UpstreamError) -> bool:
    if not isinstance(error, UpstreamClientError) or error.upstream_status not in (400, 413, None):
        return False
    message = error.message.lower()
    return any(marker in message for marker in CONTEXT_MARKERS)


def context_fallback(error: UpstreamError, targets: Sequence[Target], index: int) -> int | None:
    """After `targets[index]` refused the prompt as too long: the context window a later target
    must declare to be tried (one larger than this target's), or None when no later target
    declares one (the 400 then goes back to the client)."""
    if not is_context_overflow(error):
        return None
    needed = (targets[index].context_window or 0) + 1
    if any((t.context_window or 0) >= needed for t in targets[index + 1 :]):
        return needed
    return None
