"""Decision logic of the region health prober: pure, no AWS (tested offline in tests/infra, and fed
by three real gateways in the multi-region rehearsal, scripts/rehearsal).

The KeyValueStore holds one value per region, which the CloudFront router reads:

- `healthy`: served;
- `probe-unhealthy`: the prober evacuated it (it stays out until it recovers);
- `unhealthy`: an operator evacuated it by hand; the prober never changes it;
- `force-healthy`: an operator keeps it in; the prober never evacuates it.

A probe of a region fails when its deep health check through CloudFront (`/healthz/deep`: origin
secret, store, configuration; never a provider) does not answer 200 in time, when one of its health
alarms is in ALARM (the gateway's own failures, Lambda errors and throttles), or when its providers
fail it *clearly more* than the other regions (`clearly_worse`): a provider outage fails every
region alike, and moving traffic would only move the failures, so it evacuates nothing.

Votes: probers run in more than one region (`voter`), each keeping its own streak per region in the
store (`probe:<region>@<voter>`). A region is evacuated when `quorum` voters (two when two or more
run) have seen `fail_after` consecutive failed probes, and restored when `quorum` voters have seen
`recover_after` consecutive good ones: one prober's own network trouble cannot evacuate a region. On
every change the region's streaks are reset. The last region still served is never evacuated.
"""

from __future__ import annotations

import statistics
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
PROVIDER_MIN_REQUESTS = 20
"""Below this many requests in the window a region's provider failure rate is not compared."""
PROVIDER_FACTOR = 2.0
PROVIDER_MARGIN_PCT = 25.0
"""`clearly worse`: at least twice the median of the other regions and 25 points above it."""


def streak_key(region: str, voter: str = "") -> str:
    return f"probe:{region}@{voter}" if voter else f"probe:{region}"


@dataclass(frozen=True)
class Probe:
    region: str
    healthz_ok: bool
    alarms_ok: bool
    detail: str = ""
    provider_failure_pct: float | None = None
    """Share of the region's requests over the last minutes that failed because every provider
    target failed (`FailuresByCause{cause=provider}` / `Requests`); None when unknown."""
    requests: int = 0

    @property
    def ok(self) -> bool:
        return self.healthz_ok and self.alarms_ok


def clearly_worse(probes: Sequence[Probe]) -> set[str]:
    """Regions whose providers fail them clearly more than the others (a bad network path to the
    provider, a regional Bedrock outage). Equal failure everywhere (a provider outage) selects none,
    and so does a single region (nothing to compare with)."""
    known = [p for p in probes if p.provider_failure_pct is not None and p.requests >= PROVIDER_MIN_REQUESTS]
    worse = set()
    for probe in known:
        others = [
            q.provider_failure_pct for q in known if q is not probe and q.provider_failure_pct is not None
        ]
        if not others:
            continue
        baseline = statistics.median(others)
        rate = probe.provider_failure_pct or 0.0
        if rate >= PROVIDER_FACTOR * baseline and rate - baseline >= PROVIDER_MARGIN_PCT:
            worse.add(probe.region)
    return worse


def _streak(raw: str | None) -> int:
    try:
        return max(0, int(raw or 0))
    except ValueError:
        return 0


def plan(
    store: Mapping[str, str],
    probes: Sequence[Probe],
    *,
    voter: str = "",
    voters: Sequence[str] = (),
    fail_after: int = FAIL_AFTER,
    recover_after: int = RECOVER_AFTER,
) -> dict[str, str]:
    """The key-value pairs to write (empty when nothing changes), given the store's current items,
    this prober's probes, its name (`voter`) and the names of every prober (`voters`)."""
    everyone = tuple(voters) or (voter,)
    quorum = min(2, len(everyone))
    worse = clearly_worse(probes)
    writes: dict[str, str] = {}
    values = {p.region: store.get(p.region, HEALTHY) for p in probes}
    for probe in probes:
        region = probe.region
        value = values[region]
        failing = not probe.ok or region in worse
        own_key = streak_key(region, voter)
        streak = _streak(store.get(own_key))
        if value in MANUAL:
            new_value, new_streak = value, 0
        else:
            if value == PROBE_UNHEALTHY:
                new_streak, target, wanted = (streak + 1 if not failing else 0), HEALTHY, recover_after
            else:  # healthy, or anything unknown (the router serves it)
                new_streak, target, wanted = (streak + 1 if failing else 0), PROBE_UNHEALTHY, fail_after
            votes = sum(
                1
                for v in everyone
                if (new_streak if v == voter else _streak(store.get(streak_key(region, v)))) >= wanted
            )
            new_value = (
                target if votes >= quorum else (PROBE_UNHEALTHY if value == PROBE_UNHEALTHY else HEALTHY)
            )
            if new_value == PROBE_UNHEALTHY and value != PROBE_UNHEALTHY:
                still_served = [
                    r
                    for r, v in values.items()
                    if r != region and v not in (MANUAL_UNHEALTHY, PROBE_UNHEALTHY)
                ]
                if not still_served:
                    new_value, new_streak = HEALTHY, fail_after  # never evacuate the last region
        if new_value != value:
            values[region] = new_value
            writes[region] = new_value
            for v in everyone:  # a new state: every voter counts again from zero
                if v != voter and _streak(store.get(streak_key(region, v))) != 0:
                    writes[streak_key(region, v)] = "0"
            new_streak = 0
        if new_streak != streak:
            writes[streak_key(region, voter)] = str(new_streak)
    return writes
