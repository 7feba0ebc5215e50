"""One consumer-facing service for the per-request record.

`finish` builds one `RequestRecord` per request, and only when something consumes it, then hands it
to `Services.observer`: the metrics sink (EMF), the access log, the console's request ring and its
per-minute aggregates all receive the same object. With no consumer the observer is the disabled
`MetricsSink` (a null object): no record is built at all.
"""

from __future__ import annotations

from collections.abc import Iterable

from switchboard.telemetry.metrics import MetricsSink, RequestRecord


class Observers(MetricsSink):
    """Hands each record to several consumers, in order (each one's cost is O(1) per request)."""

    enabled = True

    def __init__(self, consumers: Iterable[MetricsSink]) -> None:
        self.consumers = tuple(consumers)

    def record(self, record: RequestRecord) -> None:
        for consumer in self.consumers:
            consumer.record(record)

    async def drain(self) -> None:
        for consumer in self.consumers:
            await consumer.drain()

    def close(self) -> None:
        for consumer in self.consumers:
            consumer.close()


def observe_all(*consumers: MetricsSink) -> MetricsSink:
    """The enabled consumers as one observer: the null `MetricsSink` when none, itself when one."""
    live = [c for c in consumers if c.enabled]
    if not live:
        return MetricsSink()
    return live[0] if len(live) == 1 else Observers(live)
