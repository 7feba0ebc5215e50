"""Shared test helpers: configs from dicts, apps over MockTransport upstreams, a real uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import uvicorn

from switchboard.app import create_app
from switchboard.config import Config, parse_config
from switchboard.edge.server import Gateway
from switchboard.state.store.memory import MemoryStore
from switchboard.upstream.credentials import Credentials
from switchboard.values import AwsCredentials

FAST_ROUTING = {"backoff_base_ms": 1, "backoff_cap_ms": 5, "cooldown_failures": 100}


def make_config(document: dict[str, Any] | None = None, **sections: Any) -> Config:
    doc: dict[str, Any] = {
        "gateway": {"region": "test-region", "auth": "open"},
        "store": {"backend": "memory"},
        "routing": dict(FAST_ROUTING),
        "providers": {
            "a": {"type": "openai", "base_url": "https://a.example/v1", "api_key_env": "A_KEY"},
            "b": {"type": "openai", "base_url": "https://b.example/v1", "api_key_env": "B_KEY"},
            "c": {"type": "openai", "base_url": "https://c.example/v1", "api_key_env": "C_KEY"},
            "mock": {"type": "mock"},
        },
        "models": {
            "chain": {"targets": ["a/model-a", "b/model-b"]},
            "three": {"targets": ["a/model-a", "b/model-b", "c/model-c"]},
            "solo": {"targets": ["a/model-a"]},
            "echo": {"targets": ["mock/echo"]},
        },
    }
    if document:
        doc.update(document)
    for name, value in sections.items():
        doc[name] = {**doc.get(name, {}), **value}
    return parse_config(doc, env={})


KEYS = {
    "A_KEY": "sk-canary-a-0123456789",
    "B_KEY": "sk-canary-b-0123456789",
    "C_KEY": "sk-canary-c-0123456789",
}

Handler = Callable[[httpx.Request], httpx.Response]


AWS = AwsCredentials("AKIDFIXTURE", "aws-secret-canary-0123456789", "aws-token-canary")


def build_app(config: Config, handler: Handler | None = None, **kwargs: Any) -> Gateway:
    upstream = httpx.MockTransport(handler or _unreachable)
    credentials = Credentials(env=KEYS, aws_fetcher=lambda: AWS)
    return create_app(config, transport=upstream, credentials=credentials, **kwargs)


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"unexpected upstream call to {request.url}")


def client_for(app: Gateway) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


def chat(model: str = "chain", text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def completion(content: str = "hello", model: str = "m") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status, content=orjson.dumps(body), headers={"content-type": "application/json", **(headers or {})}
    )


def error_response(
    status: int, message: str = "boom", headers: dict[str, str] | None = None
) -> httpx.Response:
    return json_response(
        status, {"error": {"message": message, "type": "x", "param": None, "code": None}}, headers
    )


def chunk(content: str | None = None, *, role: bool = False, finish: str | None = None) -> bytes:
    delta: dict[str, Any] = {}
    if role:
        delta = {"role": "assistant", "content": ""}
    elif content is not None:
        delta = {"content": content}
    payload = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def sse_response(*events: bytes) -> httpx.Response:
    return httpx.Response(200, content=b"".join(events), headers={"content-type": "text/event-stream"})


def parse_sse(text: str) -> list[str]:
    """The `data:` payloads of an SSE body, in order (comments dropped)."""
    out = []
    for event in text.replace("\r\n", "\n").split("\n\n"):
        data = [line[5:].lstrip() for line in event.split("\n") if line.startswith("data:")]
        if data:
            out.append("\n".join(data))
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_in_thread(app: Any, http: Any = "httptools") -> Iterator[str]:
    """Run `app` under a real uvicorn (httptools; `http` = `guarded_protocol(...)` for the protocol
    `switchboard serve` uses) on 127.0.0.1 in a thread; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        loop="asyncio",
        http=http,
        lifespan="on",
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running in a thread, for servers the tests talk to from another thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


class FixtureServer:
    """A loopback HTTP/1.1 server answering every request with one recorded response (status,
    headers, body); for end-to-end tests through the real transport."""

    def __init__(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.status, self.body, self.content_type = status, body, content_type
        self.requests = 0
        self.port = 0
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":", 1)[1])
                    await reader.readexactly(length)
                    self.requests += 1
                    writer.write(
                        b"HTTP/1.1 %d X\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n"
                        % (self.status, self.content_type.encode(), len(self.body))
                        + self.body
                    )
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()

        self._server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class Replicator:
    """Two regional stores replicated with lag and last-writer-wins per item, like a Global Table: an
    item written in one region since the last sync is copied to the other; an item written in both
    keeps one region's version and loses the other's writes."""

    def __init__(self, a: MemoryStore, b: MemoryStore) -> None:
        self.stores = (a, b)
        self.synced: dict = {}

    def sync(self) -> None:
        a, b = (store._items for store in self.stores)
        for key in set(a) | set(b):
            base = self.synced.get(key)
            changed_a, changed_b = a.get(key) != base, b.get(key) != base
            if changed_a and changed_b:
                winner = (
                    b[key] if key in b else a[key]
                )  # the later writer wins; the other's increments are lost
            elif changed_a:
                winner = a[key]
            elif changed_b:
                winner = b[key]
            else:
                continue
            a[key], b[key] = copy.deepcopy(winner), copy.deepcopy(winner)
            self.synced[key] = copy.deepcopy(winner)


def make_table(client, name: str = "switchboard-test") -> None:
    from infra.constructs.table import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE

    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": SORT_KEY, "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )
