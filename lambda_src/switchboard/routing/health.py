"""Per-target cooldown: a target that keeps failing is skipped for a short, configured time."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from switchboard.config import RoutingPolicy, Target


class TargetHealth:
    """In-process failure counts. Cooled-down targets are tried last, not dropped: when every
    target is cooling down, the request still gets its attempts."""

    def __init__(self, policy: RoutingPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self._failures: dict[Target, int] = {}
        self._cool_until: dict[Target, float] = {}

    def order(self, targets: Sequence[Target]) -> Sequence[Target]:
        if not self._cool_until:
            return targets
        now = self._clock()
        cooling = [t for t in targets if self._cool_until.get(t, 0.0) > now]
        if not cooling:
            return targets
        return [t for t in targets if t not in cooling] + cooling

    def cooling(self, target: Target) -> bool:
        return self._cool_until.get(target, 0.0) > self._clock()

    def failure(self, target: Target) -> None:
        count = self._failures.get(target, 0) + 1
        if count >= self._policy.cooldown_failures:
            self._cool_until[target] = self._clock() + self._policy.cooldown_ms / 1000.0
            count = 0
        self._failures[target] = count

    def success(self, target: Target) -> None:
        if self._failures:
            self._failures.pop(target, None)
        if self._cool_until:
            self._cool_until.pop(target, None)
