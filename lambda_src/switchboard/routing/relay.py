"""Relay of a started stream to the client, event by event.

Every upstream read is translated (if the adapter needs it), checked for `[DONE]` and error events,
and sent to the client at once as one ASGI body message. The full-stream timing goes out as an SSE
comment just before `data: [DONE]`. A failure after output has reached the client ends the stream
with an OpenAI-style error event and no `[DONE]`: never a silent clean end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from time import perf_counter
from typing import Any

import httpx
import orjson

from switchboard.constants import SSE_DONE
from switchboard.errors import safe_upstream_message
from switchboard.routing.executor import StreamStart, to_events
from switchboard.telemetry.timing import Timing
from switchboard.wire.sse import EventTooLarge, error_payload, event_data, is_done

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def error_event(message: str, code: str, kind: str = "upstream_error") -> bytes:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return b"data: " + orjson.dumps(body) + b"\n\n"


class _Batch:
    __slots__ = ("done", "error", "out")

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.done = False
        self.error: bytes | None = None


def _collect(
    events: list[bytes], timing: Timing, batch: _Batch, secrets: tuple[str, ...], strip_usage: bool = False
) -> None:
    for event in events:
        if is_done(event):
            batch.done = True
            return
        upstream_error = error_payload(event)
        if upstream_error is not None:
            detail = (
                safe_upstream_message(orjson.dumps(upstream_error), secrets) or "upstream reported an error"
            )
            batch.error = error_event(f"stream interrupted: {detail}", "stream_interrupted")
            return
        if event[:1] != b":":
            if b'"usage":{' in event or b'"usage": {' in event:
                chunk = orjson.loads(event_data(event) or b"{}") or {}
                usage = chunk.get("usage")
                if isinstance(usage, dict):
                    timing.usage = usage
                    if strip_usage and not chunk.get("choices"):
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
    strip_usage: bool = False,
) -> str:
    """Relay the stream; returns the outcome (`done`, `cut`, `stalled`, `upstream_error`, `lost`).
    With `strip_usage`, the usage-only chunk is read (into `timing.usage`) but not relayed."""
    provider, model = start.target.provider, start.target.model
    translator = start.translator
    splitter = start.splitter
    outcome = "cut"
    tail: bytes | None = None
    try:
        batch = _Batch()
        _collect(start.prefix, timing, batch, secrets, strip_usage)
        timing.first_token = perf_counter()
        if not (batch.done or batch.error):
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
                    events = to_events(chunk, splitter, translator)
                    batch = _Batch()
                    _collect(events, timing, batch, secrets, strip_usage)
                    if batch.done or batch.error:
                        break
                    if batch.out:
                        await send(
                            {"type": "http.response.body", "body": b"".join(batch.out), "more_body": True}
                        )
                        batch.out.clear()
        if batch.done:
            outcome = "done"
            tail = timing.sse_comment(perf_counter(), provider, model) + SSE_DONE
        elif batch.error:
            outcome = "upstream_error"
            tail = batch.error
        else:
            tail = error_event("upstream stream ended before completion", "stream_interrupted")
        tail = b"".join(batch.out) + tail if batch.out else tail
    except TimeoutError:
        outcome = "stalled"
        tail = error_event(
            f"upstream stream stalled for {idle_timeout_s:.0f} s", "stream_timeout", "timeout_error"
        )
    except httpx.TransportError:
        outcome = "lost"
        tail = error_event("upstream connection lost mid-stream", "stream_interrupted")
    except EventTooLarge:
        outcome = "cut"
        tail = error_event("upstream stream event too large", "stream_interrupted")
    finally:
        await start.response.aclose()
    if outcome != "done":
        tail += timing.sse_comment(perf_counter(), provider, model)
    await send({"type": "http.response.body", "body": tail, "more_body": False})
    return outcome
