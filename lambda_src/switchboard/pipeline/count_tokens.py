"""`POST /v1/messages/count_tokens` (the anthropic SDK's `messages.count_tokens`).

Authenticated and validated like `/v1/messages` (Anthropic-shaped errors). The count comes from
the first Anthropic target of the model's chain, passed through as the client sent it (with
fallback between Anthropic targets); a chain without one gets a documented estimate (~4 bytes of
request per token) and says so in `x-switchboard-token-count: estimate`. Counting generates
nothing: no limits are taken and no usage is recorded.
"""

from __future__ import annotations

from time import perf_counter

import orjson

from switchboard.asgi import Receive, RequestHeaders, Scope, Send, base_headers, request_id, send_body
from switchboard.constants import COUNT_TOKENS_PATH, CT_JSON, H_MODEL, H_PROVIDER
from switchboard.dialects.anthropic_messages import error_body
from switchboard.dialects.anthropic_request import parse_count_tokens_request
from switchboard.dialects.base import Dialect
from switchboard.errors import GatewayError
from switchboard.pipeline import respond
from switchboard.pipeline.authenticate import authenticate, authorize
from switchboard.pipeline.context import RequestContext
from switchboard.pipeline.parse import read_request
from switchboard.pipeline.run import Pipeline
from switchboard.providers import native_apis
from switchboard.routing.policy import deadline_ms, plan_targets
from switchboard.wire.readers import ANTHROPIC_COUNT_TOKENS

DIALECT = Dialect(COUNT_TOKENS_PATH, parse_count_tokens_request, None, error_body, None)
H_TOKEN_COUNT = b"x-switchboard-token-count"


async def serve(scope: Scope, receive: Receive, send: Send, pipeline: Pipeline) -> None:
    headers = RequestHeaders(scope["headers"])
    rid = request_id(headers.request_id, headers.lambda_context, scope)
    ctx = RequestContext(DIALECT, headers, rid, receive, send)
    config, region = pipeline.config, pipeline.region
    try:
        await authenticate(ctx, pipeline.services.auth)
        await read_request(ctx, config.gateway.max_body_bytes)
        authorize(ctx, pipeline.services.auth)
        request = ctx.request
        assert request is not None
        targets = tuple(
            t
            for t in plan_targets(config, request)
            if ANTHROPIC_COUNT_TOKENS in native_apis(config.providers[t.provider])
        )
        if targets:
            result = await pipeline.executor.complete(
                request, targets, deadline_ms(config, request) / 1000.0, ctx.timing
            )
            body, source = result.content, b"provider"
            extra = [(H_PROVIDER, result.target.provider.encode()), (H_MODEL, result.target.model.encode())]
        else:
            body, source, extra = orjson.dumps({"input_tokens": max(1, len(ctx.raw) // 4)}), b"estimate", []
    except GatewayError as exc:
        await respond.send_error(ctx, region, exc)
        return
    answer = base_headers(rid, region, CT_JSON) + extra + [(H_TOKEN_COUNT, source)]
    await send_body(send, 200, answer + ctx.timing.headers(perf_counter()), body)
