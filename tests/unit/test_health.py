"""Target cooldown bookkeeping stays bounded: expired cooldowns are forgotten, and no more than
`MAX_TRACKED` targets are tracked however many distinct ones fail."""

from __future__ import annotations

from switchboard.config import RoutingPolicy, Target
from switchboard.routing import health as health_module
from switchboard.routing.health import TargetHealth


def tracked(health: TargetHealth) -> int:
    return len(health._failures) + len(health._cool_until)


def test_expired_cooldowns_are_forgotten() -> None:
    now = [0.0]
    health = TargetHealth(RoutingPolicy(cooldown_failures=1, cooldown_ms=1000), clock=lambda: now[0])
    targets = [Target("p", f"m{i}") for i in range(1000)]
    for target in targets:
        health.failure(target)
    assert health.cooling(targets[0]) and tracked(health) == 1000
    now[0] = 2.0  # every cooldown is over
    assert health.order(targets[:2]) == targets[:2]
    assert tracked(health) == 0


def test_failure_counts_of_many_targets_stay_bounded() -> None:
    bound = health_module.MAX_TRACKED
    now = [0.0]
    health = TargetHealth(RoutingPolicy(cooldown_failures=3, cooldown_ms=1000), clock=lambda: now[0])
    for i in range(5 * bound):  # one failure each: below the cooldown threshold
        health.failure(Target("p", f"m{i}"))
    assert tracked(health) <= bound
    hot = Target("p", "hot")
    for _ in range(3):  # the most recent failures are kept: a failing target still cools down
        health.failure(hot)
    assert health.cooling(hot)
    for i in range(5 * bound):  # cooldowns too
        for _ in range(3):
            health.failure(Target("q", f"m{i}"))
    assert tracked(health) <= 2 * bound
