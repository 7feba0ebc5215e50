"""Everything under `/v1beta/`, and `/v1/models/{model}:{method}` (plus `GET /v1/models...` from a
Google client: one sending `x-goog-api-key` or `x-goog-api-client`): the Gemini API as Google's
clients call it (Gemini CLI, the google-genai SDKs, whose newest releases default to `v1`).

In this order, so nothing is answered before the caller is known:
1. a key in the URL (`?key=...`) is refused (400): URLs end up in logs and proxies; Switchboard
   keys travel in `x-goog-api-key` (or `Authorization` / `x-api-key`) only;
2. the gateway key is checked (401 / 503), for every path, known or not;
3. `POST /v1beta/models/{model}:generateContent` / `:streamGenerateContent` run the request
   pipeline with the Gemini dialect (streams reframed for Google's clients: `?alt=sse` as SSE
   without comments, otherwise as one JSON array), `:countTokens` the counting route;
   `GET /v1beta/models` and `/v1beta/models/{model}` list the configured public models as Gemini
   `Model` resources; anything else is a 404 (405 for a known path with the wrong method).
Every error is Google-shaped: `{"error": {"code", "message", "status"}}`.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import Any

import orjson

from switchboard.asgi import (
    Message,
    Receive,
    RequestHeaders,
    Scope,
    Send,
    base_headers,
    request_id,
    send_body,
)
from switchboard.constants import CT_JSON, H_CONTENT_TYPE
from switchboard.dialects import gemini
from switchboard.errors import GatewayError, InvalidRequest, MethodNotAllowed, RouteNotFound, UnknownModel
from switchboard.pipeline import count_tokens, respond
from switchboard.pipeline.authenticate import authenticate
from switchboard.pipeline.context import RequestContext
from switchboard.pipeline.run import Pipeline
from switchboard.wire.gemini import JsonArrayFraming, SseFraming
from switchboard.wire.readers import GEMINI_COUNT_TOKENS

_METHODS = ("generateContent", "streamGenerateContent", "countTokens")


GOOGLE_HEADERS = (b"x-goog-api-key", b"x-goog-api-client")


def wants_gemini(path: str, method: str, headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a request under `/v1/models` is Gemini's (the rest of `/v1/models` is OpenAI's)."""
    if path.startswith(gemini.V1_MODELS_PATH + "/") and method == "POST" and ":" in path:
        return True
    return gemini.models_path(path) is not None and any(k in GOOGLE_HEADERS for k, _ in headers)


def _key_in_query(query: bytes) -> bool:
    return any(part.split(b"=", 1)[0] == b"key" for part in query.split(b"&"))


async def serve(scope: Scope, receive: Receive, send: Send, pipeline: Pipeline) -> None:
    path, method, query = scope["path"], scope["method"], scope.get("query_string", b"")
    where = gemini.route(path, query)
    if where is not None and method == "POST" and not _key_in_query(query):
        if where.method == gemini.COUNT_TOKENS:
            counting = count_tokens.Counting(
                gemini.dialect(where), GEMINI_COUNT_TOKENS, lambda n: {"totalTokens": n}
            )
            await count_tokens.serve(scope, receive, send, pipeline, counting)
            return
        if where.method == gemini.STREAM:
            send = reframed(send, SseFraming if where.sse else JsonArrayFraming)
        await pipeline(scope, receive, send, gemini.dialect(where))  # type: ignore[arg-type]
        return
    headers = RequestHeaders(scope["headers"])
    ctx = RequestContext(
        gemini.ERRORS, headers, request_id(headers.request_id, headers.lambda_context, scope), receive, send
    )
    region = pipeline.region
    allow = None
    try:
        if _key_in_query(query):
            raise InvalidRequest(
                "API keys in the URL ('key=' query parameter) are refused: send the Switchboard key in "
                "the 'x-goog-api-key' header",
                param="key",
                code="key_in_url",
            )
        await authenticate(ctx, pipeline.services.auth)
        prefix = gemini.models_path(path)
        if prefix is not None and where is None and ":" not in path:
            if method not in ("GET", "HEAD"):
                allow = b"GET"
                raise MethodNotAllowed(f"method {method[:10]} not allowed on {path[:200]}")
            body = _models(pipeline, path[len(prefix) + 1 :])
            answer = base_headers(ctx.request_id, region, CT_JSON) + ctx.timing.headers(perf_counter())
            await send_body(send, 200, answer, body)
            return
        if where is not None:
            allow = b"POST"
            raise MethodNotAllowed(f"method {method[:10]} not allowed on {path[:200]}")
        raise RouteNotFound(f"no route for {method[:10]} {path[:200]}")
    except GatewayError as exc:
        await respond.send_error(ctx, region, exc, allow)


def _card(name: str) -> dict[str, Any]:
    return {
        "name": f"models/{name}",
        "baseModelId": name,
        "version": "switchboard",
        "displayName": name,
        "description": "a model routed by Switchboard",
        "supportedGenerationMethods": list(_METHODS),
    }


def _models(pipeline: Pipeline, name: str) -> bytes:
    """`GET /v1beta/models` (every configured public model, one page) or one `Model`."""
    models = pipeline.config.models
    if not name:
        return orjson.dumps({"models": [_card(m) for m in models]})
    name = name.removeprefix("models/")
    if name not in models:
        raise UnknownModel(f"model {name[:100]!r} is not configured on this gateway", param="model")
    return orjson.dumps(_card(name))


def reframed(send: Send, framing: Callable[[], SseFraming | JsonArrayFraming]) -> Send:
    """A stream answered in the framing Google's clients read (see `wire.gemini`): SSE without
    comments, or one JSON array (then the content type becomes application/json). JSON answers
    (errors before the stream started) pass as they are."""
    active: SseFraming | JsonArrayFraming | None = None

    async def framed(message: Message) -> None:
        nonlocal active
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            if any(k == H_CONTENT_TYPE and v.startswith(b"text/event-stream") for k, v in headers):
                active = framing()
                if isinstance(active, JsonArrayFraming):
                    headers = [(k, CT_JSON if k == H_CONTENT_TYPE else v) for k, v in headers]
                    message = {**message, "headers": headers}
        elif message["type"] == "http.response.body" and active is not None:
            more = bool(message.get("more_body", False))
            message = {**message, "body": active.feed(bytes(message.get("body", b"")), more)}
        await send(message)

    return framed
