"""Decision logic of the region health prober: pure, no AWS (tested offline in tests/infra).

The KeyValueStore holds one value per region, which the CloudFront router reads:

- `healthy`: served;
- `probe-unhealthy`: the prober evacuated it (it stays out until it recovers);
- `unhealthy`: an operator evacuated it by hand; the prober never changes it;
- `force-healthy`: an operator keeps it in; the prober never evacuates it.

Hysteresis: a region is evacuated after `fail_after` consecutive failed probes and restored after
`recover_after` consecutive good ones (a probe fails when `/healthz` through CloudFront does not
answer 200 in time, or when one of the region's error-rate alarms is in ALARM). The streak of each
region is kept in the store too (`probe:<region>`), so a cold prober loses nothing. The last region
still served is never evacuated by the prober.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

HEALTHY = "healthy"
PROBE_UNHEALTHY = "probe-unhealthy"
MANUAL_UNHEALTHY = "unhealthy"
FORCE_HEALTHY = "force-healthy"
MANUAL = frozenset({MANUAL_UNHEALTHY, FORCE_HEALTHY})
SERVED = frozenset({HEALTHY, FORCE_HEALTHY})
FAIL_AFTER = 3
RECOVER_AFTER = 5


def streak_key(region: str) -> str:
    return f"probe:{region}"


@dataclass(frozen=True)
class Probe:
    region: str
    healthz_ok: bool
    alarms_ok: bool
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.healthz_ok and self.alarms_ok


def _streak(raw: str | None) -> int:
    try:
        return max(0, int(raw or 0))
    except ValueError:
        return 0


def plan(
    store: Mapping[str, str],
    probes: Sequence[Probe],
    *,
    fail_after: int = FAIL_AFTER,
    recover_after: int = RECOVER_AFTER,
) -> dict[str, str]:
    """The key-value pairs to write (empty when nothing changes), given the store's current items."""
    writes: dict[str, str] = {}
    values = {p.region: store.get(p.region, HEALTHY) for p in probes}
    for probe in probes:
        value = values[probe.region]
        streak = _streak(store.get(streak_key(probe.region)))
        if value in MANUAL:
            new_value, new_streak = value, 0
        elif value == PROBE_UNHEALTHY:
            new_streak = streak + 1 if probe.ok else 0
            new_value = HEALTHY if new_streak >= recover_after else PROBE_UNHEALTHY
        else:  # healthy, or anything unknown (the router serves it)
            new_streak = streak + 1 if not probe.ok else 0
            new_value = PROBE_UNHEALTHY if new_streak >= fail_after else HEALTHY
            if new_value == PROBE_UNHEALTHY:
                still_served = [
                    r
                    for r, v in values.items()
                    if r != probe.region and v not in (MANUAL_UNHEALTHY, PROBE_UNHEALTHY)
                ]
                if not still_served:
                    new_value, new_streak = HEALTHY, fail_after  # never evacuate the last region
        if new_value != value:
            new_streak = 0
            values[probe.region] = new_value
            writes[probe.region] = new_value
        if new_streak != streak:
            writes[streak_key(probe.region)] = str(new_streak)
    return writes
