"""A cheap OpenAI-compatible HTTP/1.1 server on raw asyncio, for tests and `scripts/bench`.

It costs far less CPU per request than any framework, so benchmarks measure the gateway, and it
records connection opens/closes so tests can prove that a client disconnect reached the upstream.
The request body's `model` selects the behaviour:

- anything else: a fixed completion (`"ok"`), or 5 chunks when `stream` is true;
- `stream-<n>-<ms>`: `<n>` chunks, one every `<ms>` ms; each chunk's content is the send time
  (`time.time_ns()`), so a client can measure the relay delay per chunk;
- `status-<code>`: that HTTP status with an OpenAI error body;
- `delay-<ms>`: the fixed completion after `<ms>` ms;
- `hang-<ms>`: no answer for `<ms>` ms, then the connection is closed (streamed or not: an upstream
  that dies before its first byte).

Run standalone: `python -m switchboard.devtools.fake_upstream --port 9000`.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from typing import Any

import orjson

from switchboard.wire.openai import DONE, choice, chunk, completion_body, error_object, usage_object

_ID, _MODEL, _CREATED = "chatcmpl-fake", "fake", 1_700_000_000
_COMPLETION = orjson.dumps(
    completion_body(
        _ID,
        _MODEL,
        _CREATED,
        [choice(0, {"role": "assistant", "content": "ok"}, "stop")],
        usage_object(5, 1, cached=None),
    )
)
_STREAM_RE = re.compile(rb'"model"\s*:\s*"stream-(\d+)-(\d+)"')
_STATUS_RE = re.compile(rb'"model"\s*:\s*"status-(\d{3})"')
_DELAY_RE = re.compile(rb'"model"\s*:\s*"delay-(\d+)"')
_HANG_RE = re.compile(rb'"model"\s*:\s*"hang-(\d+)"')
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def _chunk_event(content: str | None, finish: str | None = None, role: bool = False) -> bytes:
    delta: dict[str, Any] = (
        {"role": "assistant", "content": ""} if role else ({"content": content} if content else {})
    )
    return chunk(_ID, _MODEL, _CREATED, delta, finish)


class FakeUpstream:
    def __init__(self) -> None:
        self.requests = 0
        self.open_connections = 0
        self.closed_at: list[float] = []
        self.bodies: list[bytes] = []
        self.record_bodies = False
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class _Connection(asyncio.Protocol):
    def __init__(self, server: FakeUpstream) -> None:
        self.server = server
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not subclasses
        self.server.open_connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.open_connections -= 1
        self.server.closed_at.append(time.monotonic())
        for task in self.tasks:
            task.cancel()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].lower()
            length = 0
            marker = head.find(b"content-length:")
            if marker >= 0:
                length = int(
                    head[marker + 15 : head.find(b"\r\n", marker) if head.find(b"\r\n", marker) > 0 else None]
                )
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            self._handle(body)

    def _handle(self, body: bytes) -> None:
        server = self.server
        server.requests += 1
        if server.record_bodies:
            server.bodies.append(body)
        assert self.transport is not None
        if m := _STATUS_RE.search(body):
            code = int(m[1])
            payload = orjson.dumps(error_object(f"fake {code}", "server_error", None))
            self.transport.write(self._head(code, b"application/json", len(payload)) + payload)
            return
        if m := _HANG_RE.search(body):
            self._spawn(self._hang(int(m[1])))
            return
        if b'"stream":true' in body.replace(b" ", b""):
            m = _STREAM_RE.search(body)
            count, delay = (int(m[1]), int(m[2])) if m else (5, 0)
            self._spawn(self._stream(count, delay))
            return
        if m := _DELAY_RE.search(body):
            self._spawn(self._delayed(int(m[1])))
            return
        self.transport.write(self._head(200, b"application/json", len(_COMPLETION)) + _COMPLETION)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _hang(self, delay_ms: int) -> None:
        await asyncio.sleep(delay_ms / 1000)
        if self.transport is not None:
            self.transport.close()

    async def _delayed(self, delay_ms: int) -> None:
        await asyncio.sleep(delay_ms / 1000)
        assert self.transport is not None
        if not self.transport.is_closing():
            self.transport.write(self._head(200, b"application/json", len(_COMPLETION)) + _COMPLETION)

    @staticmethod
    def _head(status: int, content_type: bytes, length: int | None) -> bytes:
        reason = _REASONS.get(status, "Status").encode()
        framing = b"content-length: %d" % length if length is not None else b"transfer-encoding: chunked"
        return b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\n%s\r\n\r\n" % (status, reason, content_type, framing)

    async def _stream(self, count: int, delay_ms: int) -> None:
        transport = self.transport
        assert transport is not None

        def write(event: bytes) -> None:
            transport.write(b"%x\r\n%s\r\n" % (len(event), event))

        transport.write(self._head(200, b"text/event-stream", None))
        write(_chunk_event(None, role=True))
        for _ in range(count):
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)
            if transport.is_closing():
                return
            write(_chunk_event(str(time.time_ns())))
        write(_chunk_event(None, finish="stop"))
        write(DONE)
        transport.write(b"0\r\n\r\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()

    async def serve() -> None:
        server = FakeUpstream()
        await server.start(args.host, args.port)
        print(f"fake upstream on {args.host}:{server.port}", flush=True)
        await asyncio.Event().wait()

    try:
        import uvloop

        uvloop.run(serve())
    except ImportError:  # pragma: no cover
        asyncio.run(serve())


if __name__ == "__main__":
    main()
