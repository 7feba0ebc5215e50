"""Stage: execute. The request goes to its planned target chain through the executor (fallback,
retries, one deadline) and the answer to the client: a complete JSON answer rendered in the client's
dialect, or a stream relayed event by event through the client's `StreamWriter` (translated into the
client's events when its dialect is not the executor's). A target that serves the client's own API
answers in it: that answer is relayed untouched (pass-through). Records what `finish` needs: the
target, the usage (a value read once by the adapter or the stream's reader), the outcome.

A stream whose first output is slow is committed early (`routing.stream_commit_ms`): 200 and the SSE
headers go out, then keep-alive comments, while the executor keeps trying targets; nothing but
comments has reached the client, so fallback stays invisible, and only a final failure becomes an
error event (in the client's dialect) instead of an HTTP status."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from time import perf_counter

from switchboard.asgi import Message, Send
from switchboard.config import Config, Target
from switchboard.dialects.request import ChatRequest
from switchboard.errors import GatewayError
from switchboard.pipeline import respond
from switchboard.pipeline.context import RequestContext
from switchboard.pipeline.dropped import for_target
from switchboard.routing.executor import Executor
from switchboard.routing.relay import HEARTBEAT, relay
from switchboard.wire.openai import error_event


async def complete(ctx: RequestContext, config: Config, executor: Executor) -> bytes:
    """The complete answer in the client's dialect (sent by `respond.send_answer`)."""
    request, plan = ctx.request, ctx.plan
    assert request is not None
    assert plan is not None
    result = await executor.complete(request, plan.targets, plan.deadline_s, ctx.timing, plan.balance)
    ctx.target, ctx.usage = result.target, result.usage
    if result.native is not None:  # the client's own API, passed through: relayed as it is
        ctx.passed_through = True
        return result.content
    _name_dropped(request, config, result.target, result.refused)
    render = ctx.dialect.render
    return result.content if render is None else render(result.content, request)


async def stream(
    ctx: RequestContext,
    config: Config,
    executor: Executor,
    region: bytes,
    before_final: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Relay a stream; `before_final` runs once the last event is known and before it is sent (a
    Responses answer is stored before the client can see `response.completed` and follow it up)."""
    request, plan = ctx.request, ctx.plan
    assert request is not None
    assert plan is not None
    policy = config.routing
    early = _EarlyCommit(ctx, region, policy.stream_commit_ms, policy.stream_heartbeat_ms)
    try:
        opened = await executor.open_stream(request, plan.targets, plan.deadline_s, ctx.timing, plan.balance)
    except GatewayError as error:
        if await early.stop():
            await _fail_committed(ctx, error)
        raise
    except BaseException:
        await early.stop()
        raise
    committed = await early.stop()
    ctx.target = opened.target
    ctx.passed_through = opened.native is not None
    if not ctx.passed_through:  # (a passed-through request drops nothing and is never translated)
        _name_dropped(request, config, opened.target, opened.refused)
    respond.price_stream(ctx, opened.target)
    if not committed:
        await respond.start_stream(ctx, region, opened.target)
    ctx.status = 200
    stream_events = ctx.dialect.stream_events
    if stream_events is not None and opened.native is None:
        ctx.renderer = stream_events(request)
    captured: list[bytes] | None = None
    if ctx.cache_policy is not None:
        ctx.client_body = captured = []
    writer = StreamWriter(ctx, captured, ctx.renderer.feed if ctx.renderer else None, before_final)
    relayed = await relay(
        opened,
        writer,
        ctx.timing,
        idle_timeout_s=policy.stream_idle_timeout_ms / 1000.0,
        secrets=executor.credentials.known_values(),
        heartbeat_s=policy.stream_heartbeat_ms / 1000.0,
        raw_send=ctx.send,
    )
    ctx.outcome, ctx.usage = relayed.outcome, relayed.usage


class StreamWriter:
    """The client's side of a started stream: every body message the relay sends goes through it
    (translated into the client's events, copied for the cache), and before the last one goes out
    `before_final` runs; once it is sent the response is complete (a disconnect now cancels nothing).
    Keep-alive comments bypass it (they go straight to the client's `send`)."""

    __slots__ = ("_before_final", "_captured", "_ctx", "_feed", "_send")

    def __init__(
        self,
        ctx: RequestContext,
        captured: list[bytes] | None,
        feed: Callable[[bytes], bytes] | None,
        before_final: Callable[[], Awaitable[None]] | None,
    ) -> None:
        self._ctx = ctx
        self._send = ctx.send
        self._captured = captured
        self._feed = feed
        self._before_final = before_final

    async def __call__(self, message: Message) -> None:
        body = message.get("body", b"")
        if self._feed is not None:
            body = self._feed(body)
        more = bool(message.get("more_body", False))
        if not more and self._before_final is not None:
            await self._before_final()
        if self._captured is not None:
            self._captured.append(body)
        await self._send({"type": "http.response.body", "body": body, "more_body": more})
        if not more:
            self._ctx.response_complete = True


class _EarlyCommit:
    """Commits a stream whose first output is late: after `commit_ms` the SSE headers go out (no
    target yet: the timing comment names it), then a keep-alive comment every `heartbeat_ms`,
    until `stop`. Sends hold a lock that `stop` takes, so stopping never interrupts one. Until
    `commit_ms` has passed it is a timer handle, not a task: a stream whose first output is on time
    (nearly all) never starts one."""

    __slots__ = ("_beat", "_ctx", "_lock", "_region", "_task", "_timer", "committed")

    def __init__(self, ctx: RequestContext, region: bytes, commit_ms: int, heartbeat_ms: int) -> None:
        self.committed = False
        self._ctx = ctx
        self._region = region
        self._beat = heartbeat_ms / 1000.0 if heartbeat_ms > 0 else commit_ms / 1000.0
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        if commit_ms > 0:
            self._timer = asyncio.get_running_loop().call_later(commit_ms / 1000.0, self._start)

    def _start(self) -> None:
        self._timer = None
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        async with self._lock:
            await respond.start_stream(self._ctx, self._region, None)
            self.committed = True
        send: Send = self._ctx.send
        while True:
            async with self._lock:
                await send({"type": "http.response.body", "body": HEARTBEAT, "more_body": True})
            await asyncio.sleep(self._beat)

    async def stop(self) -> bool:
        """Stop committing and beating; True when the response had been committed."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        task, self._task = self._task, None  # no cycle through the cancelled task's traceback
        if task is not None:
            async with self._lock:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return self.committed


async def _fail_committed(ctx: RequestContext, error: GatewayError) -> None:
    """A committed stream whose targets all failed ends with an error event in the client's
    dialect, then the timing comment (no final event: never a clean end)."""
    request = ctx.request
    event = error_event(error.message, error.error_code, error.type)
    stream_events = ctx.dialect.stream_events
    if stream_events is not None and request is not None:
        ctx.renderer = stream_events(request)
        event = ctx.renderer.feed(event)
    comment = ctx.timing.sse_comment(perf_counter(), "-", "-")
    await ctx.send({"type": "http.response.body", "body": event + comment, "more_body": False})
    ctx.response_complete = True


def _name_dropped(request: ChatRequest, config: Config, target: Target, refused: tuple[str, ...]) -> None:
    """`x-switchboard-dropped` for the serving target: what its translation leaves out, and the
    settings its model refuses, which the executor left out of its request (`routing/model_rules.py`;
    the executor reports them, so the rules are not worked out a second time)."""
    kind = config.providers[target.provider].type
    request.dropped = for_target(request.dropped, kind, refused)
