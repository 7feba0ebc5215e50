"""The Responses API's routes on a stored response, for the caller's tenant:

    GET    /v1/responses/{id}               the response object
    DELETE /v1/responses/{id}               removes it
    GET    /v1/responses/{id}/input_items   its input items (`order`, `limit`, `after`)
    POST   /v1/responses/{id}/cancel        cancels a background response

A response Switchboard stored (a translated answer with `store`) is served from the store; its
input items are rebuilt from the stored turn, and cancelling it is a 400 (it is complete: only
background responses, which only OpenAI runs, can be cancelled). A response an `openai` provider
stored itself (a passed-through answer: `conversation.remember` noted which provider, per tenant)
is asked of that provider, through the executor with the provider's credential, and its answer
relayed. Anything else, another tenant's id included, is a 404. Errors are OpenAI-shaped.
"""

from __future__ import annotations

import contextlib
import re
from time import perf_counter
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

import orjson

from switchboard.asgi import Receive, RequestHeaders, Scope, Send, base_headers, request_id, send_body
from switchboard.config import Target
from switchboard.constants import CT_JSON, H_PROVIDER, RESPONSES_PATH
from switchboard.dialects import responses
from switchboard.dialects.request import ChatRequest
from switchboard.errors import (
    GatewayError,
    InvalidRequest,
    MethodNotAllowed,
    ResponseNotFound,
    RouteNotFound,
    StoreError,
    StoreUnavailable,
)
from switchboard.pipeline import respond
from switchboard.pipeline.authenticate import authenticate
from switchboard.pipeline.context import RequestContext
from switchboard.pipeline.run import Pipeline
from switchboard.state.keys import ANONYMOUS_TENANT
from switchboard.values import NativeRequest
from switchboard.wire.readers import OPENAI_RESPONSE_RESOURCE

PREFIX: Final = RESPONSES_PATH + "/"
_ID: Final = re.compile(r"resp_[A-Za-z0-9_-]{1,200}")
_ALLOW: Final = {"": b"GET, DELETE", "input_items": b"GET", "cancel": b"POST"}
_METHODS: Final = {"": ("GET", "DELETE"), "input_items": ("GET",), "cancel": ("POST",)}
_ORDER: Final = ("asc", "desc")
_INCLUDE: Final = re.compile(r"[a-z_.]{1,64}")


async def serve(scope: Scope, receive: Receive, send: Send, pipeline: Pipeline) -> None:
    headers = RequestHeaders(scope["headers"])
    ctx = RequestContext(
        responses.DIALECT,
        headers,
        request_id(headers.request_id, headers.lambda_context, scope),
        receive,
        send,
    )
    response_id, _, sub = scope["path"][len(PREFIX) :].partition("/")
    method = scope["method"]
    extra: list[tuple[bytes, bytes]] = []
    try:
        if sub not in _METHODS or "/" in sub:
            raise RouteNotFound(f"no route for {method[:10]} {scope['path'][:200]}")
        if method not in _METHODS[sub]:
            await respond.send_error(
                ctx,
                pipeline.region,
                MethodNotAllowed(f"method {method[:10]} not allowed on {scope['path'][:200]}"),
                _ALLOW[sub],
            )
            return
        await authenticate(ctx, pipeline.services.auth)
        tenant = ctx.key.tenant if ctx.key is not None else ANONYMOUS_TENANT
        query = _query(scope.get("query_string", b"")) if sub == "input_items" else {}
        if not _ID.fullmatch(response_id):
            raise ResponseNotFound(f"no stored response {response_id[:80]!r}", param="response_id")
        body = await _stored(pipeline, tenant, response_id, sub, method, query)
        if body is None:
            body, provider = await _from_provider(ctx, pipeline, tenant, response_id, sub, method, query)
            extra.append((H_PROVIDER, provider.encode()))
    except GatewayError as exc:
        await respond.send_error(ctx, pipeline.region, exc)
        return
    answer = (
        base_headers(ctx.request_id, pipeline.region, CT_JSON) + extra + ctx.timing.headers(perf_counter())
    )
    await send_body(send, 200, answer, body)


async def _stored(
    pipeline: Pipeline, tenant: str, response_id: str, sub: str, method: str, query: dict[str, Any]
) -> bytes | None:
    """The answer for a response Switchboard stored; None when it holds no such response."""
    conversations = pipeline.services.conversations
    try:
        if sub == "" and method == "DELETE":
            if not await conversations.delete(tenant, response_id):
                return None
            return orjson.dumps({"id": response_id, "object": "response.deleted", "deleted": True})
        if sub == "input_items":
            messages = await conversations.input_messages(tenant, response_id)
            return (
                None if messages is None else orjson.dumps(_page(input_items(messages, response_id), query))
            )
        stored = await conversations.get(tenant, response_id)
    except StoreError:
        raise StoreUnavailable("stored responses are unavailable; try again") from None
    if stored is not None and sub == "cancel":
        raise InvalidRequest(
            "only background responses can be cancelled; this one is complete", param="response_id"
        )
    return stored


async def _from_provider(
    ctx: RequestContext,
    pipeline: Pipeline,
    tenant: str,
    response_id: str,
    sub: str,
    method: str,
    query: dict[str, Any],
) -> tuple[bytes, str]:
    """Ask the provider that stored the response (passed through); 404 when none did for this tenant."""
    try:
        provider = await pipeline.services.conversations.origin(tenant, response_id)
    except StoreError:
        raise StoreUnavailable("stored responses are unavailable; try again") from None
    if provider is None or provider not in pipeline.config.providers:
        raise ResponseNotFound(f"no stored response {response_id[:80]!r}", param="response_id")
    resource = f"/{response_id}" + (f"/{sub}" if sub else "")
    if query:
        resource += "?" + urlencode(query, doseq=True)
    native = NativeRequest(OPENAI_RESPONSE_RESOURCE, {}, method=method, resource=resource)
    request = ChatRequest(model="", stream=False, native=native)
    request.untranslatable = "response_id"
    deadline_s = pipeline.config.routing.timeout_ms / 1000.0
    result = await pipeline.executor.complete(request, (Target(provider, ""),), deadline_s, ctx.timing)
    if sub == "" and method == "DELETE":
        with contextlib.suppress(StoreError):  # the provider no longer has it: a later retrieve is its 404
            await pipeline.services.conversations.forget_origin(tenant, response_id)
    return result.content, provider


def _query(raw: bytes) -> dict[str, Any]:
    """`input_items`' query, validated (`after`, `limit`, `order`, `include[]`): nothing else is
    forwarded to a provider."""
    query: dict[str, Any] = {}
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        if name == "after" and re.fullmatch(r"[A-Za-z0-9_-]{1,200}", value):
            query["after"] = value
        elif name == "limit" and value.isdigit() and 1 <= int(value) <= 100:
            query["limit"] = int(value)
        elif name == "order" and value in _ORDER:
            query["order"] = value
        elif name in ("include", "include[]") and _INCLUDE.fullmatch(value):
            query.setdefault("include[]", []).append(value)
        else:
            raise InvalidRequest(f"invalid query parameter {name[:40]!r}", param=name[:40])
    return query


def input_items(messages: list[dict[str, Any]], response_id: str) -> list[dict[str, Any]]:
    """A stored turn's input (chat messages) as Responses input items, oldest first, with ids
    derived from the response's (stable across calls)."""
    stem = response_id.removeprefix("resp_")
    items: list[dict[str, Any]] = []

    def add(kind: str, item: dict[str, Any]) -> None:
        items.append({"id": f"{kind}_{stem}_{len(items)}", **item})

    for message in messages:
        role, content = message.get("role"), message.get("content")
        if role == "tool":
            add(
                "fco",
                {"type": "function_call_output", "call_id": message.get("tool_call_id"), "output": content},
            )
            continue
        if role == "assistant":
            if content:
                text = [{"type": "output_text", "text": content, "annotations": []}]
                add("msg", {"type": "message", "role": "assistant", "status": "completed", "content": text})
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                add(
                    "fc",
                    {
                        "type": "function_call",
                        "status": "completed",
                        "call_id": call.get("id"),
                        "name": function.get("name"),
                        "arguments": function.get("arguments"),
                    },
                )
            continue
        add("msg", {"type": "message", "role": role, "status": "completed", "content": _parts(content)})
    return items


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "input_text", "text": content}]
    parts: list[dict[str, Any]] = []
    for part in content or []:
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "input_text", "text": part.get("text", "")})
        elif kind == "image_url":
            image = part.get("image_url") or {}
            parts.append(
                {"type": "input_image", "image_url": image.get("url"), "detail": image.get("detail", "auto")}
            )
        elif kind == "file":
            parts.append({"type": "input_file", **(part.get("file") or {})})
    return parts


def _page(items: list[dict[str, Any]], query: dict[str, Any]) -> dict[str, Any]:
    """One page of `input_items` (the API's default order is newest first, 20 items)."""
    ordered = items if query.get("order") == "asc" else items[::-1]
    after = query.get("after")
    if after is not None:
        ids = [item["id"] for item in ordered]
        ordered = ordered[ids.index(after) + 1 :] if after in ids else []
    limit = query.get("limit", 20)
    page = ordered[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(ordered) > limit,
    }
