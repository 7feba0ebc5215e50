"""The benchmark's bare floor: a plain ASGI callable + aiohttp pass-through, no framework, no features.

This is the honest Python floor for Switchboard's hot route: served by uvicorn with exactly the
options `switchboard serve` uses (uvloop, httptools, lifespan on, no access log, no server/date
headers, no proxy-headers middleware), one shared aiohttp session configured like Switchboard's
transport (no cookie jar, no total timeout, no auto User-Agent), the collector tuned after start-up
as Switchboard tunes it (`gc.collect(); gc.freeze(); gc.set_threshold(50_000, 50, 100)`), streams
relayed read by read (`iter_any`, one ASGI body message per upstream read) and non-streaming
answers passed through as bytes. No parse, no routing, no auth, no timing, no disconnect watcher:
whatever Switchboard costs above this is its own work.

Usage: python scripts/bare_floor.py UPSTREAM_BASE_URL PORT
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import aiohttp
import uvicorn

UPSTREAM = sys.argv[1].rstrip("/") + "/chat/completions"
PATH = "/v1/chat/completions"
UPSTREAM_HEADERS = {"content-type": "application/json"}
JSON = b"application/json"
SSE = b"text/event-stream"
NOT_FOUND = b'{"error":{"message":"not found","type":"invalid_request_error","code":"not_found"}}'

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

state: dict[str, aiohttp.ClientSession] = {}


def open_session() -> aiohttp.ClientSession:
    # the same connection-pool settings as switchboard.upstream.transport.AiohttpTransport
    connector = aiohttp.TCPConnector(limit=1000, limit_per_host=0, keepalive_timeout=60.0, ttl_dns_cache=300)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=10.0),
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=("User-Agent",),
        trust_env=False,
    )


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            state["session"] = open_session()
            gc.collect()
            gc.freeze()
            gc.set_threshold(50_000, 50, 100)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await state["session"].close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def read_body(receive: Receive) -> bytes:
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    parts = [body]
    while message.get("more_body", False):
        message = await receive()
        parts.append(message.get("body", b""))
    return b"".join(parts)


async def app(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    if scope["path"] != PATH or scope["method"] != "POST":
        headers = [(b"content-type", JSON), (b"content-length", b"%d" % len(NOT_FOUND))]
        await send({"type": "http.response.start", "status": 404, "headers": headers})
        await send({"type": "http.response.body", "body": NOT_FOUND})
        return
    body = await read_body(receive)
    async with state["session"].post(UPSTREAM, data=body, headers=UPSTREAM_HEADERS) as upstream:
        if upstream.headers.get("content-type", "").startswith("text/event-stream"):
            headers = [(b"content-type", SSE), (b"cache-control", b"no-cache")]
            await send({"type": "http.response.start", "status": upstream.status, "headers": headers})
            async for chunk in upstream.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        content = await upstream.read()
    headers = [(b"content-type", JSON), (b"content-length", b"%d" % len(content))]
    await send({"type": "http.response.start", "status": upstream.status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[2]),
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="warning",
        server_header=False,
        proxy_headers=False,
        date_header=False,
    )
