"""One CloudWatch Embedded Metric Format record per request, written off the hot path.

Records are built with aws-lambda-powertools `Metrics` (namespace `Switchboard`, dimensions
`region` and `service`; per-request details go in as metadata, not dimensions, to keep cardinality
low) and written after the response has been sent (`loop.call_soon`). `metrics = "stdout"` is what
Lambda wants (CloudWatch Logs turns EMF lines into metrics); a file path appends the lines there;
`off` (the local default) skips the work.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass
from typing import IO, Any

import orjson

log = logging.getLogger("switchboard.metrics")


@dataclass(slots=True)
class RequestRecord:
    route: str
    status: int
    model: str | None
    provider: str | None
    upstream_model: str | None
    stream: bool
    attempts: int
    overhead_ms: float
    upstream_ms: float
    total_ms: float
    ttft_ms: float | None
    request_id: str
    outcome: str


class MetricsSink:
    """Does nothing: the `off` setting."""

    enabled = False

    def record(self, record: RequestRecord) -> None:
        return None

    def close(self) -> None:
        return None


class EMFSink(MetricsSink):
    enabled = True

    def __init__(self, region: str, stream: IO[str] | None = None, path: str | None = None) -> None:
        from aws_lambda_powertools.metrics import Metrics, MetricUnit

        self._unit = MetricUnit
        self._metrics = Metrics(namespace="Switchboard", service="gateway")
        self._region = region
        self._path = path
        self._pending: list[RequestRecord] = []
        self._stream = (
            stream if stream is not None else (open(path, "a", encoding="utf-8") if path else sys.stdout)  # noqa: SIM115
        )

    def record(self, record: RequestRecord) -> None:
        self._pending.append(record)
        if len(self._pending) == 1:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop (a sync caller): write now
                self.flush()

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        try:
            self._stream.write("".join(orjson.dumps(self.serialize(r)).decode() + "\n" for r in pending))
            self._stream.flush()
        except Exception:  # metrics must never break serving
            log.warning("metrics records could not be written", exc_info=True)

    def serialize(self, record: RequestRecord) -> dict[str, Any]:
        m, unit = self._metrics, self._unit
        m.add_dimension(name="region", value=self._region)
        m.add_metric(name="Requests", unit=unit.Count, value=1)
        m.add_metric(name="OverheadMs", unit=unit.Milliseconds, value=record.overhead_ms)
        m.add_metric(name="UpstreamMs", unit=unit.Milliseconds, value=record.upstream_ms)
        m.add_metric(name="TotalMs", unit=unit.Milliseconds, value=record.total_ms)
        if record.ttft_ms is not None:
            m.add_metric(name="TimeToFirstTokenMs", unit=unit.Milliseconds, value=record.ttft_ms)
        if record.attempts > 1:
            m.add_metric(name="Fallbacks", unit=unit.Count, value=record.attempts - 1)
        if record.status >= 500:
            m.add_metric(name="Errors5xx", unit=unit.Count, value=1)
        elif record.status >= 400:
            m.add_metric(name="Errors4xx", unit=unit.Count, value=1)
        if record.outcome not in ("ok", "done"):
            m.add_metric(name="StreamErrors" if record.stream else "Failures", unit=unit.Count, value=1)
        for key in (
            "route",
            "status",
            "model",
            "provider",
            "upstream_model",
            "stream",
            "request_id",
            "outcome",
        ):
            m.add_metadata(key=key, value=getattr(record, key))
        try:
            return dict(m.serialize_metric_set())
        finally:
            m.clear_metrics()  # also clears dimensions and metadata

    def close(self) -> None:
        self.flush()
        if self._path:
            self._stream.close()


def make_sink(setting: str, region: str) -> MetricsSink:
    if setting == "off":
        return MetricsSink()
    if setting == "stdout":
        return EMFSink(region)
    return EMFSink(region, path=setting)
