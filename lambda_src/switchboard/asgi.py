"""The HTTP edge of the bare ASGI server: reading a request (headers once, body capped) and
writing responses (the headers every answer carries, JSON and error bodies).

Owns header names and framing; knows nothing of dialects' content, keys, limits or providers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final, Protocol

import orjson

from switchboard.constants import (
    H_API_KEY,
    H_AUTHORIZATION,
    H_CACHE_CONTROL,
    H_CONTENT_ENCODING,
    H_CONTENT_LENGTH,
    H_CONTENT_TYPE,
    H_GOOG_API_KEY,
    H_LAMBDA_CONTEXT,
    H_REGION,
    H_REGION_PREFERENCE,
    H_REQUEST_ID,
    H_SESSION_AFFINITY,
    H_TRACEPARENT,
)
from switchboard.errors import InvalidRequest, PayloadTooLarge

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

_REQUEST_ID_RE = re.compile(rb"[A-Za-z0-9._:@/+=-]{1,128}")
_PRINTABLE = re.compile(rb"[\x20-\x7e]{1,1024}")


FORWARDED: Final = frozenset({b"anthropic-version", b"anthropic-beta", b"openai-beta"})
"""Client headers that belong to a provider's API (never credentials, cookies or hop-by-hop
headers): forwarded only on same-dialect pass-through."""


DISCONNECT_EXTENSION: Final = "switchboard.disconnect"
"""`scope["extensions"][DISCONNECT_EXTENSION]`, set by `switchboard serve`'s HTTP protocol
(`edge/guard.py`): a `DisconnectHook`. With it the pipeline learns that the client went away from
the connection itself; without it (another server, tests in-process) it keeps a task waiting in
`receive()` for `http.disconnect`, which costs a task and its loop turns on every request."""


class DisconnectHook(Protocol):
    def watch(self, callback: Callable[[], None]) -> None:
        """Call `callback` once if the connection is lost before the response is complete."""

    def unwatch(self) -> None:
        """Stop watching (the request is over: called once by every request of the pipeline)."""


def disconnect_hook(scope: Scope) -> DisconnectHook | None:
    extensions = scope.get("extensions")
    return extensions.get(DISCONNECT_EXTENSION) if extensions else None


class ClientGone(Exception):
    """The client disconnected before its request body was complete."""


class RequestHeaders:
    """The request headers Switchboard reads, found in one pass over the list."""

    __slots__ = (
        "cache_control",
        "content_encoding",
        "content_length",
        "content_type",
        "forward",
        "lambda_context",
        "region_preference",
        "request_id",
        "session",
        "token",
        "traceparent",
    )

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.content_length: bytes | None = None
        self.content_type: bytes | None = None
        self.cache_control: bytes | None = None
        self.content_encoding: bytes | None = None
        self.request_id: bytes | None = None
        self.lambda_context: bytes | None = None
        self.token: str | None = None
        """The presented gateway key: `Authorization: Bearer ...`, `x-api-key` or `x-goog-api-key`
        (first found)."""
        self.forward: tuple[tuple[str, str], ...] = ()
        """Headers of a provider's API, passed on to targets that serve that API as it is."""
        self.session: bytes | None = None
        """`x-session-affinity`: keeps one conversation on one target (its prompt cache)."""
        self.region_preference: bytes | None = None
        """`x-switchboard-region-preference` (printable): echoed with the region that served."""
        self.traceparent: bytes | None = None
        """W3C `traceparent`, unparsed (the tracer reads it only when tracing is on)."""
        for name, value in headers:
            if name == H_CONTENT_LENGTH:
                self.content_length = value
            elif name == H_CONTENT_TYPE:
                self.content_type = value
            elif name == H_AUTHORIZATION:
                if self.token is None:
                    scheme, _, token = value.partition(b" ")
                    if scheme.lower() == b"bearer" and token:
                        self.token = token.strip().decode("latin-1")
            elif name in (H_API_KEY, H_GOOG_API_KEY):
                if self.token is None and value:
                    self.token = value.strip().decode("latin-1")
            elif name == H_REQUEST_ID:
                self.request_id = value
            elif name == H_LAMBDA_CONTEXT:
                self.lambda_context = value
            elif name == H_CACHE_CONTROL:
                self.cache_control = value
            elif name == H_CONTENT_ENCODING:
                self.content_encoding = (
                    value if self.content_encoding is None else self.content_encoding + b", " + value
                )
            elif name in FORWARDED and _PRINTABLE.fullmatch(value):
                self.forward = _forwarded(self.forward, name.decode(), value.decode().strip())
            elif name == H_SESSION_AFFINITY:
                self.session = value or None
            elif name == H_REGION_PREFERENCE and _PRINTABLE.fullmatch(value):
                self.region_preference = value.strip()
            elif name == H_TRACEPARENT:
                self.traceparent = value


_LISTS: Final = frozenset({"anthropic-beta", "openai-beta"})


def _forwarded(seen: tuple[tuple[str, str], ...], name: str, value: str) -> tuple[tuple[str, str], ...]:
    """`seen` plus one header: a repeated beta header (a comma-separated list) is joined into one
    value, as HTTP allows, so no beta is lost; a repeated `anthropic-version` keeps the last."""
    for index, (known, previous) in enumerate(seen):
        if known == name:
            joined = f"{previous}, {value}" if name in _LISTS else value
            return (*seen[:index], (name, joined), *seen[index + 1 :])
    return (*seen, (name, value))


def request_id(caller: bytes | None, lambda_context: bytes | None, scope: Scope | None = None) -> bytes:
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


def json_content_type(value: bytes) -> bool:
    """JSON media types only (`application/json`, `*/*+json`). Form and text/plain bodies are
    refused: a browser page may post those cross-origin without a preflight, so accepting them would
    let any web page spend an open gateway's credits (send `Content-Type: application/json`)."""
    value = value.split(b";", 1)[0].strip().lower()
    return value.endswith((b"/json", b"+json")) or value == b""


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


def base_headers(request_id: bytes, region: bytes, content_type: bytes) -> Headers:
    """What every answer carries first."""
    return [(H_CONTENT_TYPE, content_type), (H_REQUEST_ID, request_id), (H_REGION, region)]


def region_echo(preference: bytes, region: bytes) -> tuple[bytes, bytes]:
    """`x-switchboard-region-preference: <preference>; served=<region>; honoured=<bool>` for the
    answer (the gateway serves from one region: the preference is honoured when it names it)."""
    honoured = b"true" if preference.lower() == region.lower() else b"false"
    return H_REGION_PREFERENCE, b"%s; served=%s; honoured=%s" % (
        preference.replace(b";", b""),
        region,
        honoured,
    )


async def send_body(send: Send, status: int, headers: Headers, body: bytes) -> None:
    """A complete answer: headers (with its length) and one body message."""
    headers.append((H_CONTENT_LENGTH, b"%d" % len(body)))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
