"""Relay of a started stream to the client, event by event.

Every upstream read is translated (if the adapter needs it), checked for `[DONE]` and error events,
and sent to the client at once as one ASGI body message. The full-stream timing goes out as an SSE
comment just before the final event (`data: [DONE]`, or the final event of the client's own format
when a stream is passed through). A failure after output has reached the client ends the stream
with an error event of that format and no final event: never a silent clean end. The usage the stream
reported comes back as data (`Relayed.usage`); the relay never answers anything but the stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import orjson

from switchboard.errors import UpstreamError, safe_upstream_message
from switchboard.routing.executor import StreamStart, to_events
from switchboard.telemetry.timing import Timing
from switchboard.wire.openai import Usage
from switchboard.wire.readers import StreamReader
from switchboard.wire.sse import EventTooLarge

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


HEARTBEAT = b": keep-alive\n\n"


class _Heartbeat:
    """Sends an SSE comment to the client whenever nothing was sent for `interval_s` (a long silent
    upstream: reasoning models may think for minutes). Written straight to the client's `send`, past
    any translation: every SSE client ignores comments. One sleeping task per stream; the relay only
    stamps the time of its last send."""

    __slots__ = ("_interval", "_send", "_task", "last")

    def __init__(self, send: Send, interval_s: float) -> None:
        self._send = send
        self._interval = interval_s
        self.last = perf_counter()
        self._task = asyncio.get_running_loop().create_task(self._beat())

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(max(0.0, self.last + self._interval - perf_counter()))
            if perf_counter() - self.last >= self._interval:
                self.last = perf_counter()
                await self._send({"type": "http.response.body", "body": HEARTBEAT, "more_body": True})

    def stop(self) -> None:
        self._task.cancel()


@dataclass(slots=True)
class Relayed:
    outcome: str
    """`done`, `cut`, `stalled`, `upstream_error` or `lost`."""
    usage: Usage | None


_INTERRUPTED = "stream_interrupted"
_UPSTREAM = "upstream_error"


class _Batch:
    __slots__ = ("error", "final", "out")

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.final: bytes | None = None
        self.error: bytes | None = None


def _collect(
    events: list[bytes], timing: Timing, batch: _Batch, reader: StreamReader, secrets: tuple[str, ...]
) -> None:
    for event in events:
        if reader.is_final(event):
            reader.read_usage(event)
            batch.final = reader.final_event(event)
            return
        upstream_error = reader.error(event)
        if upstream_error is not None:
            detail = (
                safe_upstream_message(orjson.dumps(upstream_error), secrets) or "upstream reported an error"
            )
            batch.error = reader.error_event(
                f"stream interrupted: {detail}", "stream_interrupted", "upstream_error"
            )
            return
        if event[:1] != b":":
            if reader.read_usage(event):
                continue  # the usage chunk Switchboard asked for, not the client
            timing.chunks += 1
        batch.out.append(event)


async def relay(
    start: StreamStart,
    send: Send,
    timing: Timing,
    *,
    idle_timeout_s: float,
    secrets: tuple[str, ...] = (),
    heartbeat_s: float = 0.0,
    raw_send: Send | None = None,
) -> Relayed:
    """Relay the stream in the reader's format (the usage Switchboard asked for is read, not relayed)."""
    provider, model = start.target.provider, start.target.model
    translator, splitter, reader = start.translator, start.splitter, start.reader
    outcome = "cut"
    batch = _Batch()
    beat = _Heartbeat(raw_send or send, heartbeat_s) if heartbeat_s > 0 else None
    try:
        _collect(start.prefix, timing, batch, reader, secrets)
        timing.first_token = perf_counter()
        if not (batch.final or batch.error):
            if batch.out:
                await send({"type": "http.response.body", "body": b"".join(batch.out), "more_body": True})
                batch.out.clear()
            loop = asyncio.get_running_loop()
            chunks = start.chunks
            async with asyncio.timeout(idle_timeout_s) as idle:
                while True:
                    waited = perf_counter()
                    try:
                        chunk = await anext(chunks)
                    except StopAsyncIteration:
                        break
                    finally:
                        timing.upstream += perf_counter() - waited
                    idle.reschedule(loop.time() + idle_timeout_s)
                    batch = _Batch()
                    _collect(to_events(chunk, splitter, translator), timing, batch, reader, secrets)
                    if batch.final or batch.error:
                        break
                    if batch.out:
                        await send(
                            {"type": "http.response.body", "body": b"".join(batch.out), "more_body": True}
                        )
                        batch.out.clear()
                        if beat is not None:
                            beat.last = perf_counter()
        if batch.final:
            outcome = "done"
            tail = timing.sse_comment(perf_counter(), provider, model) + batch.final
        elif batch.error:
            outcome = "upstream_error"
            tail = batch.error
        else:
            tail = reader.error_event(
                "upstream stream ended before completion", "stream_interrupted", "upstream_error"
            )
        tail = b"".join(batch.out) + tail if batch.out else tail
    except TimeoutError:
        outcome = "stalled"
        tail = reader.error_event(
            f"upstream stream stalled for {idle_timeout_s:.0f} s", "stream_timeout", "timeout_error"
        )
    except UpstreamError:
        outcome = "lost"
        tail = reader.error_event(
            "upstream connection lost mid-stream", "stream_interrupted", "upstream_error"
        )
    except EventTooLarge:
        outcome = "cut"
        tail = reader.error_event("upstream stream event too large", _INTERRUPTED, _UPSTREAM)
    finally:
        if beat is not None:
            beat.stop()
        await start.response.aclose()
    if outcome != "done":
        tail += timing.sse_comment(perf_counter(), provider, model)
    await send({"type": "http.response.body", "body": tail, "more_body": False})
    return Relayed(outcome, reader.usage)
