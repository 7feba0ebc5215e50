"""The request pipeline: one request through named stages over one `RequestContext`.

    authenticate -> read + parse (dialect) -> authorize -> plan -> admit (limits) -> cache lookup
        -> [cached: replay] | recall (conversation) -> execute -> remember -> respond
        -> finish (settle, keep, usage, metrics)

A stream's answer is remembered before its final event is sent (`execute.stream`'s `before_final`),
a JSON answer before it is sent: once the client has the whole answer, nothing is left to do that a
disconnect could cancel.

Each stage lives in its own module and owns one concern. Errors are mapped at one boundary here:
a `GatewayError` becomes an answer in the route's dialect (unless the response has started: then
the stream already ended with an error event); a client that goes away cancels the upstream work
(499); anything else is logged and answered as a 500 with the request id. `finish` runs on every
path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial

from switchboard.asgi import (
    ClientGone,
    DisconnectHook,
    Message,
    Receive,
    RequestHeaders,
    Scope,
    Send,
    disconnect_hook,
    request_id,
)
from switchboard.config import Config
from switchboard.dialects.base import Dialect
from switchboard.errors import GatewayError
from switchboard.pipeline import conversation, execute, respond
from switchboard.pipeline.admit import admit
from switchboard.pipeline.authenticate import authenticate, authorize
from switchboard.pipeline.cache_lookup import lookup_cache
from switchboard.pipeline.context import RequestContext
from switchboard.pipeline.finish import finish
from switchboard.pipeline.parse import read_request
from switchboard.pipeline.plan import plan
from switchboard.pipeline.services import Services
from switchboard.routing.executor import Executor
from switchboard.routing.policy import Plans

log = logging.getLogger("switchboard")


class _DisconnectWatch:
    """Cancels the request's task when the client goes away before its response is complete (the
    upstream call is abandoned and its connection closed). Under `switchboard serve` the connection
    says so itself (`asgi.DisconnectHook`); elsewhere the client's `receive()` runs as a task
    waiting for `http.disconnect`."""

    __slots__ = ("_ctx", "_hook", "_receiver", "fired", "task")

    def __init__(self, ctx: RequestContext, hook: DisconnectHook | None) -> None:
        self.fired = False
        self.task = asyncio.current_task()
        self._ctx = ctx
        self._hook = hook
        self._receiver: asyncio.Future[Message] | None = None
        if hook is not None:
            hook.watch(self._gone)
        else:
            self._listen()

    def _gone(self) -> None:
        if not self._ctx.response_complete and self.task is not None:
            self.fired = True
            self.task.cancel()

    def _listen(self) -> None:
        waiting = self._ctx.receive()
        receiver = self._receiver = (
            asyncio.get_running_loop().create_task(waiting)
            if asyncio.iscoroutine(waiting)
            else asyncio.ensure_future(waiting)
        )
        receiver.add_done_callback(self._heard)

    def _heard(self, receiver: asyncio.Future[Message]) -> None:
        if receiver is not self._receiver or receiver.cancelled():
            return
        self._receiver = None
        if receiver.exception() is not None:  # the server's receive failed: nothing to watch
            return
        if receiver.result()["type"] != "http.disconnect":
            self._listen()
        else:
            self._gone()

    def stop(self) -> None:
        # drop the references too: a kept task or hook callback would make every request a garbage
        # cycle (retaining its context and body until the collector runs)
        hook, self._hook = self._hook, None
        if hook is not None:
            hook.unwatch()
        receiver, self._receiver = self._receiver, None
        if receiver is not None:
            receiver.cancel()


class Watch:
    """A request's disconnect watch, armed by its stage once the body has been read (the watcher
    reads the client's messages from then on)."""

    __slots__ = ("_hook", "watch")

    def __init__(self, hook: DisconnectHook | None = None) -> None:
        self._hook = hook
        self.watch: _DisconnectWatch | None = None

    def arm(self, ctx: RequestContext) -> None:
        self.watch = _DisconnectWatch(ctx, self._hook)

    def stop(self) -> None:
        if self.watch is not None:
            self.watch.stop()
        elif self._hook is not None:  # never armed: the request is over all the same
            self._hook.unwatch()


Stage = Callable[[RequestContext, Watch], Awaitable[None]]
"""What a route does inside the pipeline's error boundary (it may arm the disconnect watch)."""


class Pipeline:
    def __init__(self, config: Config, executor: Executor, services: Services) -> None:
        self.config = config
        self.executor = executor
        self.services = services
        self.plans = Plans(config)
        self.region = config.gateway.region.encode()
        self._max_body = config.gateway.max_body_bytes

    async def __call__(self, scope: dict, receive: Receive, send: Send, dialect: Dialect) -> None:  # type: ignore[type-arg]
        await self.serve(scope, receive, send, dialect, self._answer)

    async def _answer(self, ctx: RequestContext, watch: Watch) -> None:
        """A model request: the stages from authentication to the answer."""
        services = self.services
        await authenticate(ctx, services.auth)
        await read_request(ctx, self._max_body)
        authorize(ctx, services.auth)
        plan(ctx, self.plans, services.limits, services.prices)
        await admit(ctx, services.limits)
        await lookup_cache(ctx, services.cache)
        if ctx.cache_entry is not None:
            await respond.replay(ctx, self.region, ctx.cache_entry)
            ctx.status, ctx.outcome = 200, "done" if ctx.stream else "ok"
            return
        await conversation.recall(ctx, services.conversations, self.config)
        watch.arm(ctx)
        if ctx.stream:
            remember = partial(conversation.remember, ctx, services.conversations)
            await execute.stream(ctx, self.config, self.executor, self.region, remember)
        else:
            content = await execute.complete(ctx, self.config, self.executor)
            await conversation.remember(ctx, services.conversations, content)
            await respond.send_answer(ctx, self.region, content)

    async def serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        dialect: Dialect,
        stage: Stage,
    ) -> None:
        """One request through `stage` inside the one error boundary, then `finish` (every route of
        the pipeline: model requests and the small routes such as token counting)."""
        headers = RequestHeaders(scope["headers"])
        rid = request_id(headers.request_id, headers.lambda_context, scope)
        ctx = RequestContext(dialect, headers, rid, receive, send)
        ctx.prices = self.services.prices
        ctx.timing.span = self.services.tracer.start(headers.traceparent)
        armed = Watch(disconnect_hook(scope))
        try:
            await stage(ctx, armed)
        except GatewayError as exc:
            ctx.error = type(exc)
            ctx.status = exc.http_status
            ctx.outcome = "refused" if exc.http_status < 500 else "failed"
            ctx.timing.span.fail(type(exc).__name__)
            if not ctx.response_started:
                await respond.send_error(ctx, self.region, exc)
        except ClientGone:
            ctx.outcome = "client_gone"
        except asyncio.CancelledError:
            watch = armed.watch
            if watch is None or not watch.fired:
                raise
            if watch.task is not None:
                watch.task.uncancel()
            ctx.status, ctx.outcome = 499, "client_gone"
        except Exception:
            log.exception("unhandled error serving request %s", rid.decode())
            ctx.status, ctx.outcome = 500, "internal_error"
            ctx.timing.span.fail("internal_error")
            if not ctx.response_started:
                error = GatewayError(f"internal error (request id {rid.decode()})")
                await respond.send_error(ctx, self.region, error)
        finally:
            ctx.response_complete = True
            armed.stop()
        finish(ctx, self.services)
