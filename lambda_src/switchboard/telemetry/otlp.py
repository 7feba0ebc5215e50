"""The OTLP/HTTP JSON span exporter: a bounded queue on the request path, a background task off it.

`submit` appends an ended span to a queue of at most `max_queue` spans and returns (a full queue
drops the span and counts it in `dropped`); it never waits. A background task, started by the
first span, sends a batch every `interval_s` or as soon as `batch_size` spans wait: one
`ExportTraceServiceRequest` encoded as JSON (the proto3 JSON mapping OTLP specifies: hex ids,
int64 as strings, enum kinds as numbers), POSTed to `<endpoint>/v1/traces` with aiohttp (imported
here only, when tracing is on) and a short timeout. A batch the collector refuses or never
receives is dropped and counted in `failed`, with a warning at most once a minute: a collector
that is down costs the requests nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import orjson

from switchboard.telemetry.tracing import Attributes, Span

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger("switchboard.tracing")
SCOPE = {"name": "switchboard"}
_WARN_EVERY_S = 60.0


class OTLPExporter:
    def __init__(
        self,
        endpoint: str,
        service_name: str = "switchboard",
        *,
        max_queue: int = 2048,
        batch_size: int = 256,
        interval_s: float = 1.0,
        timeout_s: float = 2.0,
    ) -> None:
        self.url = endpoint.rstrip("/") + "/v1/traces"
        self.resource = {"attributes": encode_attributes({"service.name": service_name})}
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.exported = 0
        self.failed = 0
        """Spans sent in batches that failed (collector down, refused, timed out)."""
        self.dropped = 0
        """Spans dropped because the queue was full."""
        self._dropped_reported = 0
        self._queue: deque[Span] = deque()
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._session: aiohttp.ClientSession | None = None
        self._warned_at = -_WARN_EVERY_S

    # ------------------------------------------------------------------ the request path

    def submit(self, span: Span) -> None:
        queue = self._queue
        if len(queue) >= self.max_queue:
            self.dropped += 1
            return
        queue.append(span)
        if self._task is None:
            self._start()
        elif len(queue) >= self.batch_size and self._wake is not None:
            self._wake.set()

    def take_dropped(self) -> int:
        taken = self.dropped - self._dropped_reported
        self._dropped_reported = self.dropped
        return taken

    def _start(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a sync caller): the spans wait for the next one
            return
        self._wake = asyncio.Event()
        self._task = loop.create_task(self._run(), name="switchboard-otlp-exporter")

    # ------------------------------------------------------------------ off the request path

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            if len(self._queue) < self.batch_size:
                try:
                    async with asyncio.timeout(self.interval_s):
                        await self._wake.wait()
                except TimeoutError:
                    pass
            self._wake.clear()
            while self._queue:
                await self._export(self._take())
                if len(self._queue) < self.batch_size:
                    break

    def _take(self) -> list[Span]:
        queue = self._queue
        return [queue.popleft() for _ in range(min(self.batch_size, len(queue)))]

    async def _export(self, spans: list[Span]) -> None:
        if not spans:
            return
        try:
            body = orjson.dumps(encode_request(spans, self.resource))
            session = self._session or self._open()
            async with session.post(
                self.url, data=body, headers={"content-type": "application/json"}
            ) as response:
                await response.read()
                ok = 200 <= response.status < 300
        except Exception:  # the collector is down, slow or broken: the batch is dropped
            ok = False
        if ok:
            self.exported += len(spans)
            return
        self.failed += len(spans)
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY_S:
            self._warned_at = now
            log.warning(
                "trace export to %s failed: %d spans lost so far (%d dropped, queue full)",
                self.url,
                self.failed,
                self.dropped,
            )

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session

    async def flush(self) -> None:
        """Sends everything queued now (tests, shutdown)."""
        while self._queue:
            await self._export(self._take())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
        if self._session is not None:
            await self._session.close()
            self._session = None


# --------------------------------------------------------------------------- encoding


def encode_request(spans: list[Span], resource: dict[str, Any]) -> dict[str, Any]:
    """An `ExportTraceServiceRequest` in OTLP's JSON form."""
    return {
        "resourceSpans": [
            {"resource": resource, "scopeSpans": [{"scope": SCOPE, "spans": [encode_span(s) for s in spans]}]}
        ]
    }


def encode_span(span: Span) -> dict[str, Any]:
    encoded: dict[str, Any] = {
        "traceId": f"{span.trace_id:032x}",
        "spanId": f"{span.span_id:016x}",
        "name": span.name,
        "kind": span.kind,
        "startTimeUnixNano": str(span.start_ns),
        "endTimeUnixNano": str(span.end_ns),
        "attributes": encode_attributes(span.attributes),
    }
    if span.parent_id:
        encoded["parentSpanId"] = f"{span.parent_id:016x}"
    if span.error_type is not None:
        encoded["attributes"].append({"key": "error.type", "value": {"stringValue": span.error_type}})
        encoded["status"] = {"code": 2, "message": span.error_type}  # STATUS_CODE_ERROR
    return encoded


def encode_attributes(attributes: Attributes) -> list[dict[str, Any]]:
    return [{"key": key, "value": _value(value)} for key, value in attributes.items()]


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_value(v) for v in value]}}
    return {"stringValue": str(value)}
