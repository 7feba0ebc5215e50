"""Alarm thresholds and evaluation windows, shared by the CloudWatch alarms (infra/constructs) and
the multi-region rehearsal (scripts/rehearsal.py), which evaluates the same rules over the gateways'
own EMF records. No CDK import here: the rehearsal must not start a jsii process."""

from __future__ import annotations

GATEWAY_ERROR_PERCENT = 5
"""GatewayErrorRate: % of a region's requests failed by the gateway itself (cause=gateway)."""
PROVIDER_ERROR_PERCENT = 20
"""ProviderErrorRate: % failed because every provider target failed (notifies; evacuates only a
region clearly worse than the others: infra/prober/health.py)."""
EVALUATION_PERIODS = 5
DATAPOINTS_TO_ALARM = 3
"""Both rate alarms: 3 of the last 5 one-minute periods over the threshold."""
LEGACY_5XX_PERCENT = 5
"""The former per-region alarm (any 5xx, providers' included): the rehearsal shows what it would
have evacuated."""


def breaching(series: list[float], threshold: float) -> bool:
    """A CloudWatch alarm's M-of-N rule over the newest periods (missing data: not breaching)."""
    recent = series[-EVALUATION_PERIODS:]
    return sum(1 for value in recent if value > threshold) >= DATAPOINTS_TO_ALARM
