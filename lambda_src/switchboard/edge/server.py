"""The gateway's ASGI entry: a bare ASGI dispatcher for the hot routes, FastAPI for the rest.

`POST /v1/chat/completions`, `/v1/messages` and `/v1/embeddings` go to the request pipeline
(`pipeline/run.py`) with their dialect, everything under `/v1beta/` (the Gemini API) to
`pipeline/gemini_routes.py`, and `GET /healthz` is answered here, all without a framework
(the framework layer costs ~100 us CPU and Starlette's StreamingResponse ~0.5 ms of time to first
token per request). Everything else (`/v1/models`, docs, unknown routes) goes to the FastAPI app in
`webapp.py`, built on first use so it stays off the cold-start path: only paths it serves
(`_WEB_PREFIXES`) reach it, so a wrong method (405 with `Allow`) or an unknown route (404) is answered
here at once, in the route's dialect. An encoded slash (`%2F`) is not a path separator: such a path
matches no route. This module owns routing by path and method, the origin guard, lifespan and
shutdown; it does not handle any request's content.
"""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable
from time import perf_counter

from switchboard.asgi import (
    ASGIApp,
    Receive,
    RequestHeaders,
    Scope,
    Send,
    base_headers,
    request_id,
    send_body,
)
from switchboard.config import Config
from switchboard.constants import (
    CHAT_PATH,
    COUNT_TOKENS_PATH,
    CT_JSON,
    DEEP_HEALTH_PATH,
    EMBEDDINGS_PATH,
    GEMINI_PREFIX,
    H_CONTENT_TYPE,
    H_REGION,
    H_REQUEST_ID,
    HEALTH_PATH,
    MESSAGES_PATH,
    ORIGIN_HEADER,
    RESPONSES_INPUT_TOKENS_PATH,
    RESPONSES_PATH,
)
from switchboard.dialects import anthropic, embeddings, openai_chat, responses
from switchboard.dialects.base import Dialect
from switchboard.edge.anthropic_models import speaks_anthropic_raw
from switchboard.edge.health import DeepHealth
from switchboard.edge.origin import OriginGuard, rejection_record
from switchboard.errors import GatewayError, MethodNotAllowed, RouteNotFound
from switchboard.pipeline import count_tokens, gemini_routes, stored_responses
from switchboard.pipeline.run import Pipeline
from switchboard.pipeline.services import Services
from switchboard.routing.executor import Executor
from switchboard.telemetry.timing import Timing
from switchboard.wire.readers import OPENAI_INPUT_TOKENS

_HEALTH_BODY = b'{"status":"ok"}'
_DIALECTS: dict[str, Dialect] = {
    CHAT_PATH: openai_chat.DIALECT,
    MESSAGES_PATH: anthropic.DIALECT,
    EMBEDDINGS_PATH: embeddings.DIALECT,
    RESPONSES_PATH: responses.DIALECT,
}
_ALLOWED = {path: b"POST" for path in (*_DIALECTS, COUNT_TOKENS_PATH, RESPONSES_INPUT_TOKENS_PATH)} | {
    HEALTH_PATH: b"GET, HEAD",
    DEEP_HEALTH_PATH: b"GET, HEAD",
}
_INPUT_TOKENS = count_tokens.Counting(
    responses.INPUT_TOKENS,
    OPENAI_INPUT_TOKENS,
    lambda n: {"object": "response.input_tokens", "input_tokens": n},
)
_WEB_PREFIXES = ("/v1/models", "/docs", "/openapi.json", "/admin/api/", "/console")
"""The FastAPI app's routes (webapp.py, and the admin API and console of admin/api.py): nothing else
needs it built."""


class Gateway:
    def __init__(
        self,
        config: Config,
        executor: Executor,
        services: Services,
        web_app_factory: Callable[[], ASGIApp],
        *,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
        tune_gc: bool = False,
        origin_guard: OriginGuard | None = None,
        deep_health: DeepHealth | None = None,
    ) -> None:
        self.config = config
        self.executor = executor
        self.services = services
        self.pipeline = Pipeline(config, executor, services)
        self._region = config.gateway.region.encode()
        self._web_factory = web_app_factory
        self._web: ASGIApp | None = None
        self._on_shutdown = on_shutdown
        self._tune_gc = tune_gc
        self._origin_guard = origin_guard
        self._deep_health = deep_health or DeepHealth(config, None)

    @property
    def metrics(self) -> object:
        return self.services.metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            raw = scope.get("raw_path")
            if raw is not None and b"%" in raw and b"%2f" in raw.lower():
                path = raw.decode("latin-1")  # `/v1/chat%2Fcompletions` is not `/v1/chat/completions`
            guard = self._origin_guard
            if guard is not None and path != HEALTH_PATH and not await self._origin_ok(guard, scope, send):
                return
            dialect = _DIALECTS.get(path)
            if dialect is not None and scope["method"] == "POST":
                await self.pipeline(scope, receive, send, dialect)  # type: ignore[arg-type]
                return
            if path == COUNT_TOKENS_PATH and scope["method"] == "POST":
                await count_tokens.serve(scope, receive, send, self.pipeline)
                return
            if path == RESPONSES_INPUT_TOKENS_PATH and scope["method"] == "POST":
                await count_tokens.serve(scope, receive, send, self.pipeline, _INPUT_TOKENS)
                return
            if path.startswith(stored_responses.PREFIX) and path != RESPONSES_INPUT_TOKENS_PATH:
                await stored_responses.serve(scope, receive, send, self.pipeline)
                return
            if path.startswith(GEMINI_PREFIX) or (
                path.startswith("/v1/models")
                and gemini_routes.wants_gemini(path, scope["method"], scope["headers"])
            ):
                await gemini_routes.serve(scope, receive, send, self.pipeline)
                return
            if path == HEALTH_PATH and scope["method"] in ("GET", "HEAD"):
                await self._health(send)
                return
            if path == DEEP_HEALTH_PATH and scope["method"] in ("GET", "HEAD"):
                status, body = await self._deep_health.check()
                await send_body(send, status, [(H_CONTENT_TYPE, CT_JSON), (H_REGION, self._region)], body)
                return
            if path in _ALLOWED:
                error = MethodNotAllowed(f"method {scope['method'][:10]} not allowed on {path}")
                if path == COUNT_TOKENS_PATH:
                    dialect = count_tokens.DIALECT
                elif path == RESPONSES_INPUT_TOKENS_PATH:
                    dialect = responses.INPUT_TOKENS
                await self._send_error(send, error, scope, dialect, allow=_ALLOWED[path])
                return
            if path.startswith("/v1/"):
                try:  # the FastAPI routes under /v1 need a key too
                    await self.services.auth.authenticate(RequestHeaders(scope["headers"]).token)
                except GatewayError as exc:  # Anthropic clients (the model list) parse only their own errors
                    await self._send_error(send, exc, scope, _dialect_of_headers(scope))
                    return
            if not path.startswith(_WEB_PREFIXES):  # answered without building the FastAPI app
                missing = RouteNotFound(f"no route for {scope['method'][:10]} {path[:200]}")
                # Anthropic clients parse only their own errors
                dialect = anthropic.DIALECT if path.startswith(MESSAGES_PATH + "/") else None
                await self._send_error(send, missing, scope, dialect)
                return
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await self.web_app(scope, receive, self._with_headers(scope, send))

    @property
    def web_app(self) -> ASGIApp:
        if self._web is None:
            self._web = self._web_factory()
        return self._web

    # ------------------------------------------------------------------ lifespan

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self._tune_gc:
                    tune_gc()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def aclose(self) -> None:
        await self.executor.aclose()
        await self.services.aclose()
        if self._on_shutdown is not None:
            await self._on_shutdown()

    async def _origin_ok(self, guard: OriginGuard, scope: Scope, send: Send) -> bool:
        presented = None
        for name, value in scope["headers"]:
            if name == ORIGIN_HEADER:
                presented = value
                break
        try:
            await guard.check(presented)
        except GatewayError as exc:
            rid = await self._send_error(send, exc, scope)
            self.services.metrics.record(rejection_record(exc, presented is not None, scope["path"], rid))
            return False
        return True

    # ------------------------------------------------------------------ simple answers

    async def _health(self, send: Send) -> None:
        headers = [(H_CONTENT_TYPE, CT_JSON), (H_REGION, self._region)]
        await send_body(send, 200, headers, _HEALTH_BODY)

    async def _send_error(
        self,
        send: Send,
        exc: GatewayError,
        scope: Scope,
        dialect: Dialect | None = None,
        allow: bytes | None = None,
    ) -> str:
        """An error answered before any pipeline (origin, method, auth of the FastAPI routes);
        returns the request id it was answered with."""
        headers = RequestHeaders(scope.get("headers", []))
        rid = request_id(headers.request_id, headers.lambda_context, scope)
        response = base_headers(rid, self._region, CT_JSON)
        if allow is not None:
            response.append((b"allow", allow))
        response += exc.headers()
        response += Timing().headers(perf_counter())
        body = (dialect or openai_chat.DIALECT).error_body(exc)
        await send_body(send, exc.http_status, response, body)
        return rid.decode()

    def _with_headers(self, scope: Scope, send: Send) -> Send:
        """Adds the request id, region and timing headers to responses of the FastAPI routes."""
        timing = Timing()
        headers = RequestHeaders(scope.get("headers", []))
        rid = request_id(headers.request_id, headers.lambda_context, scope)

        async def wrapped(message: dict) -> None:  # type: ignore[type-arg]
            if message["type"] == "http.response.start":
                out = list(message.get("headers", ()))
                out += [(H_REQUEST_ID, rid), (H_REGION, self._region)]
                out += timing.headers(perf_counter())
                message["headers"] = out
            await send(message)

        return wrapped  # type: ignore[return-value]


def tune_gc() -> None:
    """Freeze start-up objects and collect young garbage less often: most of a Python proxy's tail
    latency is GC pauses (see README, Performance)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def _dialect_of_headers(scope: Scope) -> Dialect | None:
    """The Anthropic dialect for a request only an Anthropic client sends (`anthropic-version`,
    `x-api-key`); None (OpenAI's shapes) otherwise."""
    return anthropic.DIALECT if speaks_anthropic_raw(scope.get("headers", ())) else None
