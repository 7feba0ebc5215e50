"""HTTP/1.1 limits for `switchboard serve`: header-read and body-read deadlines, a header size cap,
and JSON answers for requests the HTTP parser refuses.

uvicorn's httptools protocol has none of the first three (a connection that sends nothing, half a
head, or fewer body bytes than its Content-Length stays open for ever; an 8 MiB header is read
whole) and answers framing errors with a plain-text `Invalid HTTP request received.`. uvicorn takes
a protocol class as its `http` option, so `guarded_protocol` returns a subclass of its
`HttpToolsProtocol` that adds, per connection:

- **head deadline**: a request's head (request line + headers) must be complete `head_timeout_s`
  after the connection opened or after the request's first byte; a connection that sent nothing is
  closed silently (as uvicorn's keep-alive timeout does), one that sent part of a head gets 408;
- **body deadlines**: once the head is in, no gap between body reads longer than
  `body_idle_timeout_s` and the whole body within `body_timeout_s`, else 408 (or a plain close once
  the answer has started); the application's pending `receive()` then sees `http.disconnect`;
- **header cap**: a head larger than `max_header_bytes` gets 431 as soon as that many bytes arrived
  without a complete head (so an 8 MiB header is never buffered);
- **disconnect notice**: each request's scope carries an `asgi.DisconnectHook` (extension
  `switchboard.disconnect`) that `connection_lost` calls, so the pipeline needs no task waiting in
  `receive()` to learn that its client went away;
- **framing errors** (bad or duplicate Content-Length, Transfer-Encoding with Content-Length, line
  folding, NUL, bare LF, bad URL) get a JSON 400 naming the parser's reason; a method the parser
  does not know (`FOO /v1/chat/completions`) a JSON 405.

Every answer is in the route's error shape (Anthropic on `/v1/messages*`, OpenAI elsewhere), carries
`connection: close`, and closes the connection. The common path costs one timer per connection (not
per request) and a few attribute writes per request: timers are armed only when a head or a body
is still incomplete at the end of a read.

The subclass uses uvicorn's per-connection attributes (`parser`, `cycle`, `transport`, `url`,
`headers`): the uvicorn version is pinned in the lock file and tests/integration/test_http_layer.py
drives each limit against a real `switchboard serve`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from switchboard.asgi import DISCONNECT_EXTENSION
from switchboard.constants import CHAT_PATH, EMBEDDINGS_PATH, HEALTH_PATH, MESSAGES_PATH, RESPONSES_PATH
from switchboard.dialects import anthropic, openai_chat
from switchboard.errors import GatewayError, HeadersTooLarge, InvalidRequest, MethodNotAllowed, RequestTimeout


@dataclass(frozen=True, slots=True)
class HttpLimits:
    head_timeout_s: float = 15.0
    body_idle_timeout_s: float = 15.0
    body_timeout_s: float = 120.0
    max_header_bytes: int = 64 * 1024


_ALLOW = {CHAT_PATH: b"POST", MESSAGES_PATH: b"POST", EMBEDDINGS_PATH: b"POST", RESPONSES_PATH: b"POST"}
_ALLOW[HEALTH_PATH] = b"GET, HEAD"
_REQUEST_LINE = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32} (/[!-~]*) HTTP/1\.[01]\r?\n")

# Where a request is: waiting for its first byte on a new connection, reading the head, reading
# the body, or complete (being answered, or between requests on a kept-alive connection).
_WAIT, _HEAD, _BODY, _DONE = range(4)


class _Rejected(Exception):
    """Raised inside a parser callback to stop parsing; the error is on the protocol."""


def error_answer(exc: GatewayError, path: str | None, allow: bytes | None = None) -> bytes:
    """A complete HTTP/1.1 error answer in the route's shape that closes the connection."""
    if path is not None and path.startswith(MESSAGES_PATH):
        body = anthropic.DIALECT.error_body(exc)
    else:
        body = openai_chat.DIALECT.error_body(exc)
    head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n" % (
        exc.http_status,
        _REASONS.get(exc.http_status, b"Error"),
        len(body),
    )
    if allow is not None:
        head += b"allow: " + allow + b"\r\n"
    return head + b"connection: close\r\n\r\n" + body


_REASONS = {
    400: b"Bad Request",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
}


def guarded_protocol(limits: HttpLimits) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with `limits` (pass as `uvicorn.run(..., http=...)`)."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"limits": limits})


_KEPT_HOOKS = 8
"""Disconnect hooks kept per connection for requests still in progress (pipelining depth)."""


class _Disconnect:
    """One request's `asgi.DisconnectHook`: the connection calls the watcher when it is lost."""

    __slots__ = ("_flow", "callback", "done", "lost")

    def __init__(self, flow: Any) -> None:
        self._flow = flow
        self.callback: Callable[[], None] | None = None
        self.lost = False
        self.done = False

    def watch(self, callback: Callable[[], None]) -> None:
        if self.lost:  # gone before the request started watching
            callback()
            return
        self.callback = callback
        self._flow.resume_reading()  # as uvicorn's receive() does: a paused connection sees no end

    def unwatch(self) -> None:
        self.callback = None
        self.done = True


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    limits: ClassVar[HttpLimits] = HttpLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase = _WAIT
        self._timer: asyncio.TimerHandle | None = None
        self._started = 0.0  # when the current head (or body) began
        self._last_read = 0.0  # last body bytes
        self._head_bytes = 0
        self._feeding = 0  # the size of the read being parsed
        self._rejected: GatewayError | None = None
        self._hooks: list[_Disconnect] = []
        """The disconnect hooks of this connection's requests that may still be watched."""

    # ------------------------------------------------------------------ connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._started = self.loop.time()
        self._arm(self.limits.head_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
        hooks, self._hooks = self._hooks, []
        for hook in hooks:  # a request whose response is complete has stopped watching
            hook.lost = True
            callback, hook.callback = hook.callback, None
            if callback is not None:
                callback()

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        self._feeding = len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserInvalidMethodError:
            path = self._path(data)
            if path is not None:  # a well-formed request line with a method the parser does not know
                error = MethodNotAllowed("method not allowed (not an HTTP method)")
                self._reject(error, path, _ALLOW.get(path))
            else:  # not HTTP at all (a TLS hello, ...)
                self._reject(InvalidRequest("invalid HTTP request: not an HTTP request line"), None)
            return
        except httptools.HttpParserError as exc:
            rejected, self._rejected = self._rejected, None
            if rejected is None:
                rejected = InvalidRequest(f"invalid HTTP request: {str(exc)[:100]}")
            self._reject(rejected, self._path(data))
            return
        phase = self._phase
        if phase in (_HEAD, _WAIT):
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._reject(self._too_large(), self._path(data))
            elif self._timer is None:
                self._arm(self.limits.head_timeout_s)
        elif phase == _BODY and self._timer is None:
            self._arm(self.limits.body_idle_timeout_s)

    # ------------------------------------------------------------------ parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        hook = _Disconnect(self.flow)
        # requests still being answered keep theirs (pipelined requests); routes outside the
        # pipeline never finish theirs, hence the bound
        self._hooks = [h for h in self._hooks[-_KEPT_HOOKS:] if not h.done]
        self._hooks.append(hook)
        self.scope["extensions"] = {DISCONNECT_EXTENSION: hook}  # type: ignore[dict-item]
        if self._phase != _WAIT:  # a new connection's head deadline runs from the connection
            self._started = self.loop.time()
            self._head_bytes = 0
        self._phase = _HEAD

    def on_headers_complete(self) -> None:
        limit = self.limits.max_header_bytes
        # the head is within the bytes read for it so far: measured only when those could exceed it
        if self._head_bytes + self._feeding > limit and (
            len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers) > limit
        ):
            self._rejected = self._too_large()
            raise _Rejected
        self._disarm()
        self._phase = _BODY
        self._started = self._last_read = self.loop.time()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._last_read = self.loop.time()
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._phase = _DONE
        self._disarm()
        super().on_message_complete()

    # ------------------------------------------------------------------ deadlines

    def _arm(self, delay: float) -> None:
        self._timer = self.loop.call_later(delay, self._deadline)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _deadline(self) -> None:
        self._timer = None
        now, limits = self.loop.time(), self.limits
        if self.transport.is_closing():
            return
        if self._phase == _WAIT and not self._head_bytes:
            self.transport.close()  # nothing sent: close like an idle kept-alive connection
        elif self._phase in (_WAIT, _HEAD):
            remaining = self._started + limits.head_timeout_s - now
            if remaining > 0:
                self._arm(remaining)
            else:
                self._reject(RequestTimeout("request head not received in time"), self._path(b""))
        elif self._phase == _BODY:
            remaining = min(
                self._last_read + limits.body_idle_timeout_s, self._started + limits.body_timeout_s
            )
            if remaining - now > 0:
                self._arm(remaining - now)
            else:
                self._reject(RequestTimeout("request body not received in time"), self.scope.get("path"))

    # ------------------------------------------------------------------ answers

    def _too_large(self) -> HeadersTooLarge:
        return HeadersTooLarge(f"request head larger than {self.limits.max_header_bytes} bytes")

    def _path(self, data: bytes) -> str | None:
        """The request's path, for the error shape (from the parsed URL, or the raw request line
        when the parser stopped before it)."""
        raw = self.url if getattr(self, "url", b"") else None
        if raw is None:
            match = _REQUEST_LINE.match(data[:8192])
            raw = match[1] if match else None
        if raw is None:
            return None
        return raw.split(b"?", 1)[0].decode("latin-1")

    def _reject(self, exc: GatewayError, path: str | None, allow: bytes | None = None) -> None:
        """Answer `exc` (unless an answer is already under way on this connection) and close."""
        self._disarm()
        self._phase = _DONE
        cycle = self.cycle
        pending = cycle is not None and not cycle.response_complete
        if not pending or not cycle.response_started:
            self.transport.write(error_answer(exc, path, allow))
        if pending:  # the application's receive() answers http.disconnect from now on
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()
