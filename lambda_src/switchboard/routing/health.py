"""Per-target cooldown: a target that keeps failing is skipped for a short, configured time."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Container, Sequence

from switchboard.config import RoutingPolicy, Target

MAX_TRACKED = 4096
"""Targets with a failure count, and targets cooling down, kept at most (each): far above any
configuration, so only a pathological one ever evicts; the oldest entries go first."""


class TargetHealth:
    """In-process failure counts. Cooled-down targets are tried last, not dropped: when every
    target is cooling down, the request still gets its attempts. Expired cooldowns are forgotten
    (so the common path is again a single emptiness check) and both tables are bounded."""

    def __init__(self, policy: RoutingPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self._failures: dict[Target, int] = {}
        """Consecutive failures of targets not cooling down, oldest first."""
        self._cool_until: dict[Target, float] = {}
        self._earliest = math.inf
        """The soonest end of a cooldown: nothing to forget before it."""

    def _forget_expired(self, now: float) -> None:
        if now >= self._earliest:
            self._cool_until = {t: until for t, until in self._cool_until.items() if until > now}
            self._earliest = min(self._cool_until.values(), default=math.inf)

    def order(self, targets: Sequence[Target]) -> Sequence[Target]:
        if not self._cool_until:
            return targets
        now = self._clock()
        self._forget_expired(now)
        cooling = [t for t in targets if self._cool_until.get(t, 0.0) > now]
        if not cooling:
            return targets
        return [t for t in targets if t not in cooling] + cooling

    def cooling_now(self) -> Container[Target]:
        """The targets cooling down now (empty in the common case; no copy is made)."""
        if not self._cool_until:
            return self._cool_until
        self._forget_expired(self._clock())
        return self._cool_until  # after forgetting, every entry left ends in the future

    def cooling(self, target: Target) -> bool:
        return self._cool_until.get(target, 0.0) > self._clock()

    def failure(self, target: Target) -> None:
        count = self._failures.pop(target, 0) + 1  # re-inserted last: most recent
        if count < self._policy.cooldown_failures:
            self._failures[target] = count
            if len(self._failures) > MAX_TRACKED:
                del self._failures[next(iter(self._failures))]
            return
        now = self._clock()
        self._forget_expired(now)
        until = now + self._policy.cooldown_ms / 1000.0
        self._cool_until.pop(target, None)
        self._cool_until[target] = until
        self._earliest = min(self._earliest, until)
        if len(self._cool_until) > MAX_TRACKED:
            del self._cool_until[next(iter(self._cool_until))]  # the oldest cooldown ends first

    def success(self, target: Target) -> None:
        if self._failures:
            self._failures.pop(target, None)
        if self._cool_until:
            self._cool_until.pop(target, None)
