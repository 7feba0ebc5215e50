"""Balancing strategies as pure functions: one request's targets (with their weights and costs),
what is known about them (recent latency, which ones are cooling down) and a random source -> the
order in which that request tries them. `balance.py` holds the state these read; the executor
applies the result, then cooldown (`health.py`) still moves failing targets to the back.

    ordered   the configured order (the default: nothing is computed)
    weighted  the first target drawn at random by weight among healthy targets, the rest in order;
              with an affinity key (a session), the draw is a weighted rendezvous hash of the key,
              so one conversation keeps hitting one target (its prompt cache) while it is healthy
    latency   lowest recent latency (EWMA) first; EXPLORE of requests put another healthy target
              first, so a target that got slow and recovered gets traffic (and fresh samples) back
    cost      cheapest first (a target's `cost`, else its `[prices]` entry; unpriced ones last)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass
from hashlib import blake2b

from switchboard.config import Price, Target

EXPLORE = 0.05
"""Share of `latency` requests that put a random other healthy target first."""
EWMA_ALPHA = 0.3
"""Weight of the newest latency sample: a target that slows down loses its place within a request
or two, one outlier fades after a few more."""

Rand = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Balance:
    """How one request's chain is ordered. The common cases are prebuilt (no allocation)."""

    strategy: str = "ordered"
    timed: bool = False
    """Record this request's attempt latencies (its model can be routed by latency)."""
    affinity: str | None = None
    """A session key (`x-session-affinity`, `prompt_cache_key`, `metadata.user_id`)."""


ORDERED = Balance()


def _healthy(targets: Sequence[Target], cooling: Container[Target]) -> Sequence[Target]:
    if not cooling:  # the common case: nothing hashed, nothing copied
        return targets
    healthy = [t for t in targets if t not in cooling]
    return healthy or targets


def _first(chosen: Target, targets: Sequence[Target]) -> list[Target]:
    return [chosen, *(t for t in targets if t != chosen)]


def weighted_order(targets: Sequence[Target], rand: Rand, cooling: Container[Target] = ()) -> list[Target]:
    """One healthy target drawn with probability weight / total, then the rest in order."""
    healthy = _healthy(targets, cooling)
    point = rand() * sum(t.weight for t in healthy)
    chosen = healthy[-1]
    for target in healthy:
        point -= target.weight
        if point < 0:
            chosen = target
            break
    return _first(chosen, targets)


def rendezvous_score(key: str, target: Target) -> float:
    """Weighted rendezvous (highest random weight) score: `-weight / ln(u)`, u uniform in (0, 1)
    from a stable hash of (key, target), so every process and region agrees on it."""
    digest = blake2b(f"{key}\x00{target.provider}/{target.model}".encode(), digest_size=8).digest()
    u = (int.from_bytes(digest, "big") + 0.5) / 2.0**64
    return -target.weight / math.log(u)


def affinity_order(targets: Sequence[Target], key: str, cooling: Container[Target] = ()) -> list[Target]:
    """The healthy target with the highest rendezvous score for `key` first, the rest in order.
    When it cools down, the key moves to its next-best target (and only that key's share moves)."""
    healthy = _healthy(targets, cooling)
    return _first(max(healthy, key=lambda t: rendezvous_score(key, t)), targets)


def latency_order(
    targets: Sequence[Target],
    latency: Mapping[Target, float],
    rand: Rand,
    cooling: Container[Target] = (),
    explore: float = EXPLORE,
) -> list[Target]:
    """Healthy targets by recent latency (a target never measured goes first: it gets measured),
    with `explore` of requests putting a random other healthy target first; cooling ones last."""
    healthy = sorted(_healthy(targets, cooling), key=lambda t: latency.get(t, 0.0))
    if len(healthy) > 1 and rand() < explore:
        healthy.insert(0, healthy.pop(1 + min(int(rand() * (len(healthy) - 1)), len(healthy) - 2)))
    return healthy + [t for t in targets if t not in healthy]


def cost_order(targets: Sequence[Target], prices: Mapping[Target, float]) -> list[Target]:
    """Cheapest first (stable: equal costs keep their order); targets without a cost go last."""

    def rank(target: Target) -> tuple[bool, float]:
        cost = target.cost if target.cost is not None else prices.get(target)
        return (cost is None, cost or 0.0)

    return sorted(targets, key=rank)


def blended_price(prices: Mapping[str, Price], target: Target) -> float | None:
    """USD per million prompt + completion tokens from `[prices]` (keyed `provider/model` or by the
    upstream model, as the usage recorder reads it); None when the target has no price."""
    price = prices.get(target.id) or prices.get(target.model)
    return None if price is None else price.prompt + price.completion


def ewma(previous: float | None, sample: float, alpha: float = EWMA_ALPHA) -> float:
    return sample if previous is None else previous + alpha * (sample - previous)
