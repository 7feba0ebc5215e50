"""The state the balancing strategies read: recent latency per target (an EWMA the executor feeds
after each attempt) and each target's price, computed once at start-up. The orders themselves are
the pure functions of `strategies.py`."""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence

from switchboard.config import Config, Target
from switchboard.routing.strategies import (
    Balance,
    Rand,
    affinity_order,
    blended_price,
    cost_order,
    ewma,
    latency_order,
    weighted_order,
)

MAX_TRACKED = 4096
"""Targets with a latency average kept at most (far above any configuration)."""

PriceLookup = Callable[[Target], float | None]


class Balancer:
    """Per-process latency averages and the price table. `order` is called only for requests whose
    strategy is not `ordered`; `observe` only for attempts whose model can be routed by latency."""

    def __init__(self, config: Config, rand: Rand, price: PriceLookup | None = None) -> None:
        self.rand = rand
        self.latency: dict[Target, float] = {}
        """Seconds: time to the first output of a stream, or the whole answer otherwise."""
        lookup = price or (lambda target: blended_price(config.prices, target))
        self.prices: dict[Target, float] = {}
        for model in config.models.values():
            for target in model.targets:
                if (value := lookup(target)) is not None:
                    self.prices[target] = value

    def order(
        self, balance: Balance, targets: Sequence[Target], cooling: Container[Target]
    ) -> Sequence[Target]:
        strategy = balance.strategy
        if strategy == "weighted":
            if balance.affinity is not None:
                return affinity_order(targets, balance.affinity, cooling)
            return weighted_order(targets, self.rand, cooling)
        if strategy == "latency":
            return latency_order(targets, self.latency, self.rand, cooling)
        if strategy == "cost":
            return cost_order(targets, self.prices)
        return targets

    def observe(self, target: Target, seconds: float) -> None:
        latency = self.latency
        latency[target] = ewma(latency.get(target), seconds)
        if len(latency) > MAX_TRACKED:
            del latency[next(iter(latency))]
