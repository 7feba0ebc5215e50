"""Relay of a started stream to the client, event by event.

Every upstream read is translated (if the adapter needs it), checked for `[DONE]` and error events,
and sent to the client at once as one ASGI body message. The full-stream timing goes out as an SSE
comment just before `data: [DONE]`. A failure after output has reached the client ends the stream
with an OpenAI-style error event and no `[DONE]`: never a silent clean end. The usage the stream
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
from switchboard.wire.openai import DONE, Usage, error_event, error_payload, event_usage, is_done
from switchboard.wire.sse import EventTooLarge

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(slots=True)
class Relayed:
    outcome: str
    """`done`, `cut`, `stalled`, `upstream_error` or `lost`."""
    usage: Usage | None


class _Batch:
    __slots__ = ("done", "error", "out", "usage")

    def __init__(self, usage: Usage | None) -> None:
        self.out: list[bytes] = []
        self.done = False
        self.error: bytes | None = None
        self.usage = usage


def _collect(
    events: list[bytes], timing: Timing, batch: _Batch, secrets: tuple[str, ...], strip_usage: bool
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
            usage, usage_only = event_usage(event)
            if usage is not None:
                batch.usage = usage
                if strip_usage and usage_only:
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
) -> Relayed:
    """Relay the stream. With `strip_usage`, the usage-only chunk is read but not relayed."""
    provider, model = start.target.provider, start.target.model
    translator = start.translator
    splitter = start.splitter
    outcome = "cut"
    batch = _Batch(None)
    try:
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
                    batch = _Batch(batch.usage)
                    _collect(to_events(chunk, splitter, translator), timing, batch, secrets, strip_usage)
                    if batch.done or batch.error:
                        break
                    if batch.out:
                        await send(
                            {"type": "http.response.body", "body": b"".join(batch.out), "more_body": True}
                        )
                        batch.out.clear()
        if batch.done:
            outcome = "done"
            tail = timing.sse_comment(perf_counter(), provider, model) + DONE
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
    except UpstreamError:
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
    return Relayed(outcome, batch.usage)
