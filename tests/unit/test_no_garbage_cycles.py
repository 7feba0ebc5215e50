"""A request must not leave reference cycles behind: a cycle keeps the request's context (its body,
the parsed request, the answer) alive until the collector runs, and collector pauses are most of a
Python proxy's tail latency. (The disconnect watcher's cancelled task used to hold its own watcher
through the exception's traceback: ~39 garbage objects per request. A failed attempt's error, kept
by the routing chain, held the chain's frames - with the capped body read so far and the upstream
response - through its traceback: 55-67 objects per failed request, and after `tune_gc` memory grew
by the answer cap per request: issue 16, item 2.)"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest

from support import (
    build_app,
    chat,
    chunk,
    completion,
    error_response,
    json_response,
    make_config,
    sse_response,
)


async def _one(target: Any, body: dict, status: int = 200) -> None:
    raw = orjson.dumps(body)
    messages = [{"type": "http.request", "body": raw, "more_body": False}]
    never = asyncio.Event()

    async def receive() -> dict:
        if messages:
            return messages.pop()
        await never.wait()
        return {"type": "http.disconnect"}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [(b"content-type", b"application/json")],
        "query_string": b"",
    }
    await target(scope, receive, send)
    assert sent[0]["status"] == status


def _garbage_after(run: Callable[[int], Awaitable[None]]) -> int:
    asyncio.run(run(20))  # warm up: caches, lazily built objects
    gc.collect()
    gc.disable()
    try:
        asyncio.run(run(50))
        return gc.collect()
    finally:
        gc.enable()


def test_requests_leave_no_garbage_cycles() -> None:
    app = build_app(make_config(), lambda request: json_response(200, completion()))
    stream_app = build_app(
        make_config(), lambda request: sse_response(chunk("a"), chunk(finish="stop"), b"data: [DONE]\n\n")
    )

    async def run(n: int) -> None:
        for _ in range(n):
            await _one(app, chat("solo"))
            await _one(stream_app, chat("solo", stream=True))

    # asyncio.run's own loop teardown may leave a handful; a cycle per request would be >= 100
    assert _garbage_after(run) < 50


OVERSIZED = b'{"id": "' + b"x" * 200_000 + b'"}'


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (lambda: httpx.Response(200, content=OVERSIZED, headers={"content-type": "application/json"}), 502),
        (lambda: error_response(400), 400),
        (lambda: error_response(500), 502),
    ],
    ids=["over-max_response_bytes", "400", "500"],
)
def test_failed_requests_leave_no_garbage_cycles(answer: Callable[[], httpx.Response], status: int) -> None:
    config = make_config(gateway={"region": "r", "auth": "open", "max_response_bytes": 65536})
    app = build_app(config, lambda request: answer())

    async def run(n: int) -> None:
        for _ in range(n):
            await _one(app, chat("solo"), status)
            await _one(app, chat("solo", stream=True), status)

    assert _garbage_after(run) < 50
