"""Balancing as pure policy: config -> targets with weights, and (targets, weights, latency table,
prices, random source, cooling set) -> the order one request tries them in."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from switchboard.asgi import RequestHeaders
from switchboard.config import ConfigError, Price, RoutingPolicy, Target, parse_config
from switchboard.dialects.request import ChatRequest, NativeRequest, parse_chat_request
from switchboard.errors import InvalidRequest, UpstreamClientError, UpstreamServerError
from switchboard.routing.balance import Balancer
from switchboard.routing.health import TargetHealth
from switchboard.routing.policy import (
    context_fallback,
    is_context_overflow,
    plan_balance,
)
from switchboard.routing.strategies import (
    ORDERED,
    affinity_order,
    blended_price,
    cost_order,
    ewma,
    latency_order,
    weighted_order,
)

A = Target("a", "m", weight=3)
B = Target("b", "m", weight=1)
C = Target("c", "m", weight=1)


def config(models: dict, routing: dict | None = None, prices: dict | None = None):
    return parse_config(
        {
            "routing": routing or {},
            "providers": {p: {"type": "openai", "base_url": f"https://{p}.x"} for p in "abc"},
            "models": models,
            "prices": prices or {},
        },
        env={},
    )


def req(model: str = "m", body: dict | None = None, **kw) -> ChatRequest:
    request = ChatRequest(model=model, stream=False, **kw)
    request.body = body or {}
    return request


# ------------------------------------------------------------------ configuration


def test_config_weights_strategy_cost_and_window() -> None:
    cfg = config(
        {
            "m": {
                "strategy": "weighted",
                "targets": [
                    {"target": "a/x", "weight": 3, "cost": 0.5, "context_window": 128_000},
                    "b/y",
                ],
            }
        }
    )
    model = cfg.models["m"]
    a, b = model.targets
    assert model.strategy == "weighted" and not model.allow_priority
    assert (a.weight, a.cost, a.context_window) == (3, 0.5, 128_000)
    assert (b.weight, b.cost, b.context_window) == (1, None, None)
    # weight, cost and window are data about a target, not its identity (health, latency)
    assert a == Target("a", "x") and hash(a) == hash(Target("a", "x"))


def test_config_default_is_ordered_and_priority_flag_follows_routing() -> None:
    assert config({"m": {"targets": ["a/x"]}}).models["m"].strategy == "ordered"
    cfg = config(
        {"m": {"targets": ["a/x"]}, "n": {"targets": ["a/x"], "allow_priority": False}},
        routing={"allow_priority": True},
    )
    assert cfg.models["m"].allow_priority and not cfg.models["n"].allow_priority
    assert RoutingPolicy().allow_priority is False


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"targets": ["a/x"], "strategy": "random"}, "strategy: one of ordered, weighted, latency, cost"),
        ({"targets": [{"target": "a/x", "weight": 0}]}, "weight: must be at least 1"),
        ({"targets": [{"target": "a/x", "weight": 1.5}]}, "weight: expected an integer"),
        ({"targets": [{"target": "a/x", "cost": -1}]}, "cost: must be a finite number"),
        ({"targets": [{"target": "a/x", "cost": float("nan")}]}, "cost: must be a finite number"),
        ({"targets": [{"target": "a/x", "context_window": -5}]}, "context_window: must not be negative"),
        ({"targets": [{"target": "a/x", "wieght": 2}]}, "wieght: unknown key"),
        ({"targets": ["a/x"], "allow_priority": "yes"}, "allow_priority: expected a boolean"),
    ],
)
def test_config_errors_name_the_key(model: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config({"m": model})


# ------------------------------------------------------------------ weighted


def test_weighted_draw_is_by_weight_then_the_rest_in_order() -> None:
    assert weighted_order([A, B, C], lambda: 0.0) == [A, B, C]
    assert weighted_order([A, B, C], lambda: 0.59) == [A, B, C]  # 0.59 * 5 = 2.95 < 3
    assert weighted_order([A, B, C], lambda: 0.61) == [B, A, C]
    assert weighted_order([A, B, C], lambda: 0.99) == [C, A, B]


def test_weighted_split_over_2000_draws_within_5_percent() -> None:
    rand = random.Random(20_25).random
    firsts = Counter(weighted_order([A, B], rand)[0] for _ in range(2000))
    assert abs(firsts[A] / 2000 - 0.75) < 0.05
    assert abs(firsts[B] / 2000 - 0.25) < 0.05


def test_weighted_draws_among_healthy_targets_only() -> None:
    rand = random.Random(1).random
    firsts = Counter(weighted_order([A, B, C], rand, cooling={A: 1.0})[0] for _ in range(1000))
    assert firsts[A] == 0 and 400 < firsts[B] < 600
    assert weighted_order([A, B], rand, cooling={A: 1.0, B: 1.0})[0] in (A, B)  # all cooling: still a chain


# ------------------------------------------------------------------ session affinity


def test_affinity_is_sticky_per_key_and_spread_by_weight() -> None:
    keys = [f"conversation-{i}" for i in range(2000)]
    firsts = {key: affinity_order([A, B], key)[0] for key in keys}
    assert all(affinity_order([A, B], key)[0] == firsts[key] for key in keys[:200])  # sticky
    assert abs(sum(1 for t in firsts.values() if t == A) / 2000 - 0.75) < 0.05  # weighted


def test_affinity_moves_only_the_keys_of_a_cooling_target() -> None:
    keys = [f"k{i}" for i in range(500)]
    before = {key: affinity_order([A, B, C], key)[0] for key in keys}
    after = {key: affinity_order([A, B, C], key, cooling={B: 1.0})[0] for key in keys}
    moved = [key for key in keys if before[key] != after[key]]
    assert moved and all(before[key] == B for key in moved)
    assert all(after[key] != B for key in keys)


# ------------------------------------------------------------------ latency


def test_latency_order_prefers_lowest_ewma_and_measures_unknown_targets_first() -> None:
    never = lambda: 0.99  # noqa: E731 - no exploration
    assert latency_order([A, B, C], {A: 0.5, B: 0.1, C: 0.3}, never) == [B, C, A]
    assert latency_order([A, B, C], {A: 0.5, B: 0.1}, never) == [C, B, A]  # C was never measured
    assert latency_order([A, B, C], {A: 0.5, B: 0.1, C: 0.3}, never, cooling={B: 1.0}) == [C, A, B]


def test_latency_exploration_puts_another_healthy_target_first() -> None:
    draws = iter([0.01, 0.99])  # explore, then pick the last of the others
    assert latency_order([A, B, C], {A: 0.1, B: 0.2, C: 0.3}, lambda: next(draws)) == [C, A, B]
    rand = random.Random(3).random
    firsts = Counter(latency_order([A, B, C], {A: 0.1, B: 0.2, C: 0.3}, rand)[0] for _ in range(4000))
    assert 0.93 < firsts[A] / 4000 < 0.97  # 5 % explore
    assert firsts[B] > 50 and firsts[C] > 50


def test_latency_moves_off_a_slowed_target_and_back_after_it_recovers() -> None:
    """GIVEN a 50 ms and a 100 ms target, WHEN the fast one slows to 400 ms, THEN the next request
    already goes to the other; WHEN it recovers, exploration samples bring its traffic back."""
    balancer = Balancer(
        config({"m": {"targets": ["a/m", "b/m"], "strategy": "latency"}}), random.Random(5).random
    )
    speed = {A: 0.05, B: 0.10}

    def serve() -> Target:
        first = latency_order([A, B], balancer.latency, balancer.rand)[0]
        balancer.observe(first, speed[first])
        return first

    for _ in range(20):
        serve()
    assert balancer.latency[A] < balancer.latency[B]
    speed[A] = 0.40
    served = [serve() for _ in range(10)]
    assert served[0] == A and served[1:].count(B) >= 8  # one slow answer is enough to move
    speed[A] = 0.02
    served = [serve() for _ in range(200)]
    assert served[-50:].count(A) >= 40  # back on A (but for the 5 % that explore)


def test_ewma() -> None:
    assert ewma(None, 2.0) == 2.0
    assert ewma(1.0, 2.0, alpha=0.5) == 1.5


# ------------------------------------------------------------------ cost


def test_cost_order_cheapest_first_unpriced_last() -> None:
    cheap, dear = Target("a", "cheap", cost=0.1), Target("b", "dear", cost=5.0)
    unknown, table = Target("c", "unknown"), Target("c", "from-table")
    assert cost_order([unknown, dear, table, cheap], {table: 1.0}) == [cheap, table, dear, unknown]


def test_cost_from_price_table() -> None:
    prices = {"a/x": Price(prompt=1.0, completion=2.0), "y": Price(prompt=0.1, completion=0.2)}
    assert blended_price(prices, Target("a", "x")) == 3.0
    assert blended_price(prices, Target("b", "y")) == pytest.approx(0.3)
    assert blended_price(prices, Target("b", "z")) is None
    cfg = config(
        {"m": {"targets": ["a/x", "b/y"], "strategy": "cost"}},
        prices={"a/x": {"prompt": 1.0, "completion": 2.0}, "y": {"prompt": 0.1, "completion": 0.2}},
    )
    balancer = Balancer(cfg, random.random)
    assert [t.id for t in cost_order(cfg.models["m"].targets, balancer.prices)] == ["b/y", "a/x"]
    hooked = Balancer(cfg, random.random, price=lambda t: 9.0 if t.provider == "b" else 1.0)
    assert [t.id for t in cost_order(cfg.models["m"].targets, hooked.prices)] == ["a/x", "b/y"]


# ------------------------------------------------------------------ per request


def test_plan_balance_default_is_the_prebuilt_ordered_plan() -> None:
    cfg = config({"m": {"targets": ["a/x", "b/y"]}})
    assert plan_balance(cfg, req()) is ORDERED
    with pytest.raises(InvalidRequest, match="'priority' is not enabled") as caught:
        plan_balance(cfg, req(priority="speed"))
    assert caught.value.param == "priority"


def test_plan_balance_priority_and_affinity() -> None:
    cfg = config(
        {
            "m": {"targets": ["a/x", "b/y"], "strategy": "weighted", "allow_priority": True},
            "lat": {"targets": ["a/x", "b/y"], "strategy": "latency"},
        }
    )
    assert plan_balance(cfg, req(priority="speed")).strategy == "latency"
    assert plan_balance(cfg, req(priority="cost")).strategy == "cost"
    assert plan_balance(cfg, req()).timed  # a model allowing `speed` keeps its latency table warm
    assert plan_balance(cfg, req("lat")).timed
    assert plan_balance(cfg, req(), b"session-1").affinity == "session-1"
    body_key = req(body={"prompt_cache_key": "pck"})
    assert plan_balance(cfg, body_key).affinity == "pck"
    assert plan_balance(cfg, body_key, b"header-wins").affinity == "header-wins"
    anthropic = req(native=NativeRequest("anthropic.messages", {"metadata": {"user_id": "u-1"}}))
    assert plan_balance(cfg, anthropic).affinity == "u-1"
    assert plan_balance(cfg, req()).affinity is None


def test_priority_is_a_routing_field_stripped_from_the_body() -> None:
    body = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "priority": "speed"}'
    request = parse_chat_request(body)
    assert request.priority == "speed" and "priority" not in request.body
    with pytest.raises(InvalidRequest, match="'priority' must be 'speed' or 'cost'"):
        parse_chat_request(body.replace(b'"speed"', b'"fast"'))


def test_request_headers_read_session_and_region_preference() -> None:
    headers = RequestHeaders(
        [(b"x-session-affinity", b"s-1"), (b"x-switchboard-region-preference", b"eu-west-1")]
    )
    assert (headers.session, headers.region_preference) == (b"s-1", b"eu-west-1")
    assert RequestHeaders([(b"x-switchboard-region-preference", b"bad\x01")]).region_preference is None


def test_cooling_now_lists_only_targets_cooling_down() -> None:
    now = [0.0]
    health = TargetHealth(RoutingPolicy(cooldown_failures=1, cooldown_ms=1000), clock=lambda: now[0])
    assert not health.cooling_now()
    health.failure(A)
    assert A in health.cooling_now() and B not in health.cooling_now()
    now[0] = 2.0
    assert not health.cooling_now()


# ------------------------------------------------------------------ context length


@pytest.mark.parametrize(
    "message",
    [
        "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
        "prompt is too long: 210000 tokens > 200000 maximum",
        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
        "Input is too long for requested model.",
        "context_length_exceeded",
    ],
)
def test_context_overflow_is_recognised_per_provider(message: str) -> None:
    assert is_context_overflow(UpstreamClientError(message, upstream_status=400))


def test_other_errors_are_not_context_overflows() -> None:
    assert not is_context_overflow(UpstreamClientError("invalid 'temperature'", upstream_status=400))
    assert not is_context_overflow(UpstreamServerError("maximum context length", upstream_status=500))


def test_context_fallback_needs_a_larger_declared_window() -> None:
    small = Target("a", "s", context_window=8_000)
    same = Target("b", "s2", context_window=8_000)
    large = Target("c", "l", context_window=128_000)
    overflow = UpstreamClientError("prompt is too long", upstream_status=400)
    assert context_fallback(overflow, [small, same, large], 0) == 8_001
    assert context_fallback(overflow, [small, same], 0) is None  # nothing larger: the 400 goes back
    assert context_fallback(overflow, [large, small], 0) is None
    assert context_fallback(overflow, [Target("a", "unknown"), large], 0) == 1
    other = UpstreamClientError("bad tools", upstream_status=400)
    assert context_fallback(other, [small, large], 0) is None
