"""Network behaviour against a real uvicorn and a real upstream server on 127.0.0.1:
incremental delivery, disconnect propagation, and the production aiohttp transport."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson
import pytest

from support import loop_thread, make_config, parse_sse, serve_in_thread
from switchboard.app import create_app
from switchboard.asgi import disconnect_hook
from switchboard.devtools.fake_upstream import FakeUpstream
from switchboard.edge.guard import HttpLimits, guarded_protocol
from switchboard.upstream.credentials import Credentials

pytestmark = pytest.mark.loopback


@pytest.fixture
def upstream():
    with loop_thread() as loop:
        fake = FakeUpstream()
        asyncio.run_coroutine_threadsafe(fake.start(), loop).result(5)
        yield fake
        asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(5)


def loopback_config(port: int, **routing):
    return make_config(
        providers={
            "up": {"type": "openai", "base_url": f"http://127.0.0.1:{port}/v1", "api_key_env": "A_KEY"},
            "dead": {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key_env": "A_KEY"},
        },
        models={
            "live": {"targets": ["up/anything"]},
            "slow": {"targets": ["up/stream-3-150"]},
            "long": {"targets": ["up/stream-200-50"]},
            "dead-first": {"targets": ["dead/x", "up/anything"]},
            "broken": {"targets": ["up/status-503"]},
            "delay": {"targets": ["up/delay-5000"]},
        },
        routing=routing,
    )


def gateway(port: int, **routing):
    return create_app(
        loopback_config(port, **routing), credentials=Credentials(env={"A_KEY": "sk-canary-a-0123456789"})
    )


def test_non_stream_through_aiohttp_transport(upstream: FakeUpstream) -> None:
    with serve_in_thread(gateway(upstream.port)) as base:
        response = httpx.post(
            f"{base}/v1/chat/completions",
            json={"model": "live", "messages": [{"role": "user", "content": "x"}]},
        )
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "ok"
    assert response.headers["x-switchboard-provider"] == "up"


def test_connect_error_falls_back(upstream: FakeUpstream) -> None:
    with serve_in_thread(gateway(upstream.port)) as base:
        response = httpx.post(
            f"{base}/v1/chat/completions",
            json={"model": "dead-first", "messages": [{"role": "user", "content": "x"}]},
        )
    assert response.status_code == 200
    assert response.headers["x-switchboard-provider"] == "up"
    assert int(response.headers["x-switchboard-attempts"]) >= 2


def test_upstream_503_is_reported_as_503(upstream: FakeUpstream) -> None:
    with serve_in_thread(gateway(upstream.port, retry_budget=0)) as base:
        response = httpx.post(
            f"{base}/v1/chat/completions",
            json={"model": "broken", "messages": [{"role": "user", "content": "x"}]},
        )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "all_targets_failed"


def test_stream_chunks_arrive_incrementally(upstream: FakeUpstream) -> None:
    arrivals: list[tuple[float, str]] = []
    with (
        serve_in_thread(gateway(upstream.port)) as base,
        httpx.stream(
            "POST",
            f"{base}/v1/chat/completions",
            json={"model": "slow", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        ) as response,
    ):
        started = time.monotonic()
        for line in response.iter_lines():
            if line.startswith("data: "):
                arrivals.append((time.monotonic() - started, line[6:]))
    contents = [
        (t, orjson.loads(d)["choices"][0]["delta"].get("content")) for t, d in arrivals if d != "[DONE]"
    ]
    stamped = [t for t, c in contents if c]
    assert len(stamped) == 3
    # chunks are 150 ms apart upstream; each one must reach the client on its own, not at the end
    assert stamped[1] - stamped[0] > 0.1
    assert stamped[2] - stamped[1] > 0.1
    assert arrivals[-1][1] == "[DONE]"


# the protocol `switchboard serve` uses tells the pipeline of a lost connection itself
# (asgi.DisconnectHook); plain uvicorn leaves it to a task waiting in receive(): both must cancel
SERVERS = pytest.mark.parametrize("http", ["httptools", "guarded"])


def _http(kind: str) -> Any:
    return guarded_protocol(HttpLimits()) if kind == "guarded" else kind


def _watched(app: Any, seen: list[bool]) -> Any:
    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append(disconnect_hook(scope) is not None)
        await app(scope, receive, send)

    return wrapped


@SERVERS
def test_client_disconnect_closes_upstream_connection(upstream: FakeUpstream, http: str) -> None:
    hooked: list[bool] = []
    with serve_in_thread(_watched(gateway(upstream.port), hooked), _http(http)) as base:
        with httpx.stream(
            "POST",
            f"{base}/v1/chat/completions",
            json={"model": "long", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        ) as response:
            # keep the iterator referenced: a discarded httpx line iterator is closed at once, which
            # would close the connection before we look
            lines = response.iter_lines()
            for line in lines:
                if '"content":"1' in line.replace(" ", ""):  # first real chunk (a time stamp)
                    break
            assert upstream.open_connections == 1, (upstream.requests, upstream.closed_at)
            closed_before = len(upstream.closed_at)
            left_at = time.monotonic()
        # leaving the block closed our connection mid-stream (10 s of stream were left)
        deadline = left_at + 2.0
        while len(upstream.closed_at) == closed_before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(upstream.closed_at) > closed_before, "upstream connection still open after client left"
        assert upstream.closed_at[-1] - left_at < 0.5
        assert upstream.open_connections == 0
    assert hooked == [http == "guarded"]


@SERVERS
def test_non_stream_disconnect_cancels_upstream(upstream: FakeUpstream, http: str) -> None:
    hooked: list[bool] = []
    with serve_in_thread(_watched(gateway(upstream.port), hooked), _http(http)) as base:
        left_at = 0.0
        with pytest.raises(httpx.ReadTimeout):
            left_at = time.monotonic() + 0.3
            httpx.post(
                f"{base}/v1/chat/completions",
                timeout=0.3,
                json={"model": "delay", "messages": [{"role": "user", "content": "x"}]},
            )
        deadline = time.monotonic() + 2.0
        while not upstream.closed_at and time.monotonic() < deadline:
            time.sleep(0.01)
        assert upstream.closed_at, "upstream request kept running after the client left"
        assert upstream.closed_at[-1] - left_at < 0.5
        # the server is still healthy and serves the next request normally
        assert httpx.get(f"{base}/healthz").status_code == 200
    assert hooked[0] is (http == "guarded")


def test_sse_timing_comment_over_the_wire(upstream: FakeUpstream) -> None:
    with serve_in_thread(gateway(upstream.port)) as base:
        response = httpx.post(
            f"{base}/v1/chat/completions",
            json={"model": "live", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        )
    assert parse_sse(response.text)[-1] == "[DONE]"
    comment = [line for line in response.text.splitlines() if line.startswith(": switchboard-timing")]
    assert len(comment) == 1
    assert orjson.loads(comment[0].split(" ", 2)[2])["chunks"] == 7


def test_three_provider_chain_over_loopback() -> None:
    """anthropic (529) -> gemini (503) -> openai (streams), each a real server on 127.0.0.1, through
    the production aiohttp transport and a real uvicorn."""
    from pathlib import Path

    from support import FixtureServer

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
    servers = {
        "claude": FixtureServer(529, (fixtures / "anthropic" / "error_529.json").read_bytes()),
        "gem": FixtureServer(503, (fixtures / "gemini" / "error_500.json").read_bytes()),
        "gpt": FixtureServer(
            200, (fixtures / "openai" / "stream_text.sse").read_bytes(), "text/event-stream"
        ),
    }
    with loop_thread() as loop:
        ports = {
            name: asyncio.run_coroutine_threadsafe(s.start(), loop).result(5) for name, s in servers.items()
        }
        config = make_config(
            providers={
                "claude": {
                    "type": "anthropic",
                    "base_url": f"http://127.0.0.1:{ports['claude']}/v1",
                    "api_key_env": "A_KEY",
                },
                "gem": {
                    "type": "gemini",
                    "base_url": f"http://127.0.0.1:{ports['gem']}/v1beta",
                    "api_key_env": "A_KEY",
                },
                "gpt": {
                    "type": "openai",
                    "base_url": f"http://127.0.0.1:{ports['gpt']}/v1",
                    "api_key_env": "A_KEY",
                },
            },
            models={"any": {"targets": ["claude/claude-sonnet-4-5", "gem/gemini-2.5-flash", "gpt/gpt-4o"]}},
            routing={"retry_budget": 0},
        )
        app = create_app(config, credentials=Credentials(env={"A_KEY": "sk-canary-a-0123456789"}))
        try:
            with serve_in_thread(app) as base:
                response = httpx.post(
                    f"{base}/v1/chat/completions",
                    json={"model": "any", "stream": True, "messages": [{"role": "user", "content": "x"}]},
                )
        finally:
            for server in servers.values():
                asyncio.run_coroutine_threadsafe(server.stop(), loop).result(5)
    assert [s.requests for s in servers.values()] == [1, 1, 1]
    assert response.headers["x-switchboard-provider"] == "gpt"
    assert response.headers["x-switchboard-attempts"] == "3"
    data = parse_sse(response.text)
    assert data[-1] == "[DONE]"
    text = "".join(
        orjson.loads(d)["choices"][0]["delta"].get("content") or ""
        for d in data[:-1]
        if orjson.loads(d)["choices"]
    )
    assert text == "Hello from the fixture."
