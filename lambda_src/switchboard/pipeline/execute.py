"""Stage: execute. The request goes to its target chain through the executor (fallback, retries,
one deadline) and the answer to the client: a complete JSON answer rendered in the client's
dialect, or a stream relayed event by event (translated into the client's events when its dialect
is not the executor's). A target that serves the client's own API answers in it: that answer is
relayed untouched (pass-through). Records what `finish` needs: the target, the answer, the usage, the
outcome."""

from __future__ import annotations

from collections.abc import Callable

from switchboard.config import Config, Target
from switchboard.dialects.request import ChatRequest
from switchboard.edge.http import Message, Send, region_echo
from switchboard.pipeline import respond
from switchboard.pipeline.context import RequestContext
from switchboard.pipeline.dropped import for_target
from switchboard.routing.executor import Executor
from switchboard.routing.model_rules import fit
from switchboard.routing.policy import deadline_ms, plan_balance, plan_targets
from switchboard.routing.relay import relay
from switchboard.routing.strategies import Balance
from switchboard.wire.readers import json_usage


def _plan(
    ctx: RequestContext, config: Config, region: bytes
) -> tuple[ChatRequest, tuple[Target, ...], float, Balance]:
    """What both answer kinds start from: the request, its target chain, its deadline (s) and how
    the chain is balanced; a region preference is echoed on whatever answer follows."""
    request = ctx.request
    assert request is not None
    targets = plan_targets(config, request)
    balance = plan_balance(config, request, ctx.headers.session)
    if ctx.headers.region_preference is not None:
        ctx.send = region_echo(ctx.send, ctx.headers.region_preference, region)
    return request, targets, deadline_ms(config, request) / 1000.0, balance


async def complete(ctx: RequestContext, config: Config, executor: Executor, region: bytes) -> bytes:
    """The complete answer in the client's dialect (sent by `respond.send_answer`)."""
    request, targets, deadline_s, balance = _plan(ctx, config, region)
    result = await executor.complete(request, targets, deadline_s, ctx.timing, balance)
    ctx.target = result.target
    kind = config.providers[result.target.provider].type
    request.dropped = for_target(
        request.dropped, kind, _refused(request, kind, result.target, result.native is not None)
    )
    render = ctx.dialect.render
    if result.native is not None:  # the client's own API, passed through: relayed as it is
        ctx.passed_through = True
        ctx.usage = json_usage(result.native, result.content)
        return result.content
    ctx.answer = result.content
    return result.content if render is None else render(result.content, request)


async def stream(ctx: RequestContext, config: Config, executor: Executor, region: bytes) -> None:
    request, targets, deadline_s, balance = _plan(ctx, config, region)
    opened = await executor.open_stream(request, targets, deadline_s, ctx.timing, balance)
    ctx.target = opened.target
    kind = config.providers[opened.target.provider].type
    request.dropped = for_target(
        request.dropped, kind, _refused(request, kind, opened.target, opened.native is not None)
    )
    ctx.passed_through = opened.native is not None
    await respond.start_stream(ctx, region, opened.target)
    ctx.status = 200
    send = raw_send = ctx.send
    if ctx.cache_policy is not None:
        captured: list[bytes] = []
        ctx.client_body = captured
        send = _capturing(send, captured)
    if ctx.dialect.stream_events is not None and opened.native is None:
        ctx.renderer = ctx.dialect.stream_events(request)
        send = _translating(send, ctx.renderer.feed)
    relayed = await relay(
        opened,
        send,
        ctx.timing,
        idle_timeout_s=config.routing.stream_idle_timeout_ms / 1000.0,
        secrets=executor.credentials.known_values(),
        heartbeat_s=config.routing.stream_heartbeat_ms / 1000.0,
        raw_send=raw_send,
    )
    ctx.outcome, ctx.usage = relayed.outcome, relayed.usage


def _refused(request: ChatRequest, kind: str, target: Target, native_served: bool) -> tuple[str, ...]:
    """The settings the serving target's model refuses, which the executor left out of its request
    (`routing/model_rules.py`): named in `x-switchboard-dropped`."""
    return fit(request, kind, target.model, native_served)[1]


def _capturing(send: Send, captured: list[bytes]) -> Send:
    """Keeps a copy of every body message the client receives (a stream to be cached)."""

    async def capture(message: Message) -> None:
        if message["type"] == "http.response.body":
            captured.append(bytes(message.get("body", b"")))
        await send(message)

    return capture


def _translating(send: Send, feed: Callable[[bytes], bytes]) -> Send:
    async def translated(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": feed(message.get("body", b""))}
        await send(message)

    return translated
