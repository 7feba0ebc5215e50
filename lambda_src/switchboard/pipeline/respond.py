"""Stage: respond. Builds and sends what the client receives: a JSON answer, the start of a
stream, a cached answer replayed, or an error in the route's dialect. Every answer carries the
request id, the region, the timing headers and, when admitted under limits, the x-ratelimit-*
headers; answers from a provider say which target served them and what the cache did. A JSON
answer says what it cost (`x-switchboard-cost-usd`, from the `Usage` value its adapter read; 0 for a
cache hit, absent for an unpriced model); a stream says it in its final timing comment (`cost_usd`).
A region preference the client sent is echoed on every answer (`x-switchboard-region-preference`)."""

from __future__ import annotations

import time
from time import perf_counter

from switchboard.asgi import Headers, base_headers, region_echo, send_body
from switchboard.config import Target
from switchboard.constants import (
    CT_JSON,
    CT_SSE,
    H_CACHE,
    H_CACHE_CONTROL,
    H_COST,
    H_DROPPED,
    H_MODEL,
    H_PROVIDER,
)
from switchboard.errors import GatewayError
from switchboard.pipeline.context import RequestContext
from switchboard.pipeline.dropped import header_value
from switchboard.state.cache import HIT, Entry
from switchboard.telemetry.timing import Measured
from switchboard.values import NO_USAGE, Usage, format_usd

_SSE_HEADERS: Headers = [(H_CACHE_CONTROL, b"no-cache"), (b"x-accel-buffering", b"no")]


def _base(ctx: RequestContext, region: bytes, content_type: bytes) -> Headers:
    headers = base_headers(ctx.request_id, region, content_type)
    if ctx.headers.region_preference is not None:
        headers.append(region_echo(ctx.headers.region_preference, region))
    return headers


def _answer_headers(
    ctx: RequestContext, region: bytes, target: Target | None, cache_state: bytes, sse: bool
) -> Headers:
    """An answer's headers; `target` is None for a stream committed before a target answered (the
    final timing comment then names the target)."""
    headers = _base(ctx, region, CT_SSE if sse else CT_JSON)
    if sse:
        headers += _SSE_HEADERS
    if target is not None:
        headers += [(H_PROVIDER, target.provider.encode()), (H_MODEL, target.model.encode())]
    headers.append((H_CACHE, cache_state))
    if ctx.reservation is not None:
        headers += ctx.reservation.headers
    request = ctx.request
    if request is not None and not ctx.passed_through and request.dropped:  # passed through: never translated
        headers.append((H_DROPPED, header_value(request.dropped)))
    return headers


def answer_cost(ctx: RequestContext) -> int | None:
    """What a complete answer cost (nano-USD), from its `Usage` value (a usage it did not report
    costs nothing). Kept on the context for `finish`; None without a price table or a price."""
    target, prices = ctx.target, ctx.prices
    if target is None or prices is None:
        return None
    ctx.cost_nano_usd = prices.cost(target.provider, target.model, ctx.usage or NO_USAGE, _tier(ctx))
    return ctx.cost_nano_usd


def _tier(ctx: RequestContext) -> str | None:
    """The service tier the request asked for (its price multiplier, unless the answer says)."""
    return ctx.request.service_tier if ctx.request is not None else None


async def send_answer(ctx: RequestContext, region: bytes, content: bytes) -> None:
    assert ctx.target is not None
    headers = _answer_headers(ctx, region, ctx.target, ctx.cache_state, sse=False)
    cost = answer_cost(ctx)
    if cost is not None:
        headers.append((H_COST, format_usd(cost).encode()))
    headers += ctx.timing.headers(perf_counter())
    ctx.response_started = True
    await send_body(ctx.send, 200, headers, content)
    ctx.response_complete = True
    ctx.status, ctx.outcome = 200, "ok"
    if ctx.cache_policy is not None:
        ctx.client_body = content


def price_stream(ctx: RequestContext, target: Target) -> None:
    """The relay's timing comment carries the stream's cost, priced at the serving target."""
    prices = ctx.prices
    if prices is not None:
        provider, model, tier = target.provider, target.model, _tier(ctx)
        ctx.timing.cost_of = lambda usage: prices.cost(provider, model, usage, tier)


async def start_stream(ctx: RequestContext, region: bytes, target: Target | None) -> None:
    headers = _answer_headers(ctx, region, target, ctx.cache_state, sse=True)
    headers += ctx.timing.headers(perf_counter())
    ctx.response_started = True
    await ctx.send({"type": "http.response.start", "status": 200, "headers": headers})


async def replay(ctx: RequestContext, region: bytes, entry: Entry) -> None:
    """Serve a cached answer: the same body, or the same stream messages with a fresh timing
    comment."""
    target = ctx.target = Target(entry.provider, entry.model)
    headers = _answer_headers(ctx, region, target, HIT, sse=entry.stream)
    headers.append((b"age", b"%d" % max(0, int(time.time() - entry.created))))
    headers += ctx.timing.headers(perf_counter())
    ctx.response_started = True
    if ctx.prices is not None:  # served from the cache: the provider was not called
        ctx.cost_nano_usd = 0
        if not entry.stream:
            headers.append((H_COST, b"0"))
        ctx.timing.cost_of, ctx.timing.metered = _free, Measured(NO_USAGE)
    if not entry.stream:
        await send_body(ctx.send, 200, headers, entry.chunks[0])
        ctx.response_complete = True
        return
    send = ctx.send
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    timing = ctx.timing
    timing.first_token = perf_counter()
    timing.chunks = len(entry.chunks)
    chunks = entry.replay(timing.sse_comment(perf_counter(), entry.provider, entry.model))
    for chunk in chunks[:-1]:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": chunks[-1] if chunks else b"", "more_body": False})
    ctx.response_complete = True


async def send_error(
    ctx: RequestContext, region: bytes, exc: GatewayError, allow: bytes | None = None
) -> None:
    headers = _base(ctx, region, CT_JSON)
    if allow is not None:
        headers.append((b"allow", allow))
    headers += exc.headers()
    headers += ctx.timing.headers(perf_counter())
    ctx.response_started = True
    await send_body(ctx.send, exc.http_status, headers, ctx.dialect.error_body(exc))
    ctx.response_complete = True


def _free(usage: Usage) -> int:
    return 0
