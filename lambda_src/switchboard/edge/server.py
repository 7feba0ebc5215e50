"""The gateway's ASGI entry: a bare ASGI handler for the hot routes, FastAPI for the rest.

`POST /v1/chat/completions` and `GET /healthz` are served here without a framework (the framework
layer costs ~100 us CPU and Starlette's StreamingResponse ~0.5 ms of time to first token per
request). Everything else (`/v1/models`, docs, unknown routes) goes to the FastAPI app in
`webapp.py`, built on first use so it stays off the cold-start path.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import orjson

from switchboard.config import Config, Target
from switchboard.constants import CT_JSON, CT_SSE, ORIGIN_HEADER
from switchboard.dialects import anthropic_messages as messages_api
from switchboard.dialects.request import ChatRequest, parse_chat_request, parse_embeddings_request
from switchboard.edge.origin import OriginGuard
from switchboard.errors import (
    GatewayError,
    InvalidRequest,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMedia,
)
from switchboard.routing.executor import Executor
from switchboard.routing.policy import deadline_ms, plan_targets
from switchboard.routing.relay import relay
from switchboard.state import cache as response_cache
from switchboard.state.auth import Authenticator, presented_key
from switchboard.state.ratelimit import KeyLimits, Reservation
from switchboard.state.usage import UsageEvent, UsageRecorder, tokens_from_usage, total_tokens
from switchboard.telemetry.metrics import MetricsSink, RequestRecord
from switchboard.telemetry.timing import Timing

log = logging.getLogger("switchboard")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CHAT_PATH = "/v1/chat/completions"
MESSAGES_PATH = "/v1/messages"
EMBEDDINGS_PATH = "/v1/embeddings"
HEALTH_PATH = "/healthz"
_REQUEST_ID_RE = re.compile(rb"[A-Za-z0-9._:@/+=-]{1,128}")
_HEALTH_BODY = b'{"status":"ok"}'
_ALLOWED = {CHAT_PATH: b"POST", MESSAGES_PATH: b"POST", EMBEDDINGS_PATH: b"POST", HEALTH_PATH: b"GET, HEAD"}


@dataclass(frozen=True, slots=True)
class Dialect:
    """The wire format a client speaks: OpenAI Chat Completions, or Anthropic Messages (translated
    to and from the OpenAI form the executor works in)."""

    route: str
    parse: Callable[[bytes], ChatRequest]
    render: Callable[[bytes], bytes] | None
    error_body: Callable[[GatewayError], bytes]
    stream_events: Callable[[str], Callable[[bytes], bytes]] | None


OPENAI = Dialect(CHAT_PATH, parse_chat_request, None, GatewayError.body, None)
EMBEDDINGS = Dialect(EMBEDDINGS_PATH, parse_embeddings_request, None, GatewayError.body, None)
ANTHROPIC = Dialect(
    MESSAGES_PATH,
    messages_api.to_chat_request,
    messages_api.to_message,
    messages_api.error_body,
    lambda model: messages_api.ChunksToEvents(model).feed,
)


class ClientGone(Exception):
    """The client disconnected before its request body was complete."""


async def read_body(receive: Receive, cap: int, content_length: bytes | None) -> bytes:
    if content_length is not None:
        if not content_length.isdigit():
            raise InvalidRequest("invalid Content-Length header")
        if int(content_length) > cap:
            raise PayloadTooLarge(f"request body larger than {cap} bytes")
    message = await receive()
    body = message.get("body", b"")
    if message["type"] == "http.disconnect":
        raise ClientGone
    if not message.get("more_body", False):
        if len(body) > cap:
            raise PayloadTooLarge(f"request body larger than {cap} bytes")
        return bytes(body)
    parts = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            raise PayloadTooLarge(f"request body larger than {cap} bytes")
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


def _request_id(caller: bytes | None, lambda_context: bytes | None, scope: Scope | None = None) -> bytes:
    """The caller's `x-request-id` if it is sane; else Lambda's request id (from the Web Adapter's
    `x-amzn-lambda-context` header, or Mangum's `aws.context`); else a fresh random id."""
    if caller is not None and _REQUEST_ID_RE.fullmatch(caller):
        return caller
    rid: object = None
    if lambda_context is not None:
        try:
            rid = orjson.loads(lambda_context).get("request_id")
        except (orjson.JSONDecodeError, AttributeError):
            rid = None
    elif scope is not None and "aws.context" in scope:
        rid = getattr(scope["aws.context"], "aws_request_id", None)
    if isinstance(rid, str) and _REQUEST_ID_RE.fullmatch(rid.encode()):
        return rid.encode()
    return os.urandom(12).hex().encode()


def _json_content_type(value: bytes) -> bool:
    value = value.split(b";", 1)[0].strip().lower()
    # curl's default form type and text/plain are accepted: the body is parsed as JSON either way
    return value.endswith(b"json") or value in (b"application/x-www-form-urlencoded", b"text/plain", b"")


class Gateway:
    def __init__(
        self,
        config: Config,
        executor: Executor,
        metrics: MetricsSink,
        web_app_factory: Callable[[], ASGIApp],
        *,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
        tune_gc: bool = False,
        origin_guard: OriginGuard | None = None,
        authenticator: Authenticator | None = None,
        limits: KeyLimits | None = None,
        usage: UsageRecorder | None = None,
        cache: response_cache.ResponseCache | None = None,
    ) -> None:
        self.config = config
        self.executor = executor
        self.metrics = metrics
        self._region = config.gateway.region.encode()
        self._web_factory = web_app_factory
        self._web: ASGIApp | None = None
        self._on_shutdown = on_shutdown
        self._tune_gc = tune_gc
        self._origin_guard = origin_guard
        self._auth = authenticator
        self._limits = limits
        self._usage = usage
        self._cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if (
                self._origin_guard is not None
                and path != HEALTH_PATH
                and not await self._origin_ok(scope, send)
            ):
                return
            if path == CHAT_PATH and scope["method"] == "POST":
                await self._chat(scope, receive, send, OPENAI)
                return
            if path == MESSAGES_PATH and scope["method"] == "POST":
                await self._chat(scope, receive, send, ANTHROPIC)
                return
            if path == EMBEDDINGS_PATH and scope["method"] == "POST":
                await self._chat(scope, receive, send, EMBEDDINGS)
                return
            if path == HEALTH_PATH and scope["method"] in ("GET", "HEAD"):
                await self._health(send)
                return
            if path in _ALLOWED:
                error = MethodNotAllowed(f"method {scope['method'][:10]} not allowed on {path}")
                await self._send_error(send, error, _request_id(None, None), Timing(), _ALLOWED[path])
                return
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if self._auth is not None and scope["type"] == "http" and scope["path"].startswith("/v1/"):
            try:
                await self._auth.authenticate(presented_key(scope["headers"]))
            except GatewayError as exc:
                await self._send_error(send, exc, _request_id(None, None, scope), Timing())
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
        if self._cache is not None:
            await self._cache.drain()
        if self._usage is not None:
            await self._usage.drain()
        await self.executor.aclose()
        if self._auth is not None:
            await self._auth.close()
        if self._on_shutdown is not None:
            await self._on_shutdown()
        self.metrics.close()

    async def _origin_ok(self, scope: Scope, send: Send) -> bool:
        presented = None
        for name, value in scope["headers"]:
            if name == ORIGIN_HEADER:
                presented = value
                break
        assert self._origin_guard is not None
        try:
            await self._origin_guard.check(presented)
        except GatewayError as exc:
            await self._send_error(send, exc, _request_id(None, None, scope), Timing())
            return False
        return True

    # ------------------------------------------------------------------ simple routes

    async def _health(self, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", CT_JSON),
                    (b"content-length", b"%d" % len(_HEALTH_BODY)),
                    (b"x-switchboard-region", self._region),
                ],
            }
        )
        await send({"type": "http.response.body", "body": _HEALTH_BODY})

    def _with_headers(self, scope: Scope, send: Send) -> Send:
        """Adds the request id, region and timing headers to responses of the FastAPI routes."""
        timing = Timing()
        caller = lambda_ctx = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                caller = value
            elif name == b"x-amzn-lambda-context":
                lambda_ctx = value
        request_id = _request_id(caller, lambda_ctx, scope)

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                headers += [(b"x-request-id", request_id), (b"x-switchboard-region", self._region)]
                headers += timing.headers(perf_counter())
                message["headers"] = headers
            await send(message)

        return wrapped

    # ------------------------------------------------------------------ chat completions

    def _base_headers(self, request_id: bytes, content_type: bytes) -> list[tuple[bytes, bytes]]:
        return [
            (b"content-type", content_type),
            (b"x-request-id", request_id),
            (b"x-switchboard-region", self._region),
        ]

    async def _chat(self, scope: Scope, receive: Receive, send: Send, dialect: Dialect) -> None:
        timing = Timing()
        caller = lambda_ctx = content_length = content_type = cache_control = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                content_length = value
            elif name == b"content-type":
                content_type = value
            elif name == b"x-request-id":
                caller = value
            elif name == b"x-amzn-lambda-context":
                lambda_ctx = value
            elif name == b"cache-control":
                cache_control = value
        request_id = _request_id(caller, lambda_ctx, scope)
        status, outcome, model, stream = 500, "error", None, False
        target = None
        started = False
        disconnected = False
        task = asyncio.current_task()
        watcher: asyncio.Task[None] | None = None

        async def watch_disconnect() -> None:
            nonlocal disconnected
            while (await receive())["type"] != "http.disconnect":
                pass
            if not started_complete:
                disconnected = True
                if task is not None:
                    task.cancel()

        started_complete = False
        key = None
        completion: bytes | None = None
        cache_state = response_cache.BYPASS
        cache_hit: response_cache.Entry | None = None
        too_large = strip_usage = False
        request_bytes = 0
        cache_key = ""
        try:
            key = await self._auth.authenticate(presented_key(scope["headers"])) if self._auth else None
            if content_type is not None and not _json_content_type(content_type):
                raise UnsupportedMedia("Content-Type must be application/json")
            raw = await read_body(receive, self.config.gateway.max_body_bytes, content_length)
            request_bytes = len(raw)
            request = dialect.parse(raw)
            model, stream = request.model, request.stream
            Authenticator.authorize(key, request.models or (request.model,))
            reservation = None
            if key is not None and self._limits is not None:
                reservation = await self._limits.admit(key, len(raw), request.body)
            caching = None
            if self._cache is not None:
                caching = response_cache.policy(
                    cache_control, key.cache_ttl if key else None, self._cache.settings
                )
            if caching is not None and self._cache is not None:
                cache_key = response_cache.cache_key(
                    key.tenant if key else "open", dialect.route, stream, raw
                )
                cache_hit, cache_state = await self._cache.lookup(cache_key, caching)
                if cache_state == response_cache.BYPASS:
                    caching = None
            if cache_hit is not None:
                target = Target(cache_hit.provider, cache_hit.model)
                started = True
                await self._replay(send, cache_hit, request_id, timing, reservation)
                status, outcome = 200, "done" if stream else "ok"
                self._settle(reservation, 0)
            elif not stream:
                targets = plan_targets(self.config, request)
                deadline_s = deadline_ms(self.config, request) / 1000.0
                watcher = asyncio.ensure_future(watch_disconnect())
                result = await self.executor.complete(request, targets, deadline_s, timing)
                target = result.target
                content = result.content if dialect.render is None else dialect.render(result.content)
                headers = self._base_headers(request_id, CT_JSON)
                headers += [
                    (b"content-length", b"%d" % len(content)),
                    (b"x-switchboard-provider", target.provider.encode()),
                    (b"x-switchboard-model", target.model.encode()),
                    (b"x-switchboard-cache", cache_state),
                ]
                if reservation is not None:
                    headers += reservation.headers
                headers += timing.headers(perf_counter())
                started = True
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": content})
                status, outcome = 200, "ok"
                completion = result.content
                self._settle(reservation, total_tokens(result.content))
                if caching is not None and self._cache is not None:
                    too_large = not self._cache.keep(
                        cache_key, target.provider, target.model, content, caching.ttl_s
                    )
            else:
                strip_usage = dialect.stream_events is None and _ask_for_usage(request.body)
                targets = plan_targets(self.config, request)
                deadline_s = deadline_ms(self.config, request) / 1000.0
                watcher = asyncio.ensure_future(watch_disconnect())
                opened = await self.executor.open_stream(request, targets, deadline_s, timing)
                target = opened.target
                headers = self._base_headers(request_id, CT_SSE)
                headers += [
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                    (b"x-switchboard-provider", target.provider.encode()),
                    (b"x-switchboard-model", target.model.encode()),
                    (b"x-switchboard-cache", cache_state),
                ]
                if reservation is not None:
                    headers += reservation.headers
                headers += timing.headers(perf_counter())
                started = True
                status = 200
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                captured: list[bytes] | None = None
                client_send = send
                if caching is not None:
                    captured = []
                    client_send = _capturing(send, captured)
                if dialect.stream_events is not None:
                    client_send = _translating(client_send, dialect.stream_events(model))
                outcome = await relay(
                    opened,
                    client_send,
                    timing,
                    idle_timeout_s=self.config.routing.stream_idle_timeout_ms / 1000.0,
                    secrets=self.executor.credentials.known_values(),
                    strip_usage=strip_usage,
                )
                used = timing.usage.get("total_tokens") if timing.usage else None
                self._settle(reservation, used if isinstance(used, int) else None)
                if outcome == "done" and captured is not None and caching is not None and self._cache:
                    too_large = not self._cache.keep(
                        cache_key, target.provider, target.model, captured, caching.ttl_s
                    )
            started_complete = True
        except GatewayError as exc:
            status, outcome = exc.http_status, type(exc).__name__
            if not started:
                await self._send_error(send, exc, request_id, timing, dialect=dialect)
        except ClientGone:
            outcome = "client_gone"
        except asyncio.CancelledError:
            if not disconnected:
                raise
            if task is not None:
                task.uncancel()
            status, outcome = 499, "client_gone"
        except Exception:
            log.exception("unhandled error serving request %s", request_id.decode())
            status, outcome = 500, "internal_error"
            if not started:
                await self._send_error(
                    send,
                    GatewayError(f"internal error (request id {request_id.decode()})"),
                    request_id,
                    timing,
                    dialect=dialect,
                )
        finally:
            started_complete = True
            if watcher is not None:
                watcher.cancel()
        if self._usage is not None:
            self._record_usage(
                key, model, target, status, timing, completion, cache_hit is not None, request_bytes
            )
        if self.metrics.enabled:
            now = perf_counter()
            self.metrics.record(
                RequestRecord(
                    route=dialect.route,
                    status=status,
                    model=model,
                    provider=target.provider if target else None,
                    upstream_model=target.model if target else None,
                    stream=stream,
                    attempts=timing.attempts,
                    overhead_ms=timing.overhead_ms(now),
                    upstream_ms=timing.upstream_ms(),
                    total_ms=timing.total_ms(now),
                    ttft_ms=None
                    if timing.first_token is None
                    else (timing.first_token - timing.start) * 1000,
                    request_id=request_id.decode(),
                    outcome=outcome,
                    cache=cache_state.decode(),
                    cache_too_large=too_large,
                )
            )

    def _record_usage(
        self,
        key: Any,
        model: str | None,
        target: Any,
        status: int,
        timing: Timing,
        completion: bytes | None,
        cache_hit: bool,
        request_bytes: int,
    ) -> None:
        """Once per request, after the response (streams cut mid-way count what was delivered)."""
        if self._usage is None or model is None:
            return
        prompt, completion_tokens, cached = tokens_from_usage(timing.usage)
        if timing.usage is None and completion is None and timing.chunks and not cache_hit:
            # a stream cut before the provider's usage chunk: count what was delivered (estimated:
            # ~1 token per content chunk, ~4 prompt bytes per token)
            prompt, completion_tokens = request_bytes // 4, timing.chunks
        event = UsageEvent(
            key_id=key.key_id if key is not None else "open",
            tenant=key.tenant if key is not None else "open",
            model=model,
            provider=target.provider if target else None,
            upstream_model=target.model if target else None,
            status=status,
            prompt_tokens=prompt,
            completion_tokens=completion_tokens,
            cached_tokens=cached,
            at=time.time(),
            cache_hit=cache_hit,
        )
        self._usage.record(event, completion)

    def _settle(self, reservation: Reservation | None, used_tokens: int | None) -> None:
        if reservation is not None and self._limits is not None:
            self._limits.settle(reservation, used_tokens)

    async def _replay(
        self,
        send: Send,
        entry: response_cache.Entry,
        request_id: bytes,
        timing: Timing,
        reservation: Reservation | None,
    ) -> None:
        """Serve a cached answer: the same body, or the same stream messages with a fresh timing
        comment."""
        headers = self._base_headers(request_id, CT_SSE if entry.stream else CT_JSON)
        if entry.stream:
            headers += [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
        else:
            headers.append((b"content-length", b"%d" % len(entry.chunks[0])))
        headers += [
            (b"x-switchboard-provider", entry.provider.encode()),
            (b"x-switchboard-model", entry.model.encode()),
            (b"x-switchboard-cache", response_cache.HIT),
            (b"age", b"%d" % max(0, int(time.time() - entry.created))),
        ]
        if reservation is not None:
            headers += reservation.headers
        headers += timing.headers(perf_counter())
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if not entry.stream:
            await send({"type": "http.response.body", "body": entry.chunks[0]})
            return
        timing.first_token = perf_counter()
        timing.chunks = len(entry.chunks)
        chunks = entry.replay(timing.sse_comment(perf_counter(), entry.provider, entry.model))
        for chunk in chunks[:-1]:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": chunks[-1] if chunks else b"", "more_body": False})

    async def _send_error(
        self,
        send: Send,
        exc: GatewayError,
        request_id: bytes,
        timing: Timing,
        allow: bytes | None = None,
        dialect: Dialect = OPENAI,
    ) -> None:
        body = dialect.error_body(exc)
        headers = self._base_headers(request_id, CT_JSON)
        headers.append((b"content-length", b"%d" % len(body)))
        if allow is not None:
            headers.append((b"allow", allow))
        headers += exc.headers()
        headers += timing.headers(perf_counter())
        await send({"type": "http.response.start", "status": exc.http_status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _ask_for_usage(body: dict[str, Any]) -> bool:
    """Ask the provider for the stream's usage chunk (to reconcile token limits and count usage);
    True when the client did not ask for it, so the relay strips it again."""
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage"):
        return False
    body["stream_options"] = {**(options or {}), "include_usage": True}
    return True


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


def tune_gc() -> None:
    """Freeze start-up objects and collect young garbage less often: most of a Python proxy's tail
    latency is GC pauses (see README, Performance)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
