"""Stage: finish. Runs once for every request after its response, on every path (answers, errors,
disconnects): settles the token and dollar reservation with what was used (zero when nothing
reached the client), keeps a complete cacheable answer, counts usage and cost once, hands the
request record to its observers and ends the request's trace span (when tracing is on and the trace
is sampled). It reads the request's `Usage` value (`ctx.usage`, set once by the adapter or the
stream's reader); the usage to count and its cost are worked out once here (a JSON answer's cost was already
computed for its header) and shared by settlement, accounting, the trace and the record."""

from __future__ import annotations

import time
from dataclasses import replace
from time import perf_counter

from switchboard.pipeline.context import RequestContext
from switchboard.pipeline.services import Services
from switchboard.state.keys import ANONYMOUS_TENANT
from switchboard.state.usage import UsageEvent
from switchboard.telemetry.cause import request_cause
from switchboard.telemetry.metrics import RequestRecord
from switchboard.telemetry.tracing import Attributes, Span
from switchboard.values import NO_USAGE, Usage

_COMPLETE = ("ok", "done")


def finish(ctx: RequestContext, services: Services) -> None:
    usage = _used(ctx)
    cost = _cost(ctx, services, usage)
    _settle(ctx, services, usage, cost)
    _keep(ctx, services)
    _record_usage(ctx, services, usage, cost)
    span = ctx.timing.span
    if isinstance(span, Span):
        _end_span(ctx, span, usage)
    observer = services.observer
    if observer.enabled:
        observer.record(_request_record(ctx, usage, cost, services.tracer.take_dropped()))


def _used(ctx: RequestContext) -> Usage | None:
    """The tokens to count: the provider's report; for a stream that delivered output without one
    (~4 prompt bytes a token, ~1 token per content chunk), or that was cut before its final count,
    the estimate; None when nothing was used (cache hit, refused, failed before any output) or
    reported."""
    if ctx.cache_entry is not None:
        return None
    usage, chunks = ctx.usage, ctx.timing.chunks
    if usage is None:
        return Usage(len(ctx.raw) // 4, chunks) if chunks else None
    if chunks > usage.completion and ctx.outcome not in _COMPLETE:
        return replace(usage, completion=chunks)  # cut before the provider's final count
    return usage


def _cost(ctx: RequestContext, services: Services, usage: Usage | None) -> int | None:
    """Nano-USD; None for a target without a price."""
    if ctx.cost_nano_usd is not None:
        return ctx.cost_nano_usd
    target = ctx.target
    if usage is None or target is None or ctx.cache_entry is not None:
        return 0  # nothing used, or served from the cache: free, priced or not
    tier = ctx.request.service_tier if ctx.request is not None else None
    return services.prices.cost(target.provider, target.model, usage, tier)


def _settle(ctx: RequestContext, services: Services, usage: Usage | None, cost: int | None) -> None:
    if ctx.reservation is None:
        return
    used: int | None
    if usage is not None:
        used = usage.total
    elif ctx.outcome in _COMPLETE and ctx.cache_entry is None:
        used = None  # answered, but the provider reported no usage: keep the reservation's estimate
    else:
        used = 0  # cache hit, refused or failed before any output: nothing was used
    services.limits.settle(ctx.reservation, used, used_nano_usd=None if used is None else cost)


def _keep(ctx: RequestContext, services: Services) -> None:
    policy, body, target = ctx.cache_policy, ctx.client_body, ctx.target
    if policy is None or body is None or target is None or ctx.outcome not in _COMPLETE:
        return
    ctx.cache_too_large = not services.cache.keep(
        ctx.cache_key, target.provider, target.model, body, policy.ttl_s
    )


def _record_usage(ctx: RequestContext, services: Services, usage: Usage | None, cost: int | None) -> None:
    if ctx.request is None or not ctx.dialect.billable:
        return
    key, target = ctx.key, ctx.target
    if usage is None:
        usage = NO_USAGE
    event = UsageEvent(
        key_id=key.key_id if key is not None else ANONYMOUS_TENANT,
        tenant=key.tenant if key is not None else ANONYMOUS_TENANT,
        model=ctx.request.model,
        provider=target.provider if target else None,
        upstream_model=target.model if target else None,
        status=ctx.status,
        prompt_tokens=usage.prompt,
        completion_tokens=usage.completion,
        cached_tokens=usage.cached,
        at=time.time(),
        cache_hit=ctx.cache_entry is not None,
        cache_write_tokens=usage.cache_write,
        cost_nano_usd=cost,
    )
    services.usage.record(event)


def _request_record(
    ctx: RequestContext, usage: Usage | None, cost: int | None, spans_dropped: int = 0
) -> RequestRecord:
    timing, target, key = ctx.timing, ctx.target, ctx.key
    if usage is None or ctx.cache_entry is not None:
        usage = NO_USAGE
    now = perf_counter()
    return RequestRecord(
        route=ctx.dialect.route,
        status=ctx.status,
        model=ctx.model,
        provider=target.provider if target else None,
        upstream_model=target.model if target else None,
        stream=ctx.stream,
        attempts=timing.attempts,
        overhead_ms=timing.overhead_ms(now),
        upstream_ms=timing.upstream_ms(),
        total_ms=timing.total_ms(now),
        ttft_ms=timing.ttft_ms(),
        request_id=ctx.request_id.decode(),
        outcome=ctx.outcome,
        cache=ctx.cache_state.decode(),
        cache_too_large=ctx.cache_too_large,
        spans_dropped=spans_dropped,
        at=time.time(),
        key_id=key.key_id if key is not None else None,
        tenant=key.tenant if key is not None else None,
        prompt_tokens=usage.prompt,
        completion_tokens=usage.completion,
        cached_tokens=usage.cached,
        cache_write_tokens=usage.cache_write,
        cost_nano_usd=cost,
        cause=request_cause(ctx.status, ctx.error, ctx.outcome),
    )


def _end_span(ctx: RequestContext, span: Span, usage: Usage | None) -> None:
    """The request span's GenAI and Switchboard attributes; never a body."""
    request, target, timing = ctx.request, ctx.target, ctx.timing
    operation = request.endpoint if request is not None else "chat"
    attributes: Attributes = {
        "gen_ai.operation.name": operation,
        "http.request.method": "POST",
        "http.route": ctx.dialect.route,
        "http.response.status_code": ctx.status,
        "switchboard.request_id": ctx.request_id.decode(),
        "switchboard.outcome": ctx.outcome,
        "switchboard.cache": ctx.cache_state.decode(),
        "switchboard.attempts": timing.attempts,
        "switchboard.overhead_ms": round(timing.overhead_ms(perf_counter()), 3),
        "switchboard.upstream_ms": round(timing.upstream_ms(), 3),
    }
    if request is not None:
        attributes["gen_ai.request.model"] = request.model
    if span.system is not None:
        attributes["gen_ai.system"] = span.system
    if target is not None:
        attributes["gen_ai.response.model"] = target.model
        attributes["switchboard.provider"] = target.provider
    if usage is not None and ctx.cache_entry is None:
        attributes["gen_ai.usage.input_tokens"] = usage.prompt
        attributes["gen_ai.usage.output_tokens"] = usage.completion
    if ctx.outcome not in _COMPLETE and span.error_type is None:
        span.fail(ctx.outcome)
    span.end_request(f"{operation} {request.model}" if request is not None else ctx.dialect.route, attributes)
