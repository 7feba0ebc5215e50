"""`POST /v1/messages/count_tokens` (the anthropic SDK's `messages.count_tokens`),
`POST /v1beta/models/{model}:countTokens` (Gemini's) and `POST /v1/responses/input_tokens` (the
openai SDK's `responses.input_tokens.count`), one `Counting` each.

Authenticated and validated like the dialect's generation route (its error shape). The count
comes from the first target of the model's chain that serves the counting API, passed through as
the client sent it (with fallback between such targets); a chain without one gets a documented
estimate (~4 bytes of request per token) and says so in `x-switchboard-token-count: estimate`.
Counting generates nothing: no limits are taken and no usage is recorded; like every route of the
pipeline it goes through its error boundary and `finish` (a metric record, a trace span).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import orjson

from switchboard.asgi import Receive, Scope, Send, base_headers, send_body
from switchboard.constants import COUNT_TOKENS_PATH, CT_JSON, H_MODEL, H_PROVIDER
from switchboard.dialects.anthropic_messages import error_body
from switchboard.dialects.anthropic_request import parse_count_tokens_request
from switchboard.dialects.base import Dialect
from switchboard.pipeline.authenticate import authenticate, authorize
from switchboard.pipeline.context import RequestContext
from switchboard.pipeline.parse import read_request
from switchboard.pipeline.plan import plan
from switchboard.pipeline.run import Pipeline, Watch
from switchboard.providers import native_apis
from switchboard.wire.readers import ANTHROPIC_COUNT_TOKENS

DIALECT = Dialect(COUNT_TOKENS_PATH, parse_count_tokens_request, None, error_body, None, billable=False)
H_TOKEN_COUNT = b"x-switchboard-token-count"


@dataclass(frozen=True, slots=True)
class Counting:
    dialect: Dialect
    """Its `billable` is False: counting generates nothing."""
    api: str
    """The counting API a target must serve for the count to be passed through."""
    estimate: Callable[[int], dict[str, Any]]
    """The estimated count -> the API's answer (`{"input_tokens": n}`, `{"totalTokens": n}`, ...)."""


ANTHROPIC = Counting(DIALECT, ANTHROPIC_COUNT_TOKENS, lambda n: {"input_tokens": n})


async def serve(
    scope: Scope, receive: Receive, send: Send, pipeline: Pipeline, counting: Counting = ANTHROPIC
) -> None:
    """Through the pipeline's error boundary and `finish` (a metric record and a span, no usage)."""

    async def count(ctx: RequestContext, watch: Watch) -> None:
        config, services = pipeline.config, pipeline.services
        await authenticate(ctx, services.auth)
        await read_request(ctx, config.gateway.max_body_bytes)
        authorize(ctx, services.auth)
        plan(ctx, pipeline.plans, services.limits, services.prices)
        request, chain = ctx.request, ctx.plan
        assert request is not None
        assert chain is not None
        targets = tuple(t for t in chain.targets if counting.api in native_apis(config.providers[t.provider]))
        extra: list[tuple[bytes, bytes]] = []
        if targets:
            result = await pipeline.executor.complete(request, targets, chain.deadline_s, ctx.timing)
            ctx.target = result.target
            body, source = result.content, b"provider"
            extra = [(H_PROVIDER, result.target.provider.encode()), (H_MODEL, result.target.model.encode())]
        else:
            body, source = orjson.dumps(counting.estimate(max(1, len(ctx.raw) // 4))), b"estimate"
        answer = base_headers(ctx.request_id, pipeline.region, CT_JSON) + extra + [(H_TOKEN_COUNT, source)]
        ctx.response_started = True
        await send_body(ctx.send, 200, answer + ctx.timing.headers(perf_counter()), body)
        ctx.response_complete = True
        ctx.status, ctx.outcome = 200, "ok"

    await pipeline.serve(scope, receive, send, counting.dialect, count)
