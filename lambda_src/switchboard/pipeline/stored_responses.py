"""`GET /v1/responses/{id}` and `DELETE /v1/responses/{id}`: the responses Switchboard stored for
the caller's tenant (translated answers with `store`). Another tenant's id is not found (404)."""

from __future__ import annotations

from time import perf_counter

import orjson

from switchboard.asgi import Receive, RequestHeaders, Scope, Send, base_headers, request_id, send_body
from switchboard.constants import CT_JSON, RESPONSES_PATH
from switchboard.dialects import responses
from switchboard.errors import GatewayError, ResponseNotFound, StoreError, StoreUnavailable
from switchboard.pipeline import respond
from switchboard.pipeline.authenticate import authenticate
from switchboard.pipeline.context import RequestContext
from switchboard.pipeline.services import Services
from switchboard.state.keys import ANONYMOUS_TENANT

PREFIX = RESPONSES_PATH + "/"


async def serve(scope: Scope, receive: Receive, send: Send, services: Services, region: bytes) -> None:
    headers = RequestHeaders(scope["headers"])
    ctx = RequestContext(
        responses.DIALECT,
        headers,
        request_id(headers.request_id, headers.lambda_context, scope),
        receive,
        send,
    )
    response_id = scope["path"][len(PREFIX) :]
    try:
        await authenticate(ctx, services.auth)
        tenant = ctx.key.tenant if ctx.key is not None else ANONYMOUS_TENANT
        try:
            if scope["method"] == "DELETE":
                found = await services.conversations.delete(tenant, response_id)
                body = orjson.dumps({"id": response_id, "object": "response.deleted", "deleted": True})
            else:
                stored = await services.conversations.get(tenant, response_id)
                found, body = stored is not None, stored or b""
        except StoreError:
            raise StoreUnavailable("stored responses are unavailable; try again") from None
        if not found:
            raise ResponseNotFound(f"no stored response {response_id[:80]!r}", param="response_id")
    except GatewayError as exc:
        await respond.send_error(ctx, region, exc)
        return
    answer = base_headers(ctx.request_id, region, CT_JSON) + ctx.timing.headers(perf_counter())
    await send_body(send, 200, answer, body)
