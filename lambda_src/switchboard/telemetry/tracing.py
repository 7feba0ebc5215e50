"""OpenTelemetry traces, opt-in: one SERVER span per request, one CLIENT span per upstream attempt.

Off (`[telemetry] otlp_endpoint` unset) the tracer is `NoTracer`: every request shares the one
`NO_SPAN`, whose methods do nothing, so the pipeline and the executor never ask whether tracing is
on and no span object, id or clock read is made. On, `Tracer.start` honours an incoming W3C
`traceparent` (same trace id, the request span its child, its sampled flag obeyed; new traces are
sampled at `sample_ratio`), each attempt span writes its own `traceparent` into the upstream
request's headers, and ended spans go to the exporter's bounded queue (`otlp.py`), which sends them
off the request path. Span attributes follow the GenAI semantic conventions (`gen_ai.*`) plus
Switchboard's own (`switchboard.*`); request and response bodies never go into a span.
"""

from __future__ import annotations

import random
import re
import time
from typing import Protocol

from switchboard.config import Target

Attributes = dict[str, str | int | float | bool | list[str]]

KIND_SERVER = 2
KIND_CLIENT = 3
_TRACEPARENT = re.compile(rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_rand = random.Random()  # span ids need uniqueness, not secrecy (as OTel's own SDK)


class SpanSink(Protocol):
    def submit(self, span: Span) -> None:
        """Takes an ended span without waiting (queues it, or drops and counts it)."""
        ...

    def take_dropped(self) -> int:
        """Spans dropped since the last call."""
        ...

    async def aclose(self) -> None:
        """Sends what is queued (bounded by the export timeout) and releases the connection."""
        ...


class NoSpan:
    """A span that records nothing: tracing is off, or this trace is not sampled."""

    __slots__ = ()
    recording = False

    def attempt(self, system: str, target: Target, number: int, operation: str) -> NoSpan:
        """The span of one upstream attempt (a child of this request span)."""
        return self

    def inject(self, headers: dict[str, str]) -> None:
        """Writes this span's `traceparent` into an upstream request's headers."""
        return

    def fail(self, error_type: str) -> None:
        """Marks the span failed (`error.type`)."""
        return

    def end(self, status: int = 0, error: BaseException | None = None) -> None:
        """An attempt's end: the upstream's HTTP status (0: no answer) and the error, if any."""
        return

    def hold(self, status: int) -> None:
        """An attempt whose answer is still being read (a started stream): it ends with the request."""
        return


NO_SPAN = NoSpan()


class Unsampled(NoSpan):
    """A caller's trace that is not sampled: nothing recorded, but the context still goes upstream
    (W3C: the sampled flag stays 0 downstream)."""

    __slots__ = ("_header",)

    def __init__(self, trace_id: bytes, parent_id: bytes) -> None:
        self._header = f"00-{trace_id.decode()}-{parent_id.decode()}-00"

    def inject(self, headers: dict[str, str]) -> None:
        headers["traceparent"] = self._header


class Span(NoSpan):
    """A recorded span. Ids are ints (hex only at export); times are Unix nanoseconds."""

    __slots__ = (
        "attributes",
        "end_ns",
        "error_type",
        "kind",
        "name",
        "open_child",
        "parent_id",
        "sink",
        "span_id",
        "start_ns",
        "system",
        "trace_id",
    )
    recording = True

    def __init__(self, sink: SpanSink, trace_id: int, parent_id: int, kind: int, name: str) -> None:
        self.sink = sink
        self.trace_id = trace_id
        self.span_id = _rand.getrandbits(64) or 1
        self.parent_id = parent_id
        self.kind = kind
        self.name = name
        self.start_ns = time.time_ns()
        self.end_ns = 0
        self.attributes: Attributes = {}
        self.error_type: str | None = None
        self.system: str | None = None
        """The provider type of the last attempt (`gen_ai.system` of the request span)."""
        self.open_child: Span | None = None
        """A stream's successful attempt: it ends with the request, when the stream has been relayed."""

    def attempt(self, system: str, target: Target, number: int, operation: str) -> Span:
        self.close_child()
        child = Span(self.sink, self.trace_id, self.span_id, KIND_CLIENT, f"{operation} {target.model}")
        child.system = self.system = system
        child.attributes = {
            "gen_ai.system": system,
            "gen_ai.operation.name": operation,
            "gen_ai.request.model": target.model,
            "switchboard.provider": target.provider,
            "switchboard.attempt": number,
        }
        self.open_child = child
        return child

    def inject(self, headers: dict[str, str]) -> None:
        headers["traceparent"] = f"00-{self.trace_id:032x}-{self.span_id:016x}-01"

    def fail(self, error_type: str) -> None:
        self.error_type = error_type

    def end(self, status: int = 0, error: BaseException | None = None) -> None:
        if self.end_ns:
            return
        if status:
            self.attributes["http.response.status_code"] = status
        if error is not None:
            self.error_type = type(error).__name__
        self.end_ns = time.time_ns()
        self.sink.submit(self)

    def hold(self, status: int) -> None:
        self.attributes["http.response.status_code"] = status

    def close_child(self) -> None:
        child, self.open_child = self.open_child, None
        if child is not None:
            child.end()

    def end_request(self, name: str, attributes: Attributes) -> None:
        """The request span's end, after the response: its open attempt ends first."""
        self.close_child()
        self.name = name
        self.attributes.update(attributes)
        self.end(0)


class NoTracer:
    """Tracing off: every request gets `NO_SPAN`."""

    enabled = False

    def start(self, traceparent: bytes | None) -> NoSpan:
        return NO_SPAN

    def take_dropped(self) -> int:
        return 0

    async def aclose(self) -> None:
        return None


class Tracer(NoTracer):
    """Starts request spans (see the module docstring); `sink` is the exporter."""

    enabled = True

    def __init__(self, sink: SpanSink, sample_ratio: float = 1.0, region: str = "local") -> None:
        self.sink = sink
        self.sample_ratio = sample_ratio
        self.region = region

    def _span(self, trace_id: int, parent_id: int) -> Span:
        span = Span(self.sink, trace_id, parent_id, KIND_SERVER, "request")
        span.attributes["switchboard.region"] = self.region
        return span

    def start(self, traceparent: bytes | None) -> NoSpan:
        if traceparent is not None and (found := _TRACEPARENT.fullmatch(traceparent.strip())):
            version, trace_hex, parent_hex, flags = found.group(1, 2, 3, 4)
            if version != b"ff" and (version != b"00" or found.group(5) is None):
                trace_id, parent_id = int(trace_hex, 16), int(parent_hex, 16)
                if trace_id and parent_id:
                    if not int(flags, 16) & 1:
                        return Unsampled(trace_hex, parent_hex)
                    return self._span(trace_id, parent_id)
        if self.sample_ratio < 1.0 and _rand.random() >= self.sample_ratio:
            return NO_SPAN
        return self._span(_rand.getrandbits(128) or 1, 0)

    def take_dropped(self) -> int:
        """Spans dropped since the last call (the metrics record's `TraceSpansDropped`)."""
        return self.sink.take_dropped()

    async def aclose(self) -> None:
        await self.sink.aclose()
