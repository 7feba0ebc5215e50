"""A request must not leave reference cycles behind: a cycle keeps the request's context (its body,
the parsed request, the answer) alive until the collector runs, and collector pauses are most of a
Python proxy's tail latency. (The disconnect watcher's cancelled task used to hold its own watcher
through the exception's traceback: ~39 garbage objects per request.)"""

from __future__ import annotations

import asyncio
import gc

import orjson

from support import build_app, chat, chunk, completion, json_response, make_config, sse_response


def test_requests_leave_no_garbage_cycles() -> None:
    app = build_app(make_config(), lambda request: json_response(200, completion()))
    stream_app = build_app(
        make_config(), lambda request: sse_response(chunk("a"), chunk(finish="stop"), b"data: [DONE]\n\n")
    )

    async def one(target, body: dict) -> None:
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
        assert sent[0]["status"] == 200

    async def run(n: int) -> None:
        for _ in range(n):
            await one(app, chat("solo"))
            await one(stream_app, chat("solo", stream=True))

    asyncio.run(run(20))  # warm up: caches, lazily built objects
    gc.collect()
    gc.disable()
    try:
        asyncio.run(run(50))
        # asyncio.run's own loop teardown may leave a handful; a cycle per request would be >= 100
        assert gc.collect() < 50
    finally:
        gc.enable()
