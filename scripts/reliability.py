"""The reliability suite: the invariants of shared/notes/reliability.md (P1-P10) and of issue 16
(I1-I13, scripts/reliability_server.py and scripts/reliability_fuzz.py) run against real
`switchboard serve` processes on 127.0.0.1 (see scripts/reliability; `--quick` about a minute).

Two gateways (A at log level info, B at debug) share one SQLite store, a metrics (EMF) file and a
temp config whose providers point at a hostile fake upstream in this process: the upstream model
name picks its behaviour (`ok`, `echo-<status>`, `redirect`, `reset-after`, ...), and it echoes the
credential it received into error bodies, headers and stream error events. Provider keys are canaries
planted in the gateways' environment.

- P1: generated bad requests (static corpus + hypothesis) on every route: no 5xx, no hang, no
  upstream call, errors in the route's shape.
- P2: every canary (provider keys, gateway keys) searched raw, upper-cased, URL-encoded, base64 (any
  alignment), and by prefix / suffix in every response (status line, headers, body), both gateways'
  stdout/stderr, the EMF file, the SQLite store files and the usage spill file.
- P4/P6: a key with an rpm limit hammered through both gateways at once (across a minute boundary in
  the full run): admitted <= limit per window; usage recorded exactly once (after a graceful stop).
- P5/P9: hostile upstream answers: the right status, the right number of attempts, or a stream ended
  by an error event (never [DONE] after a broken stream).
- P10: RSS and open descriptors of gateway A back near baseline after N streams and M disconnects.
- I1-I13: one invariant per item of issue 16 (see scripts/reliability_server.py), among them I4:
  fuzzed bodies through every provider type (>= 4,000 each in the full run, 400 in `--quick`).

The configuration sets `max_response_bytes` to 2 MiB, so P9's 48 MiB answer and I2's answers are
over the cap (with the 64 MiB default the 48 MiB answer was relayed and P9 failed on every clean
checkout).

Prints one table (cases tried / failed per invariant) and every failure (request + observed
answer); `--report FILE` writes the Markdown report (docs/reliability.md). Exit status 1 when an
invariant listed in `--assert` failed (default: all).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime
import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import reliability_fuzz
from switchboard.devtools import serve_process

ROOT = Path(__file__).resolve().parent.parent
PY = (
    str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
)
ROUTES = (
    "/v1/chat/completions",
    "/v1/messages",
    "/v1/responses",
    "/v1/embeddings",
    "/v1/messages/count_tokens",
)
INVARIANTS = (
    "P1",
    "P2",
    "P4",
    "P5",
    "P6",
    "P9",
    "P10",
    "I1",
    "I2",
    "I3",
    "I4",
    "I5",
    "I6",
    "I7",
    "I8",
    "I9",
    "I10",
    "I12",
    "I13",
)
MEANING = {
    "P1": "malformed input: 4xx in the route's shape, no upstream call",
    "P2": "no secret in any answer, log, metric or store file",
    "P4": "rate limits across two processes",
    "P5": "retry / fallback classification, no redirect followed",
    "P6": "usage counted exactly once",
    "P9": "broken and oversized upstream answers end cleanly",
    "P10": "memory, descriptors, connections back to baseline",
    "I1": "streamed translated Responses answer stored before its final event",
    "I2": "RSS bounded under sustained answers over max_response_bytes",
    "I3": "store locked (SQLite) or stopped (DynamoDB): 503 within the bound",
    "I4": "fuzzed bodies through every provider type: no 5xx",
    "I5": "header values from client input: printable, answer whole",
    "I6": "Content-Encoding: gzip/deflate decoded, others 415, zip bomb 413",
    "I7": "405 with Allow, 404 at once, %2F not a separator",
    "I8": "Bedrock errors: no AWS key id or signature",
    "I9": "beta headers joined, each to its own API",
    "I10": "tenant names validated, anonymous tenant reserved",
    "I12": "silent model: stream committed with keep-alives",
    "I13": "malformed upstream event: error event in the client's dialect",
}


# ---------------------------------------------------------------------------------------------
# results


@dataclass
class Results:
    tried: dict[str, int] = field(default_factory=lambda: dict.fromkeys(INVARIANTS, 0))
    failures: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in INVARIANTS})
    notes: list[str] = field(default_factory=list)

    def case(self, invariant: str, ok: bool, what: str) -> bool:
        self.tried[invariant] += 1
        if not ok:
            self.failures[invariant].append(what)
        return ok

    def table(self) -> str:
        lines = ["| invariant | what | cases tried | failed |", "|---|---|---:|---:|"]
        lines += [f"| {k} | {MEANING[k]} | {self.tried[k]} | {len(self.failures[k])} |" for k in INVARIANTS]
        return "\n".join(lines)


def short(data: bytes | str, limit: int = 300) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit] + f"...(+{len(text) - limit} chars)"


# ---------------------------------------------------------------------------------------------
# the hostile upstream


class Upstream:
    """HTTP/1.1 on raw asyncio. The JSON body's `model` picks the behaviour (see module docstring)."""

    def __init__(self) -> None:
        self.calls = 0
        self.steal_calls = 0
        self.last_headers: dict[str, str] = {}
        """The headers of the last request (repeated names joined with ", ": I9)."""
        self.open = 0
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()
        server = asyncio.run_coroutine_threadsafe(
            self.loop.create_server(lambda: _UpConn(self), "127.0.0.1", 0), self.loop
        ).result(5)
        self.port = server.sockets[0].getsockname()[1]


class _UpConn(asyncio.Protocol):
    def __init__(self, up: Upstream) -> None:
        self.up, self.buf = up, b""
        self.transport: asyncio.Transport | None = None
        self.tasks: set[asyncio.Future[None]] = set()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.up.open += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.up.open -= 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            head = self.buf[:end].decode("latin-1")
            lines = head.split("\r\n")
            headers: dict[str, str] = {}
            for name, _, value in (x.partition(":") for x in lines[1:]):
                key = name.strip().lower()
                headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self.buf) < end + 4 + length:
                return
            body, self.buf = self.buf[end + 4 : end + 4 + length], self.buf[end + 4 + length :]
            task = asyncio.ensure_future(self.handle(lines[0].split(" ")[1], headers, body))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def respond(self, status: int, body: bytes, ctype: str = "application/json", extra: str = "") -> None:
        self.write(
            f"HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\n".encode()
            + f"content-length: {len(body)}\r\n{extra}\r\n".encode()
            + body
        )

    def chunk(self, data: bytes) -> None:
        self.write(b"%x\r\n%s\r\n" % (len(data), data))

    async def handle(self, path: str, headers: dict[str, str], body: bytes) -> None:
        if path.startswith("/steal"):
            self.up.steal_calls += 1
            self.respond(200, b"{}")
            return
        self.up.calls += 1
        self.up.last_headers = headers
        if "/model/" in path and "leak" in path:  # Bedrock's signature-mismatch message (I8)
            auth = headers.get("authorization", "")
            message = f"The request signature we calculated does not match the signature you provided. {auth}"
            extra = "x-amzn-errortype: ValidationException:http://internal.amazon.com/coral/\r\n"
            self.respond(400, json.dumps({"message": message}).encode(), extra=extra)
            return
        native = reliability_fuzz.upstream_answer(path.split("?")[0], False)
        if native is not None:  # Gemini and Bedrock (the fuzz run's providers): one valid answer
            self.respond(native[0], native[2], native[1])
            return
        if path.endswith("/count_tokens"):
            self.respond(200, b'{"input_tokens": 5}')
            return
        try:
            request = json.loads(body)
        except ValueError:
            request = {}
        model = str(request.get("model", "ok")) if isinstance(request, dict) else "ok"
        stream = isinstance(request, dict) and request.get("stream") is True
        anthropic = path.endswith("/messages")
        credential = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
        if model.startswith("echo-") and model[5:].isdigit():
            status = int(model[5:])
            message = (
                f"Incorrect API key provided: {credential} (auth header {headers.get('authorization', '')})"
            )
            if anthropic:
                payload = {"type": "error", "error": {"type": "authentication_error", "message": message}}
            else:
                payload = {
                    "error": {
                        "message": message,
                        "type": "invalid_request_error",
                        "param": None,
                        "code": credential,
                    }
                }
            extra = f"x-echo-key: {credential}\r\nwww-authenticate: Bearer realm={credential}\r\n"
            if status in (429, 503):
                extra += "retry-after-ms: 5\r\n"
            self.respond(status, json.dumps(payload).encode(), extra=extra)
        elif model == "redirect":
            self.respond(302, b"", extra=f"location: http://127.0.0.1:{self.up.port}/steal\r\n")
        elif model == "bad-json":
            self.respond(200, b'{"id": "x", "choices": [')
        elif model == "huge-body":
            self.respond(200, b'{"id": "' + b"x" * (48 * 1024 * 1024) + b'"}')
        elif model == "over-cap":  # past the suite's max_response_bytes (I2)
            self.respond(200, b'{"id": "' + b"x" * (MAX_RESPONSE_BYTES + MAX_RESPONSE_BYTES // 2) + b'"}')
        elif model == "slow-body":
            self.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{")
            for _ in range(40):
                await asyncio.sleep(0.25)
                self.write(b" ")
        elif model == "reset-before":
            if self.transport is not None:
                self.transport.abort()
        elif model == "hang":
            await asyncio.sleep(30)
        elif model == "silent" and stream:  # thinks silently before its first output (I12)
            await asyncio.sleep(SILENT_S)
            await self.stream("ok", anthropic, credential, request)
        elif stream:
            await self.stream(model, anthropic, credential, request)
        else:
            self.respond(200, json.dumps(_answer(path, model, anthropic)).encode())

    async def stream(self, model: str, anthropic: bool, credential: str, request: dict[str, Any]) -> None:
        self.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        events = _anthropic_events() if anthropic else _openai_events(request)
        n = 5 if model == "stream-slow" else 2
        for event in events[:n]:
            self.chunk(event)
            if model == "stream-slow":
                await asyncio.sleep(0.1)
        if model == "reset-after":
            await asyncio.sleep(0.02)
            if self.transport is not None:
                self.transport.abort()
            return
        if model == "stream-malformed":
            self.chunk(b"data: {this is not json\n\n")
        elif model == "stream-array-event":  # JSON, but not an object (I13)
            self.chunk(b"data: [1, 2]\n\n")
        elif model == "stream-huge-event":
            self.chunk(b"data: " + b"x" * (24 * 1024 * 1024) + b"\n\n")
        elif model == "echo-stream-error":
            message = f"upstream overloaded for key {credential}"
            if anthropic:
                error = {"type": "error", "error": {"type": "overloaded_error", "message": message}}
                self.chunk(b"event: error\ndata: " + json.dumps(error).encode() + b"\n\n")
            else:
                error = {
                    "error": {"message": message, "type": "server_error", "param": None, "code": credential}
                }
                self.chunk(b"data: " + json.dumps(error).encode() + b"\n\n")
        else:
            for event in events[n:]:
                self.chunk(event)
        self.write(b"0\r\n\r\n")


def _answer(path: str, model: str, anthropic: bool) -> dict[str, Any]:
    if anthropic:
        return {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": "ok"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": 1},
        }
    if path.endswith("/embeddings"):
        return {
            "object": "list",
            "model": model,
            "usage": {"prompt_tokens": 5, "total_tokens": 5},
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
        }
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }


def _sse(payload: dict[str, Any], name: str | None = None) -> bytes:
    head = f"event: {name}\n".encode() if name else b""
    return head + b"data: " + json.dumps(payload).encode() + b"\n\n"


def _openai_events(request: dict[str, Any]) -> list[bytes]:
    def c(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return _sse(
            {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [choice]}
        )

    events = [c({"role": "assistant", "content": ""}), c({"content": "w1 "}), c({"content": "w2 "})]
    events += [c({"content": "w3"}), c({}, "stop")]
    if (request.get("stream_options") or {}).get("include_usage"):
        usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
        events.append(
            _sse(
                {
                    "id": "c1",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": "m",
                    "choices": [],
                    "usage": usage,
                }
            )
        )
    return [*events, b"data: [DONE]\n\n"]


def _anthropic_events() -> list[bytes]:
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 0},
    }
    delta = {"type": "text_delta", "text": "w1 "}
    return [
        _sse({"type": "message_start", "message": message}, "message_start"),
        _sse(
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            "content_block_start",
        ),
        _sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta"),
        _sse(
            {"type": "content_block_delta", "index": 0, "delta": {**delta, "text": "w2"}},
            "content_block_delta",
        ),
        _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 3},
            },
            "message_delta",
        ),
        _sse({"type": "message_stop"}, "message_stop"),
    ]


# ---------------------------------------------------------------------------------------------
# gateways

BEHAVIOURS = (
    "ok",
    "echo-400",
    "echo-401",
    "echo-403",
    "echo-404",
    "echo-422",
    "echo-429",
    "echo-500",
    "echo-503",
    "redirect",
    "bad-json",
    "huge-body",
    "slow-body",
    "reset-before",
    "hang",
    "stream-slow",
    "reset-after",
    "stream-malformed",
    "stream-huge-event",
    "echo-stream-error",
    "over-cap",
    "silent",
    "stream-array-event",
)
RETRY_BUDGET = 2
MAX_RESPONSE_BYTES = 2 * 1024 * 1024
"""The suite's `max_response_bytes`: the 48 MiB answer of P9 (and I2's answers) exceed it."""
SILENT_S = 1.5
STREAM_COMMIT_MS = 400
STORE_TIMEOUT_MS = 1000
ATTEMPTS = 1 + min(RETRY_BUDGET, 1)  # routing/policy.py: RETRIES_PER_TARGET = 1 (one target here)


@dataclass
class Canaries:
    openai: str = field(default_factory=lambda: "sk-canary-" + secrets.token_hex(16))
    anthropic: str = field(default_factory=lambda: "sk-ant-canary-" + secrets.token_hex(16))
    # a key of no known shape (not masked by pattern): only exact masking can hide it
    odd: str = field(
        default_factory=lambda: "ODDKEY" + secrets.token_urlsafe(12) + "/+=" + secrets.token_hex(6)
    )

    aws_key_id: str = field(default_factory=lambda: "AKIA" + secrets.token_hex(8).upper())
    aws_secret: str = field(default_factory=lambda: "aws-canary-" + secrets.token_urlsafe(24))

    def env(self) -> dict[str, str]:
        return {
            "REL_OPENAI_KEY": self.openai,
            "REL_ANTHROPIC_KEY": self.anthropic,
            "REL_ODD_KEY": self.odd,
            "AWS_ACCESS_KEY_ID": self.aws_key_id,  # the fuzz run's Bedrock provider signs with these
            "AWS_SECRET_ACCESS_KEY": self.aws_secret,
        }


def write_config(tmp: Path, port: int) -> Path:
    base = f"http://127.0.0.1:{port}/v1"
    lines = [
        f'[gateway]\nregion = "rel"\nmetrics = "{tmp / "metrics.emf"}"\n'
        f"max_response_bytes = {MAX_RESPONSE_BYTES}\n",
        f'[store]\nbackend = "sqlite"\npath = "{tmp / "store.db"}"\ntimeout_ms = {STORE_TIMEOUT_MS}\n',
        f"[routing]\nretry_budget = {RETRY_BUDGET}\nbackoff_base_ms = 1\nbackoff_cap_ms = 5\n"
        "cooldown_failures = 100000\ntimeout_ms = 3000\nstream_idle_timeout_ms = 2000\n"
        f"stream_commit_ms = {STREAM_COMMIT_MS}\nstream_heartbeat_ms = 200\n",
        *reliability_fuzz.config_lines(base),
        f'[providers.up]\ntype = "openai"\nbase_url = "{base}"\napi_key_env = "REL_OPENAI_KEY"\n',
        f'[providers.odd]\ntype = "openai"\nbase_url = "{base}"\napi_key_env = "REL_ODD_KEY"\n',
        f'[providers.anth]\ntype = "anthropic"\nbase_url = "{base}"\napi_key_env = "REL_ANTHROPIC_KEY"\n',
    ]
    for b in BEHAVIOURS:
        lines.append(f'[models."{b}"]\ntargets = ["up/{b}"]\n')
        lines.append(f'[models."odd-{b}"]\ntargets = ["odd/{b}"]\n')
        lines.append(f'[models."claude-{b}"]\ntargets = ["anth/{b}"]\n')
    path = tmp / "switchboard.toml"
    path.write_text("\n".join(lines))
    return path


def keys_create(
    config: Path, env: dict[str, str], tenant: str, name: str, *limits: str
) -> subprocess.CompletedProcess[str]:
    """`switchboard keys create --json` (`--tenant=` so a tenant starting with '-' is still one)."""
    command = [PY, "-m", "switchboard", "keys", "create", "--config", str(config), f"--tenant={tenant}"]
    return subprocess.run(
        [*command, "--name", name, *limits, "--json"], capture_output=True, text=True, env=env, timeout=60
    )


def create_key(config: Path, env: dict[str, str], name: str, *limits: str) -> dict[str, Any]:
    out = keys_create(config, env, "rel", name, *limits)
    out.check_returncode()
    return dict(json.loads(out.stdout))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Gateway:
    def __init__(self, name: str, config: Path, env: dict[str, str], tmp: Path, log_level: str) -> None:
        self.name, self.port = name, free_port()
        self.log = tmp / f"serve-{name}.log"
        self._out = self.log.open("wb")
        self.proc = serve_process.start(
            config, self.port, self._out, env, "--http-timeout-s", "5", python=PY, log_level=log_level
        )
        serve_process.wait_ready(f"http://127.0.0.1:{self.port}", self.proc, self.log)

    def stop(self) -> None:
        serve_process.stop(self.proc, grace_s=20)
        self._out.close()

    def rss_kib(self) -> int:
        return serve_process.rss_kib(self.proc)

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))


# ---------------------------------------------------------------------------------------------
# the client


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    elapsed: float

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name), None)

    def raw(self) -> bytes:
        head = "".join(f"{k}: {v}\n" for k, v in self.headers)
        return f"{self.status}\n{head}\n".encode() + self.body


SEEN: list[bytes] = []  # every answer, for the P2 scan
_SEEN_LOCK = threading.Lock()


def call(
    port: int, method: str, path: str, body: bytes | None, headers: dict[str, str], timeout: float = 15
) -> Answer:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        answer = Answer(response.status, response.getheaders(), data, time.monotonic() - started)
    finally:
        conn.close()
    with _SEEN_LOCK:
        SEEN.append(answer.raw())
    return answer


def post(port: int, key: str, path: str, payload: Any, timeout: float = 15, **extra: str) -> Answer:
    headers = {"content-type": "application/json", "authorization": f"Bearer {key}", **extra}
    return call(port, "POST", path, json.dumps(payload).encode(), headers, timeout)


def chat(model: str, stream: bool = False, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream, **extra}


def messages(model: str, stream: bool = False) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": stream,
    }


def sse_events(body: bytes) -> list[str]:
    return [e for e in body.decode("utf-8", "replace").replace("\r\n", "\n").split("\n\n") if e.strip()]


def ends_with_error_event(body: bytes) -> bool:
    """A stream that ended with an explicit error event and no [DONE] / message_stop after it."""
    events = [e for e in sse_events(body) if not e.startswith(":")]
    if not events:
        return False
    last = events[-1]
    done = any("data: [DONE]" in e or "event: message_stop" in e for e in events)
    return not done and ("error" in last)


# ---------------------------------------------------------------------------------------------
# P1: bad requests


def error_shape_ok(path: str, answer: Answer) -> bool:
    try:
        body = json.loads(answer.body)
    except ValueError:
        return False
    if not isinstance(body, dict):
        return False
    route = path.split("?")[0]
    if route not in ROUTES and isinstance(body.get("error"), dict):  # no route: either shape
        return True
    if route.startswith("/v1/messages"):
        err = body.get("error")
        return body.get("type") == "error" and isinstance(err, dict) and set(err) == {"type", "message"}
    err = body.get("error")
    return isinstance(err, dict) and set(err) == {"message", "type", "param", "code"}


def valid_body(route: str) -> dict[str, Any]:
    if route.startswith("/v1/messages"):
        return messages("claude-ok")
    if route == "/v1/embeddings":
        return {"model": "ok", "input": "hi"}
    if route == "/v1/responses":
        return {"model": "ok", "input": "hi"}
    return chat("ok")


# field -> values of the wrong type for it, per route (each makes the request invalid)
REQUIRED = {
    "/v1/chat/completions": ("model", "messages"),
    "/v1/messages": ("model", "messages", "max_tokens"),
    "/v1/messages/count_tokens": ("model", "messages"),
    "/v1/embeddings": ("model", "input"),
    "/v1/responses": ("model",),
}


def static_corpus(route: str, key: str) -> Iterator[tuple[str, str, bytes | None, dict[str, str]]]:
    """(method, path, body, headers) of requests that must be refused without an upstream call."""
    auth = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    good = valid_body(route)
    bodies = [
        b"",
        b"{",
        b"[]",
        b"null",
        b"1",
        b'"s"',
        b"{}",
        b"\xff\xfe",
        b'{"model": "\xff"}',
        b'{"model": "\\ud800", "messages": []}',
        b'{"model": "ok", "x": NaN}',
        b'{"model": Infinity}',
        b"[" * 100_000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b'{"model": "ok", "model": 1}',
        json.dumps({**good, "model": "no-such-model"}).encode(),
        json.dumps({**good, "model": ""}).encode(),
        json.dumps({**good, "model": "a" * 100_000}).encode(),
        *([json.dumps({**good, "stream": "true"}).encode()] if route != "/v1/embeddings" else []),
        b'{"model": "ok"}' + b" " * (5 * 1024 * 1024),
    ]
    bodies += [json.dumps({k: v for k, v in good.items() if k != name}).encode() for name in REQUIRED[route]]
    for body in bodies:
        yield "POST", route, body, auth
    for ctype in ("text/html", "multipart/form-data; boundary=x", "application/xml", "image/png"):
        yield "POST", route, json.dumps(good).encode(), {**auth, "content-type": ctype}
    for bad in (
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer sb-" + "A" * 43,
        "Bearer " + key[:-1],
        "Bearer " + key + "x",
        "bearer  " + "x" * 5000,
        "Token " + key,
    ):
        yield (
            "POST",
            route,
            json.dumps(good).encode(),
            {"content-type": "application/json", "authorization": bad},
        )
    yield (
        "POST",
        route,
        json.dumps(good).encode(),
        {"content-type": "application/json", "x-api-key": "sb-nope"},
    )
    for method in ("GET", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND"):
        yield method, route, json.dumps(good).encode(), auth
    for odd in (
        route + "/",
        route.upper(),
        route.replace("/v1/", "/v1//"),
        route + "/../x",
        route + "%00",
        "/v1/%2e%2e/healthz",
        "/v2" + route[3:],
    ):
        yield "POST", odd, json.dumps(good).encode(), auth


def run_p1(res: Results, up: Upstream, gw: Gateway, key: str, routes: list[str], generated: int) -> None:
    def check(method: str, path: str, body: bytes | None, headers: dict[str, str], label: str) -> None:
        before = up.calls
        what = f"{method} {path} {short(body or b'', 160)} headers={short(json.dumps(headers), 120)}"
        try:
            answer = call(gw.port, method, path, body, headers, timeout=10)
        except (TimeoutError, OSError) as exc:
            res.case("P1", False, f"[{label}] {what} -> no answer in 10 s ({exc!r})")
            return
        calls = up.calls - before
        problems = []
        if answer.status >= 500:
            problems.append(f"{answer.status}")
        if answer.status < 400:
            problems.append(f"accepted with {answer.status}")
        if calls:
            problems.append(f"{calls} upstream call(s)")
        if answer.status >= 400 and not error_shape_ok(path, answer):
            problems.append("error not in the route's shape")
        res.case(
            "P1",
            not problems,
            f"[{label}] {what} -> {', '.join(problems)}: {answer.status} {short(answer.body)}",
        )

    for route in routes:
        for method, path, body, headers in static_corpus(route, key):
            check(method, path, body, headers, "corpus")
    if generated:
        run_hypothesis(check, routes, key, generated)


def run_hypothesis(check: Callable[..., None], routes: list[str], key: str, examples: int) -> None:
    from hypothesis import HealthCheck, given, seed, settings
    from hypothesis import strategies as st

    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    values = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=12,
    )

    def wrong_for(name: str) -> st.SearchStrategy[Any]:
        if name == "model":
            return values.filter(lambda v: not isinstance(v, str)) | st.text(max_size=30).filter(
                lambda s: s not in BEHAVIOURS and not s.startswith(("odd-", "claude-"))
            )
        if name == "max_tokens":
            return values.filter(lambda v: not isinstance(v, int) or isinstance(v, bool)) | st.integers(
                max_value=0
            )
        if name == "input":
            return values.filter(lambda v: not isinstance(v, (str, list)))
        return values.filter(lambda v: not isinstance(v, list))  # messages

    route_st = st.sampled_from(routes)
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    kind = st.sampled_from(["bytes", "json", "mutate", "mutate", "mutate"])

    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    @seed(20_251_202)
    @given(route=route_st, kind=kind, data=st.data())
    def generated(route: str, kind: str, data: st.DataObject) -> None:
        if kind == "bytes":
            body = data.draw(st.binary(max_size=200).filter(lambda b: not b.strip().startswith(b"{")))
        elif kind == "json":
            value = data.draw(values.filter(lambda v: not isinstance(v, dict) or "model" not in v))
            body = json.dumps(value).encode()
        else:
            name = data.draw(st.sampled_from(REQUIRED.get(route, ("model",))))
            base = valid_body(route)
            base[name] = data.draw(wrong_for(name))
            extra = data.draw(
                st.dictionaries(st.sampled_from(["temperature", "user", "metadata", "x"]), values, max_size=2)
            )
            body = json.dumps({**extra, **base}).encode()
        check("POST", route, body, headers, f"generated/{kind}")

    generated()


# ---------------------------------------------------------------------------------------------
# P5 / P9: hostile upstreams

CHAT_PATH, MSG_PATH = "/v1/chat/completions", "/v1/messages"


@dataclass
class Hostile:
    model: str
    stream: bool
    expect: str  # "status:<s>[,<s>]" | "error-event" | "error-event-or-status:<s>"
    attempts: int | None = None
    path: str = CHAT_PATH


HOSTILE = [
    Hostile("echo-400", False, "status:400", 1),
    Hostile("echo-404", False, "status:404", 1),
    Hostile("echo-422", False, "status:422", 1),
    Hostile("echo-401", False, "status:502,401", 1),
    Hostile("echo-403", False, "status:502,403", 1),
    Hostile("echo-429", False, "status:429", None),
    Hostile("echo-500", False, "status:502,500", ATTEMPTS),
    Hostile("echo-503", False, "status:503,502", ATTEMPTS),
    Hostile("echo-503", True, "status:503,502", ATTEMPTS),
    Hostile("redirect", False, "status:502", 1),
    Hostile("bad-json", False, "status:502", None),
    Hostile("slow-body", False, "status:504", None),
    Hostile("hang", False, "status:504", None),
    Hostile("reset-before", False, "status:502", ATTEMPTS),
    Hostile("reset-before", True, "status:502", ATTEMPTS),
    Hostile("reset-after", True, "error-event"),
    Hostile("stream-malformed", True, "error-event"),
    Hostile("stream-huge-event", True, "error-event"),
    Hostile("huge-body", False, "status:502", None),  # a 48 MiB answer: refused, not relayed
    Hostile("echo-stream-error", True, "error-event"),
    Hostile("claude-echo-400", False, "status:400", 1, MSG_PATH),
    Hostile("claude-echo-500", False, "status:500,502,529", ATTEMPTS, MSG_PATH),
    Hostile("claude-reset-after", True, "error-event", None, MSG_PATH),
    Hostile("claude-stream-malformed", True, "error-event", None, MSG_PATH),
    Hostile("claude-echo-stream-error", True, "error-event", None, MSG_PATH),
    Hostile("claude-redirect", False, "status:502", 1, MSG_PATH),
]


def run_hostile(res: Results, up: Upstream, gw: Gateway, key: str) -> None:
    for case in HOSTILE:
        invariant = "P9" if (case.stream and case.expect == "error-event") or "huge" in case.model else "P5"
        payload = (
            messages(case.model, case.stream) if case.path == MSG_PATH else chat(case.model, case.stream)
        )
        before, steal = up.calls, up.steal_calls
        what = f"POST {case.path} model={case.model} stream={case.stream}"
        try:
            answer = post(gw.port, key, case.path, payload, timeout=20)
        except (TimeoutError, OSError) as exc:
            res.case(invariant, False, f"{what} -> no answer in 20 s ({exc!r})")
            continue
        problems = []
        if case.expect.startswith("status:"):
            wanted = [int(s) for s in case.expect[7:].split(",")]
            if answer.status not in wanted:
                problems.append(f"status {answer.status}, expected {wanted}")
            elif not error_shape_ok(case.path, answer):
                problems.append("error not in the route's shape")
        elif answer.status == 200 and not ends_with_error_event(answer.body):
            problems.append("stream did not end with an error event (or continued after it)")
        elif answer.status != 200 and not error_shape_ok(case.path, answer):
            problems.append(f"status {answer.status} not in the route's error shape")
        attempts = up.calls - before
        if case.attempts is not None and attempts != case.attempts:
            problems.append(f"{attempts} upstream attempts, expected {case.attempts}")
        if up.steal_calls != steal:
            problems.append("a redirect was followed")
        detail = f"{answer.status} attempts={attempts} in {answer.elapsed:.1f}s: {short(answer.body, 240)}"
        res.case(invariant, not problems, f"{what} -> {'; '.join(problems)}: {detail}")
    # no request field chooses the upstream host (P11, counted with P5)
    steal = up.steal_calls
    for field_name in ("api_base", "base_url", "url", "endpoint"):
        target = f"http://127.0.0.1:{up.port}/steal"
        answer = post(gw.port, key, CHAT_PATH, chat("ok", **{field_name: target}))
        res.case(
            "P5",
            up.steal_calls == steal,
            f"POST {CHAT_PATH} with {field_name}={target} -> reached it ({answer.status})",
        )


# ---------------------------------------------------------------------------------------------
# P2: canaries


def variants(secret: str) -> dict[str, bytes]:
    raw = secret.encode()
    out = {
        "raw": raw,
        "upper": raw.upper(),
        "url": urllib.parse.quote(secret, safe="").encode(),
        "url+": urllib.parse.quote_plus(secret).encode(),
        "prefix": raw[: max(14, len(raw) // 3)],
        "suffix": raw[-12:],
    }
    for shift in range(3):  # base64 at any alignment: the stable middle of the encoding
        encoded = base64.b64encode(b"\0" * shift + raw)
        core = encoded[(shift * 4 + 2) // 3 + 4 : -4]
        out[f"base64/{shift}"] = core
        out[f"base64url/{shift}"] = core.replace(b"+", b"-").replace(b"/", b"_")
    return out


def scan(res: Results, canaries: dict[str, str], sources: dict[str, bytes]) -> None:
    for secret_name, secret in canaries.items():
        for variant, needle in variants(secret).items():
            for source, blob in sources.items():
                found = blob.find(needle)
                context = (
                    short(blob[max(0, found - 120) : found + len(needle) + 60], 260) if found >= 0 else ""
                )
                res.case("P2", found < 0, f"{secret_name} ({variant}) found in {source}: ...{context}...")


def run_leaky_requests(gw: Gateway, key: str) -> None:
    """Requests whose upstream answers carry the provider credential (P2 scans what comes back)."""
    for prefix in ("", "odd-"):
        for status in (400, 401, 403, 404, 422, 429, 500, 503):
            post(gw.port, key, CHAT_PATH, chat(f"{prefix}echo-{status}"))
            post(gw.port, key, CHAT_PATH, chat(f"{prefix}echo-{status}", stream=True))
        post(gw.port, key, CHAT_PATH, chat(f"{prefix}echo-stream-error", stream=True))
        post(gw.port, key, "/v1/embeddings", {"model": f"{prefix}echo-400", "input": "x"})
        post(gw.port, key, "/v1/responses", {"model": f"{prefix}echo-400", "input": "x"})
    for status in (400, 401, 404, 429, 500):
        post(gw.port, key, MSG_PATH, messages(f"claude-echo-{status}"))
        post(gw.port, key, MSG_PATH, messages(f"claude-echo-{status}", stream=True))
        post(gw.port, key, CHAT_PATH, chat(f"claude-echo-{status}"))
    post(gw.port, key, MSG_PATH, messages("claude-echo-stream-error", stream=True))
    post(gw.port, key, CHAT_PATH, chat("claude-echo-stream-error", stream=True))
    post(gw.port, key, MSG_PATH, messages("odd-echo-401"))


# ---------------------------------------------------------------------------------------------
# P4 / P6: limits and usage across two processes on one store


def burst(
    gateways: list[Gateway], key: str, n: int, spread_s: float, payload: Any
) -> list[tuple[float, float, Answer]]:
    """n requests over `spread_s`, alternating gateways, 16 at a time: (sent, done, answer)."""
    from concurrent.futures import ThreadPoolExecutor

    start = time.monotonic()

    def one(i: int) -> tuple[float, float, Answer]:
        delay = start + spread_s * i / n - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sent = time.time()
        answer = post(gateways[i % len(gateways)].port, key, CHAT_PATH, payload)
        return sent, time.time(), answer

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(one, range(n)))


def run_limits(res: Results, gateways: list[Gateway], key: str, rpm: int, boundary: bool) -> dict[str, int]:
    """rpm-limited key through both gateways; returns the usage the clients saw (P6 expects it)."""
    seen = {"requests": 0, "errors": 0, "prompt_tokens": 0, "completion_tokens": 0}
    if boundary:  # start 2 s before a minute boundary: the burst spans two windows
        wait = 60 - time.time() % 60 - 2
        if wait < 0:
            wait += 60
        res.notes.append(f"P4: waited {wait:.0f} s for a minute boundary")
        time.sleep(wait)
    results = burst(gateways, key, rpm * (4 if boundary else 3), 4.0 if boundary else 0.5, chat("ok"))
    admitted = [(s, d, a) for s, d, a in results if a.status == 200]
    for _, _, a in results:
        res.case("P4", a.status in (200, 429), f"rpm key: unexpected {a.status}: {short(a.body)}")
        seen["requests"] += 1  # usage counts refused requests too, as errors
        seen["errors"] += a.status >= 400
        if a.status == 200:
            usage = json.loads(a.body).get("usage") or {}
            seen["prompt_tokens"] += usage.get("prompt_tokens", 0)
            seen["completion_tokens"] += usage.get("completion_tokens", 0)
    spans = len({int(s // 60) for s, _, _ in results} | {int(d // 60) for _, d, _ in results})
    windows: dict[int, int] = {}
    for sent, done, _ in admitted:
        if int(sent // 60) == int(done // 60):  # unambiguous window
            windows[int(sent // 60)] = windows.get(int(sent // 60), 0) + 1
    for window, count in sorted(windows.items()):
        res.case("P4", count <= rpm, f"rpm {rpm}: {count} admitted in minute {window} across 2 processes")
    res.case(
        "P4",
        len(admitted) <= rpm * max(1, spans),
        f"rpm {rpm}: {len(admitted)} admitted in total over {spans} window(s)",
    )
    res.notes.append(
        f"P4: rpm {rpm}, {len(results)} requests over 2 processes: {len(admitted)} admitted "
        f"(per window: {dict(sorted(windows.items()))})"
    )
    return seen


def usage_traffic(gateways: list[Gateway], key: str, n: int) -> dict[str, int]:
    """n answers and n streams (with include_usage) on `key` through both gateways."""
    seen = {"requests": 0, "errors": 0, "prompt_tokens": 0, "completion_tokens": 0}
    for i in range(n):
        gw = gateways[i % len(gateways)]
        answer = post(gw.port, key, CHAT_PATH, chat("ok"))
        stream = post(
            gw.port, key, CHAT_PATH, chat("ok", stream=True, stream_options={"include_usage": True})
        )
        for a in (answer, stream):
            seen["requests"] += 1
            seen["errors"] += a.status >= 400
            if a.status != 200:
                continue
            usage = json.loads(a.body).get("usage") if a is answer else _stream_usage(a.body)
            seen["prompt_tokens"] += (usage or {}).get("prompt_tokens", 0)
            seen["completion_tokens"] += (usage or {}).get("completion_tokens", 0)
    return seen


def _stream_usage(body: bytes) -> dict[str, Any] | None:
    for event in sse_events(body):
        if event.startswith("data: {"):
            payload = json.loads(event[6:])
            if payload.get("usage"):
                return dict(payload["usage"])
    return None


def recorded_usage(config: Path, env: dict[str, str], key_id: str) -> dict[str, int]:
    out = subprocess.run(
        [PY, "-m", "switchboard", "usage", "--key", key_id, "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    rows = json.loads(out.stdout)
    rows = rows.get("rows", rows.get("usage", [])) if isinstance(rows, dict) else rows
    total = {"requests": 0, "errors": 0, "prompt_tokens": 0, "completion_tokens": 0}
    for row in rows:
        for name in total:
            total[name] += int(row.get(name, 0) or 0)
    return total


# ---------------------------------------------------------------------------------------------
# P10: resources


def run_resources(res: Results, up: Upstream, gw: Gateway, key: str, streams: int, disconnects: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    payload = chat("ok", stream=True)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: post(gw.port, key, CHAT_PATH, payload), range(100)))  # warm-up
    time.sleep(1)
    rss0, fds0, up0 = gw.rss_kib(), gw.fds(), up.open

    def stream(i: int) -> bool:
        body = messages("claude-ok", True) if i % 4 == 0 else chat("ok", stream=True)
        answer = post(gw.port, key, MSG_PATH if i % 4 == 0 else CHAT_PATH, body)
        return answer.status == 200 and (b"[DONE]" in answer.body or b"message_stop" in answer.body)

    def disconnect(_: int) -> None:
        body = json.dumps(chat("stream-slow", stream=True)).encode()
        with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
            sock.sendall(
                f"POST {CHAT_PATH} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {key}\r\n"
                f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n".encode()
                + body
            )
            sock.recv(300)  # the head and the first event, then go away

    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        ok = sum(pool.map(stream, range(streams)))
        list(pool.map(disconnect, range(disconnects)))
    res.case("P10", ok == streams, f"{streams - ok} of {streams} streams did not complete")
    time.sleep(2.0)
    rss1, fds1, up1 = gw.rss_kib(), gw.fds(), up.open
    res.notes.append(
        f"P10: {streams} streams + {disconnects} disconnects in {time.monotonic() - started:.1f} s; RSS "
        f"{rss0 // 1024} -> {rss1 // 1024} MiB, fds {fds0} -> {fds1}, upstream connections {up0} -> {up1}"
    )
    res.case(
        "P10",
        rss1 - rss0 < 32 * 1024,
        f"RSS grew {(rss1 - rss0) // 1024} MiB ({rss0 // 1024} -> {rss1 // 1024})",
    )
    res.case("P10", fds1 - fds0 <= 8, f"open fds {fds0} -> {fds1}")
    res.case("P10", up1 - up0 <= 8, f"upstream connections left open {up0} -> {up1} after disconnects")


# ---------------------------------------------------------------------------------------------
# main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer cases, no minute boundary (< 60 s)")
    parser.add_argument("--report", help="write the Markdown report here (e.g. docs/reliability.md)")
    parser.add_argument(
        "--assert",
        dest="asserted",
        default=",".join(INVARIANTS),
        help="invariants whose failures set the exit status (default: all)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    res = Results()
    started = time.monotonic()
    up = Upstream()
    up.start()
    canaries = Canaries()
    with tempfile.TemporaryDirectory(prefix="sb-reliability-") as tmp_name:
        tmp = Path(tmp_name)
        config = write_config(tmp, up.port)
        env = {**os.environ, **canaries.env(), "SWITCHBOARD_USAGE_SPILL": str(tmp / "spill.jsonl")}
        env.pop("SWITCHBOARD_CONFIG", None)
        main_key = create_key(config, env, "main")
        rpm = 20 if quick else 30
        limited = create_key(config, env, "limited", "--rpm", str(rpm))
        counted = create_key(config, env, "usage")
        hang = create_key(config, env, "hang", "--rpm", "10")  # I3: leases of one request
        gateways = [Gateway("A", config, env, tmp, "info"), Gateway("B", config, env, tmp, "debug")]
        a = gateways[0]
        try:
            routes = [r for r in ROUTES if r != "/v1/messages/count_tokens"]
            probe = post(a.port, main_key["key"], "/v1/messages/count_tokens", messages("claude-ok"))
            if probe.status != 404:
                routes.append("/v1/messages/count_tokens")
            res.notes.append(f"routes: {', '.join(routes)}")
            print(f"[{time.monotonic() - started:5.1f}s] P1 bad requests", flush=True)
            run_p1(res, up, a, main_key["key"], routes, 300 if quick else 1200)
            print(f"[{time.monotonic() - started:5.1f}s] P5/P9 hostile upstreams", flush=True)
            run_hostile(res, up, a, main_key["key"])
            print(f"[{time.monotonic() - started:5.1f}s] P2 leaky upstreams", flush=True)
            before = up.calls
            run_leaky_requests(a, main_key["key"])
            run_leaky_requests(gateways[1], main_key["key"])
            res.case(
                "P2", up.calls - before >= 100, f"only {up.calls - before} leaky upstream answers were served"
            )
            res.notes.append(f"P2: {up.calls - before} upstream answers echoed a provider key")
            print(f"[{time.monotonic() - started:5.1f}s] P4/P6 limits and usage on 2 processes", flush=True)
            seen_limited = run_limits(res, gateways, limited["key"], rpm, boundary=not quick)
            seen_counted = usage_traffic(gateways, counted["key"], 20 if quick else 100)
            print(f"[{time.monotonic() - started:5.1f}s] P10 resources", flush=True)
            run_resources(res, up, a, main_key["key"], 200 if quick else 2000, 50 if quick else 500)
            run_issue16(
                res, up, gateways, config, env, tmp, canaries, main_key["key"], hang["key"], quick, started
            )
        finally:
            for gw in gateways:
                gw.stop()
        for name, key, seen in (("limited", limited, seen_limited), ("usage", counted, seen_counted)):
            recorded = recorded_usage(config, env, key["key_id"])
            for field_name in seen:
                res.case(
                    "P6",
                    recorded[field_name] == seen[field_name],
                    f"key {name}: {field_name} recorded {recorded[field_name]}, "
                    f"clients saw {seen[field_name]}",
                )
            res.notes.append(f"P6: key {name}: clients saw {seen}, store recorded {recorded}")
        sources = {"responses": b"\n".join(SEEN)}
        for path in sorted(tmp.iterdir()):
            if path.is_file() and path.suffix != ".toml":
                sources[path.name] = path.read_bytes()
        secrets_ = {
            "provider key openai": canaries.openai,
            "provider key anthropic": canaries.anthropic,
            "provider key odd": canaries.odd,
            "gateway key main": main_key["key"],
            "gateway key limited": limited["key"],
            "gateway key usage": counted["key"],
            "aws secret access key": canaries.aws_secret,
        }
        scan(res, secrets_, sources)
        res.notes.append(
            f"P2: scanned {', '.join(f'{k} ({len(v) // 1024} KiB)' for k, v in sources.items())}"
        )
    elapsed = time.monotonic() - started
    report = render(res, quick, elapsed)
    print(report)
    if args.report:
        write_report(Path(args.report), report)
    asserted = [k.strip() for k in args.asserted.split(",") if k.strip()]
    return 1 if any(res.failures[k] for k in asserted) else 0


def run_issue16(
    res: Results,
    up: Upstream,
    gateways: list[Gateway],
    config: Path,
    env: dict[str, str],
    tmp: Path,
    canaries: Canaries,
    key: str,
    hang_key: str,
    quick: bool,
    started: float,
) -> None:
    """I1-I13 (scripts/reliability_server.py) on gateway B (A's RSS is P10's), then I2 on A."""
    # the submodules import this script's objects by module name (one copy of SEEN, Results, ...)
    sys.modules.setdefault("reliability", sys.modules[__name__])
    import reliability_server as issue16

    a, b = gateways

    def step(name: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {name}", flush=True)

    step("I1 stored after stream")
    issue16.run_stored_after_stream(res, b, key, 10 if quick else 50)
    step("I3 store write-locked (SQLite) and stopped (DynamoDB)")
    routes = (CHAT_PATH, MSG_PATH, "/v1/responses", "/v1/embeddings")
    issue16.run_store_hang(res, b, tmp / "store.db", dict.fromkeys(routes, hang_key), key)
    issue16.run_store_hang_dynamodb(res, config, env, tmp)
    step("I5-I10, I12, I13")
    issue16.run_header_values(res, b, key)
    issue16.run_encodings(res, b, key)
    issue16.run_routes(res, b, key)
    issue16.run_bedrock_masking(res, b, key, canaries.aws_key_id)
    issue16.run_beta_headers(res, up, b, key)
    issue16.run_tenants(res, config, env)
    issue16.run_keepalive(res, b, key)
    issue16.run_malformed_events(res, b, key)
    step("I2 memory under oversized answers")
    issue16.run_memory_bound(res, a, key, 96 if quick else 400)
    step("I4 fuzzed bodies per provider type")
    issue16.run_fuzz(res, b, key, 400 if quick else 4000)


BEGIN, END = "<!-- scripts/reliability: begin -->", "<!-- scripts/reliability: end -->"


def write_report(path: Path, report: str) -> None:
    """The run goes between the markers; text around them (analysis, findings) is kept."""
    block = f"{BEGIN}\n{report}{END}\n"
    old = path.read_text() if path.exists() else ""
    if BEGIN in old and END in old:
        block = old[: old.index(BEGIN)] + block + old[old.index(END) + len(END) + 1 :]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(block)


def render(res: Results, quick: bool, elapsed: float) -> str:
    lines = [
        f"# Reliability run: {datetime.date.today().isoformat()} "
        f"({'quick' if quick else 'full'}, {elapsed:.0f} s)",
        "",
        "Generated by `scripts/reliability"
        + (" --quick" if quick else "")
        + "` against two `switchboard serve` processes on 127.0.0.1 sharing one SQLite store, with a hostile"
        " fake upstream (invariants: shared/notes/reliability.md).",
        "",
        res.table(),
        "",
        "## Figures",
        "",
        *[f"- {note}" for note in res.notes],
        "",
        "## Failures",
        "",
    ]
    for invariant in INVARIANTS:
        failures = res.failures[invariant]
        if not failures:
            continue
        lines.append(f"### {invariant} ({len(failures)})")
        lines.append("")
        lines += [f"- {short(f, 700)}" for f in failures[:40]]
        if len(failures) > 40:
            lines.append(f"- ... and {len(failures) - 40} more")
        lines.append("")
    if not any(res.failures.values()):
        lines.append("None.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
