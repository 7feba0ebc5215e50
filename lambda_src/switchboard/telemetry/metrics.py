"""One CloudWatch Embedded Metric Format record per request, written off the hot path.

Records have exactly the shape aws-lambda-powertools `Metrics` serializes (namespace `Switchboard`,
dimensions `region` and `service`; per-request details go in as metadata, not dimensions, to keep
cardinality low; a test compares the two) and are written after the response has been sent
(`loop.call_soon`, batched per loop turn). `metrics = "stdout"` is what
Lambda wants (CloudWatch Logs turns EMF lines into metrics); a file path appends the lines there;
`off` (the local default) skips the work.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from dataclasses import dataclass
from typing import IO, Any

import orjson

log = logging.getLogger("switchboard.metrics")
NAMESPACE = "Switchboard"
SERVICE = "gateway"


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
    cache: str = "bypass"
    """hit, miss, refresh or bypass."""
    cache_too_large: bool = False
    spans_dropped: int = 0
    """Trace spans dropped (exporter queue full) since the previous record."""
    at: float = 0.0
    """Epoch seconds when the request finished."""
    key_id: str | None = None
    tenant: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    """Prompt tokens read from the provider's cache (part of `prompt_tokens`)."""
    cache_write_tokens: int = 0
    """Prompt tokens written to the provider's cache (part of `prompt_tokens`)."""
    cost_nano_usd: int | None = 0
    """None: the target is unpriced (its cost is unknown)."""
    cause: str = "none"
    """Whose failure it was (telemetry/cause.py): none, client, provider, gateway or direct."""


class MetricsSink:
    """Does nothing: the `off` setting. Also the interface of every consumer of the per-request
    record (`telemetry/observer.py`): `enabled`, `record`, `drain`, `close`."""

    enabled = False

    def record(self, record: RequestRecord) -> None:
        return None

    async def drain(self) -> None:
        """Shutdown, before the store closes: write what is pending to it (the per-minute aggregates)."""
        return

    def close(self) -> None:
        return None


_UNITS = {
    "Requests": "Count",
    "OverheadMs": "Milliseconds",
    "UpstreamMs": "Milliseconds",
    "TotalMs": "Milliseconds",
    "TimeToFirstTokenMs": "Milliseconds",
    "Fallbacks": "Count",
    "Errors5xx": "Count",
    "Errors4xx": "Count",
    "Failures": "Count",
    "StreamErrors": "Count",
    "CacheHits": "Count",
    "CacheMisses": "Count",
    "CacheTooLarge": "Count",
    "TraceSpansDropped": "Count",
}
_METADATA = (
    "route",
    "status",
    "model",
    "provider",
    "upstream_model",
    "stream",
    "request_id",
    "outcome",
    "cache",
    "cause",
)
CAUSE_METRIC = "FailuresByCause"
"""Count of failed requests with the `cause` dimension (a separate EMF document: the region-wide
metrics keep their two dimensions). Alarms divide it by `Requests` of the same region."""
_COUNTED_CAUSES = frozenset({"provider", "gateway", "direct"})


def record_metrics(record: RequestRecord) -> dict[str, float]:
    """The metric values of one request (name -> value), in a stable order."""
    values = {
        "Requests": 1.0,
        "OverheadMs": record.overhead_ms,
        "UpstreamMs": record.upstream_ms,
        "TotalMs": record.total_ms,
    }
    if record.ttft_ms is not None:
        values["TimeToFirstTokenMs"] = record.ttft_ms
    if record.attempts > 1:
        values["Fallbacks"] = float(record.attempts - 1)
    if record.status >= 500:
        values["Errors5xx"] = 1.0
    elif record.status >= 400:
        values["Errors4xx"] = 1.0
    if record.outcome not in ("ok", "done"):
        values["StreamErrors" if record.stream else "Failures"] = 1.0
    if record.cache == "hit":
        values["CacheHits"] = 1.0
    elif record.cache != "bypass":
        values["CacheMisses"] = 1.0
    if record.cache_too_large:
        values["CacheTooLarge"] = 1.0
    if record.spans_dropped:
        values["TraceSpansDropped"] = float(record.spans_dropped)
    return values


class LineSink(MetricsSink):
    """Writes one line per record to a text stream, batched per event-loop turn (`loop.call_soon`,
    after the response has been sent); a failing stream never breaks serving."""

    enabled = True

    def __init__(self, stream: IO[str] | None = None, path: str | None = None) -> None:
        self._path = path
        self._pending: list[RequestRecord] = []
        self._stream = (
            stream if stream is not None else (open(path, "a", encoding="utf-8") if path else sys.stdout)  # noqa: SIM115
        )

    def line(self, record: RequestRecord) -> bytes:
        raise NotImplementedError

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
            self._stream.write(b"".join(self.line(r) + b"\n" for r in pending).decode())
            self._stream.flush()
        except Exception:  # metrics and logs must never break serving
            log.warning("per-request records could not be written", exc_info=True)

    def close(self) -> None:
        self.flush()
        if self._path:
            self._stream.close()


class EMFSink(LineSink):
    """Writes the same EMF document Powertools' `Metrics.serialize_metric_set()` produces (a test
    holds the two equal), built directly: Powertools' own path costs ~30 us per record, which is
    ~10 % of the CPU budget of a whole request; this one costs ~3 us."""

    def __init__(self, region: str, stream: IO[str] | None = None, path: str | None = None) -> None:
        super().__init__(stream, path)
        self._region = region
        self._directives: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        self._middles: dict[tuple[str, ...], bytes] = {}

    def line(self, record: RequestRecord) -> bytes:
        """`serialize`'s document as JSON, built without re-encoding what is the same on every line
        (the directive for this set of metrics, region and service: written once per set)."""
        values = record_metrics(record)
        names = tuple(values)
        middle = self._middles.get(names)
        if middle is None:
            static = self.serialize(record, timestamp_ms=0)
            middle = self._middles[names] = (
                b',"CloudWatchMetrics":'
                + orjson.dumps(static["_aws"]["CloudWatchMetrics"])
                + b'},"region":'
                + orjson.dumps(self._region)
                + b',"service":'
                + orjson.dumps(SERVICE)
                + b","
            )
        fields = {key: getattr(record, key) for key in _METADATA}
        for name, value in values.items():
            fields[name] = [value]
        main = b'{"_aws":{"Timestamp":%d%b%b' % (int(time.time() * 1000), middle, orjson.dumps(fields)[1:])
        if record.cause in _COUNTED_CAUSES:  # a second EMF document: the cause dimension
            return main + b"\n" + orjson.dumps(self.serialize_cause(record))
        return main

    def serialize_cause(self, record: RequestRecord, timestamp_ms: int | None = None) -> dict[str, Any]:
        """`FailuresByCause` = 1 with dimensions region, service and cause (what Powertools writes
        for one metric with those three dimensions)."""
        return {
            "_aws": {
                "Timestamp": int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
                "CloudWatchMetrics": [
                    {
                        "Namespace": NAMESPACE,
                        "Dimensions": [["region", "service", "cause"]],
                        "Metrics": [{"Name": CAUSE_METRIC, "Unit": "Count"}],
                    }
                ],
            },
            "region": self._region,
            "service": SERVICE,
            "cause": record.cause,
            "request_id": record.request_id,
            CAUSE_METRIC: [1.0],
        }

    def serialize(self, record: RequestRecord, timestamp_ms: int | None = None) -> dict[str, Any]:
        values = record_metrics(record)
        names = tuple(values)
        directive = self._directives.get(names)
        if directive is None:
            directive = self._directives[names] = [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["region", "service"]],
                    "Metrics": [{"Name": name, "Unit": _UNITS[name]} for name in names],
                }
            ]
        document: dict[str, Any] = {
            "_aws": {
                "Timestamp": int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
                "CloudWatchMetrics": directive,
            },
            "region": self._region,
            "service": SERVICE,
        }
        for key in _METADATA:
            document[key] = getattr(record, key)
        for name, value in values.items():
            document[name] = [value]
        return document


def make_sink(setting: str, region: str) -> MetricsSink:
    if setting == "off":
        return MetricsSink()
    if setting == "stdout":
        return EMFSink(region)
    return EMFSink(region, path=setting)
