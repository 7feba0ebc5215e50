"""The HTTP layer of a real `switchboard serve` on 127.0.0.1, driven with raw sockets: slow and
oversized clients are answered (408 / 431) or closed within the configured deadlines, and requests
the HTTP parser refuses get JSON in the route's error shape (edge/guard.py)."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator

import pytest

from real_serve import create_key, serve

pytestmark = pytest.mark.loopback

HEAD_S, BODY_TOTAL_S, MAX_HEADER = 1.0, 3.0, 16 * 1024
CHAT = "/v1/chat/completions"
BODY = b'{"model":"echo","messages":[{"role":"user","content":"hi"}]}'


class Server:
    def __init__(self, port: int, key: str) -> None:
        self.port, self.key = port, key

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sock.settimeout(10)
        return sock

    def head(self, method: str = "POST", path: str = CHAT, length: int = len(BODY), extra: str = "") -> bytes:
        return (
            f"{method} {path} HTTP/1.1\r\nhost: t\r\nauthorization: Bearer {self.key}\r\n"
            f"content-type: application/json\r\ncontent-length: {length}\r\n{extra}\r\n"
        ).encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("serve")
    config = (
        f'[store]\nbackend = "sqlite"\npath = "{tmp / "store.db"}"\n'
        '[providers.mock]\ntype = "mock"\n[models.echo]\ntargets = ["mock/echo"]\n'
    )
    limits = ("--http-timeout-s", str(HEAD_S), "--http-body-timeout-s", str(BODY_TOTAL_S))
    with serve(tmp, config, None, *limits, "--max-header-bytes", str(MAX_HEADER)) as (served, path):
        yield Server(served.port, create_key(path))


class Answer:
    def __init__(self, raw: bytes, elapsed: float, closed: bool) -> None:
        self.raw, self.elapsed, self.closed = raw, elapsed, closed
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ")[1]) if raw else 0
        self.headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}

    def json(self) -> dict[str, object]:
        parsed = json.loads(self.body)
        assert isinstance(parsed, dict)
        return parsed


def read_until_closed(sock: socket.socket, started: float, limit_s: float = 8.0) -> Answer:
    """Everything the server sends until it closes the connection (or `limit_s` passes)."""
    data = b""
    sock.settimeout(0.2)
    while time.monotonic() - started < limit_s:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return Answer(data, time.monotonic() - started, True)
        if not chunk:
            return Answer(data, time.monotonic() - started, True)
        data += chunk
    return Answer(data, time.monotonic() - started, False)


def openai_error(answer: Answer) -> dict[str, object]:
    assert answer.headers["content-type"] == "application/json"
    error = answer.json()["error"]
    assert isinstance(error, dict)
    assert set(error) == {"message", "type", "param", "code"}
    return error


def anthropic_error(answer: Answer) -> dict[str, object]:
    body = answer.json()
    assert body["type"] == "error"
    error = body["error"]
    assert isinstance(error, dict)
    assert set(error) == {"type", "message"}
    return error


def test_normal_requests_still_served(server: Server) -> None:
    with server.connect() as sock:
        for _ in range(2):  # keep-alive: the second request on the same connection
            sock.sendall(server.head() + BODY)
            data = b""
            while b'"echo: hi"' not in data:
                chunk = sock.recv(65536)
                assert chunk, data
                data += chunk
            assert data.startswith(b"HTTP/1.1 200 ")


def test_idle_connection_closed_silently(server: Server) -> None:
    with server.connect() as sock:
        started = time.monotonic()
        answer = read_until_closed(sock, started)
    assert answer.closed and answer.raw == b""
    assert HEAD_S * 0.8 <= answer.elapsed < HEAD_S + 2


def test_half_sent_head_gets_408(server: Server) -> None:
    with server.connect() as sock:
        started = time.monotonic()
        sock.sendall(server.head()[:30])
        answer = read_until_closed(sock, started)
    assert answer.closed and answer.status == 408, answer.raw
    assert openai_error(answer)["code"] == "request_timeout"
    assert answer.elapsed < HEAD_S + 2


def test_head_dripped_byte_by_byte_still_gets_408_at_the_head_deadline(server: Server) -> None:
    head = server.head()
    with server.connect() as sock:
        started = time.monotonic()
        for byte in head[:12]:
            try:
                sock.sendall(bytes([byte]))
            except OSError:  # answered and closed
                break
            time.sleep(HEAD_S / 4)  # each pause is shorter than the deadline: the total is what counts
            if time.monotonic() - started > HEAD_S + 1:
                break
        answer = read_until_closed(sock, started)
    assert answer.status == 408, answer.raw
    assert answer.elapsed < HEAD_S + 2


def test_second_request_on_a_kept_alive_connection_has_its_own_head_deadline(server: Server) -> None:
    with server.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: t\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        time.sleep(HEAD_S / 2)
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost:")
        answer = read_until_closed(sock, started)
    assert answer.status == 408, answer.raw
    assert HEAD_S * 0.8 <= answer.elapsed < HEAD_S + 2


@pytest.mark.parametrize("path", [CHAT, "/v1/embeddings", "/v1/responses", "/v1/messages"])
def test_body_shorter_than_content_length_gets_408_in_the_route_shape(server: Server, path: str) -> None:
    with server.connect() as sock:
        started = time.monotonic()
        sock.sendall(server.head(path=path, length=len(BODY) + 50) + BODY)
        answer = read_until_closed(sock, started)
    assert answer.closed and answer.status == 408, answer.raw
    error = anthropic_error(answer) if path == "/v1/messages" else openai_error(answer)
    assert "body" in str(error["message"])
    assert answer.elapsed < HEAD_S + 2


def test_body_dripped_slower_than_the_total_deadline_gets_408(server: Server) -> None:
    body = BODY + b" " * 100
    with server.connect() as sock:
        started = time.monotonic()
        sock.sendall(server.head(length=len(body)))
        for index in range(len(body)):
            try:
                sock.sendall(body[index : index + 1])
            except OSError:
                break
            time.sleep(HEAD_S / 3)  # never idle for a whole deadline, but far too slow in total
            if time.monotonic() - started > BODY_TOTAL_S + 1:
                break
        answer = read_until_closed(sock, started)
    assert answer.status == 408, answer.raw
    assert BODY_TOTAL_S * 0.8 <= answer.elapsed < BODY_TOTAL_S + 2


@pytest.mark.parametrize("size", [MAX_HEADER + 1024, 1024 * 1024, 8 * 1024 * 1024])
def test_oversized_head_gets_431(server: Server, size: int) -> None:
    request = server.head(extra=f"x-big: {'a' * size}\r\n") + BODY
    with server.connect() as sock:
        started = time.monotonic()
        with contextlib.suppress(OSError):  # the server answered and closed while the rest was in flight
            sock.sendall(request)
        answer = read_until_closed(sock, started)
    assert answer.status == 431, answer.raw[:200]
    assert openai_error(answer)["code"] == "request_header_fields_too_large"
    assert answer.elapsed < 5


def test_head_just_under_the_cap_is_served(server: Server) -> None:
    request = server.head(extra=f"x-big: {'a' * (MAX_HEADER - 1024)}\r\n") + BODY
    with server.connect() as sock:
        sock.sendall(request)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")


FRAMING = {
    "bad content-length": "content-length: abc\r\n",
    "negative content-length": "content-length: -1\r\n",
    "duplicate content-length": "content-length: 5\r\ncontent-length: 6\r\n",
    "transfer-encoding with content-length": "transfer-encoding: chunked\r\ncontent-length: 5\r\n",
    "line folding": "x-folded: a\r\n b\r\n",
    "NUL in a header": "x-nul: a\x00b\r\n",
    "space before colon": "x-space : a\r\n",
}


@pytest.mark.parametrize("case", sorted(FRAMING))
@pytest.mark.parametrize("path", [CHAT, "/v1/messages"])
def test_malformed_framing_gets_json_400(server: Server, case: str, path: str) -> None:
    request = f"POST {path} HTTP/1.1\r\nhost: t\r\n{FRAMING[case]}\r\n".encode() + BODY
    with server.connect() as sock:
        started = time.monotonic()
        sock.sendall(request)
        answer = read_until_closed(sock, started)
    assert answer.closed and answer.status == 400, answer.raw
    assert answer.headers["connection"] == "close"
    error = anthropic_error(answer) if path == "/v1/messages" else openai_error(answer)
    assert str(error["message"]).startswith("invalid HTTP request")


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /healthz HTTP/1.1\nhost: t\n\n",
        b"GET /\x00 HTTP/1.1\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    ],
)
def test_garbage_gets_json_400(server: Server, raw: bytes) -> None:
    with server.connect() as sock:
        started = time.monotonic()
        sock.sendall(raw)
        answer = read_until_closed(sock, started)
    assert answer.closed
    assert answer.status == 400, answer.raw
    assert str(openai_error(answer)["message"]).startswith("invalid HTTP request")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("FOO", CHAT, "POST"),
        ("GETS", "/healthz", "GET, HEAD"),
        ("BREW", "/v1/messages", "POST"),
        ("PATCH", CHAT, "POST"),
        ("PROPFIND", "/v1/messages", "POST"),
        ("PUT", "/v1/embeddings", "POST"),
        ("DELETE", "/v1/responses", "POST"),
    ],
)
def test_unknown_methods_on_routes_get_json_405(server: Server, method: str, path: str, allow: str) -> None:
    with server.connect() as sock:
        started = time.monotonic()
        sock.sendall(
            server.head(method=method, path=path, length=len(BODY), extra="connection: close\r\n") + BODY
        )
        answer = read_until_closed(sock, started)
    assert answer.status == 405, answer.raw
    assert answer.headers["allow"] == allow
    error = anthropic_error(answer) if path == "/v1/messages" else openai_error(answer)
    assert "not allowed" in str(error["message"])
