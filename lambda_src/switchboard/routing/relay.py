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
from dataclasses import dataclass
from time import perf_counter

import orjson

from switchboard.asgi import Send
from switchboard.errors import UpstreamError, safe_upstream_message
from switchboard.routing.executor import StreamStart, to_events
from switchboard.telemetry.timing import Timing
from switchboard.values import Usage
from switchboard.wire.readers import StreamReader
from switchboard.wire.sse import EventTooLarge

HEARTBEAT = b": keep-alive\n\n"


class _Watch:
    """One sleeping task per stream instead of a timer rescheduled on every chunk: it ends a stream
    whose upstream stays silent for `idle_s` (the relay's task is cancelled and reports `stalled`),
    and sends an SSE comment to the client whenever nothing was sent for `heartbeat_s` (a model that
    thinks for minutes must not be cut by a proxy's read timeout). Heartbeats go straight to the
    client's `send`, past any translation: every SSE client ignores comments. The relay only stamps
    two times per chunk."""

    __slots__ = ("_beat", "_idle", "_relay", "_send", "_task", "heard", "sent", "stalled")

    def __init__(self, send: Send, idle_s: float, heartbeat_s: float) -> None:
        self.heard = self.sent = perf_counter()
        self.stalled = False
        self._send = send
        self._idle = idle_s
        self._beat = heartbeat_s if heartbeat_s > 0 else float("inf")
        self._relay = asyncio.current_task()
        self._task: asyncio.Task[None] | None = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            now = perf_counter()
            idle_at, beat_at = self.heard + self._idle, self.sent + self._beat
            if now >= idle_at:
                self.stalled = True
                if self._relay is not None:
                    self._relay.cancel()
                return
            if now >= beat_at:
                self.sent = now
                await self._send({"type": "http.response.body", "body": HEARTBEAT, "more_body": True})
                continue
            await asyncio.sleep(min(idle_at, beat_at) - now)

    def stop(self) -> None:
        task, self._task = self._task, None  # no cycle through the cancelled task's traceback
        if task is not None:
            task.cancel()


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
            batch.error = reader.error_event(f"stream interrupted: {detail}", _INTERRUPTED, _UPSTREAM)
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
    watch = _Watch(raw_send or send, idle_timeout_s, heartbeat_s)
    # the stream's usage, as the provider reported it: the translator reads the provider's own
    # events; a stream already in the client's or the executor's format is read by its reader
    metered = translator if translator is not None else reader
    timing.metered = metered  # the timing comment prices this usage
    try:
        _collect(start.prefix, timing, batch, reader, secrets)
        timing.first_token = perf_counter()
        if not (batch.final or batch.error):
            if batch.out:
                await send({"type": "http.response.body", "body": b"".join(batch.out), "more_body": True})
                batch.out.clear()
            chunks = start.chunks
            while True:
                waited = perf_counter()
                try:
                    chunk = await anext(chunks)
                except StopAsyncIteration:
                    break
                finally:
                    watch.heard = now = perf_counter()
                    timing.upstream += now - waited
                batch = _Batch()
                _collect(to_events(chunk, splitter, translator), timing, batch, reader, secrets)
                if batch.final or batch.error:
                    break
                if batch.out:
                    await send({"type": "http.response.body", "body": b"".join(batch.out), "more_body": True})
                    batch.out.clear()
                    watch.sent = perf_counter()
        if batch.final:
            outcome = "done"
            tail = timing.sse_comment(perf_counter(), provider, model) + batch.final
        elif batch.error:
            outcome = "upstream_error"
            tail = batch.error
        else:
            tail = reader.error_event("upstream stream ended before completion", _INTERRUPTED, _UPSTREAM)
        tail = b"".join(batch.out) + tail if batch.out else tail
    except asyncio.CancelledError:
        if not watch.stalled:
            raise  # the client went away (or shutdown): not ours to answer
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        outcome = "stalled"
        tail = reader.error_event(
            f"upstream stream stalled for {idle_timeout_s:.0f} s", "stream_timeout", "timeout_error"
        )
    except UpstreamError:
        outcome = "lost"
        tail = reader.error_event("upstream connection lost mid-stream", _INTERRUPTED, _UPSTREAM)
    except EventTooLarge:
        outcome = "cut"
        tail = reader.error_event("upstream stream event too large", _INTERRUPTED, _UPSTREAM)
    finally:
        watch.stop()
        await start.response.aclose()
    if outcome != "done":
        tail += timing.sse_comment(perf_counter(), provider, model)
    await send({"type": "http.response.body", "body": tail, "more_body": False})
    return Relayed(outcome, metered.usage)
