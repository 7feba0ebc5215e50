"""Stream lifecycle and usage as data, through a real `switchboard serve` on 127.0.0.1 (what an
in-process test cannot see: uvicorn reports `http.disconnect` as soon as a response is complete).

- A translated Responses stream is stored before its final event reaches the client: a retrieve or
  a `previous_response_id` follow-up sent the moment the stream ends finds it, and the stream is
  counted as served, not as a client that went away (issue 16, item 1).
- A stream whose first output is slow is committed early (200 + SSE headers, keep-alive comments)
  and still falls back invisibly; when every target fails after that, the client gets an error
  event in its dialect, never a clean end (issue 16, item 12).
- The same upstream answer costs the same on every route and dialect, JSON and streamed, for every
  provider type: usage travels as one value from the adapter, cache writes included (issue 19,
  item 1).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from served import FakeProviders, Served, provider_config, run_serve, serve
from switchboard.devtools.fake_upstream import FakeUpstream

pytestmark = pytest.mark.loopback

TIMING = ": switchboard-timing "


def _timing(text: str) -> dict[str, Any]:
    [line] = [line for line in text.splitlines() if line.startswith(TIMING)]
    parsed = json.loads(line[len(TIMING) :])
    assert isinstance(parsed, dict)
    return parsed


# --------------------------------------------------------------------------- stored after stream


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProviders]:
    with FakeProviders() as providers:
        yield providers


@pytest.fixture(scope="module")
def gateway(fake: FakeProviders, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    prices = '\n[prices]\n"gpt-fake" = { prompt = 2.0, completion = 8.0, cached = 0.5 }\n'
    models = {
        "chat-only": "oc/gpt-fake",  # an OpenAI-compatible server without /v1/responses: translated
        "openai": "oa/gpt-fake",
        "anthropic": "an/claude-sonnet-4-5",
        "gemini": "ge/gemini-2.5-flash",
        "bedrock": "br/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    }
    with serve(tmp_path_factory.mktemp("streams"), provider_config(fake.root) + prices, models) as served:
        yield served


def test_a_translated_responses_stream_is_stored_before_its_final_event(gateway: Served) -> None:
    headers = {"authorization": f"Bearer {gateway.key}"}
    body = {"model": "chat-only", "input": "My name is Ada.", "stream": True}
    found = 0
    rounds = 12
    with httpx.Client(base_url=gateway.base, headers=headers, timeout=20) as client:
        for _ in range(rounds):
            with client.stream("POST", "/v1/responses", json=body) as response:
                assert response.status_code == 200
                text = "".join(response.iter_text())
            assert "event: response.completed" in text
            created = next(
                json.loads(line[6:])
                for line in text.splitlines()
                if line.startswith("data: ") and '"response.created"' in line
            )
            rid = created["response"]["id"]
            # asked the moment the stream ended, on another connection (the SDKs' follow-up)
            with httpx.Client(base_url=gateway.base, headers=headers, timeout=20) as other:
                got = other.get(f"/v1/responses/{rid}")
                follow = other.post(
                    "/v1/responses",
                    json={"model": "chat-only", "input": "And my name?", "previous_response_id": rid},
                )
            found += got.status_code == 200 and follow.status_code == 200
    assert found == rounds
    served = _usage(gateway, "chat-only", 2 * rounds)
    assert sum(row["requests"] for row in served) >= 2 * rounds
    assert sum(row["errors"] for row in served) == 0  # none of them counted as a client gone


def _usage(gateway: Served, model: str, requests: int) -> list[dict[str, Any]]:
    """The key's usage rows of `model`, once they count `requests` (or after 15 s)."""
    config = gateway.log.parent / "switchboard.toml"
    deadline = time.monotonic() + 15
    while True:  # the gateway writes usage in the background (1 s batches)
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "switchboard",
                "usage",
                "--config",
                str(config),
                "--key",
                gateway.key,
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        report = json.loads(out.stdout)
        assert isinstance(report, dict)
        rows = [row for row in report["rows"] if row["model"] == model]
        if sum(row["requests"] for row in rows) >= requests or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


# --------------------------------------------------------------------------- same cost everywhere

ROUTES = ("chat", "chat-stream", "messages", "messages-stream", "responses", "responses-stream")


def _cost(gateway: Served, route: str, model: str) -> str | None:
    headers = {"authorization": f"Bearer {gateway.key}", "anthropic-version": "2023-06-01"}
    stream = route.endswith("-stream")
    kind = route.removesuffix("-stream")
    if kind == "chat":
        path = "/v1/chat/completions"
        body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    elif kind == "messages":
        path = "/v1/messages"
        body = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    else:
        path, body = "/v1/responses", {"model": model, "input": "hi", "store": False}
    body["stream"] = stream
    with httpx.Client(base_url=gateway.base, headers=headers, timeout=20) as client:
        response = client.post(path, json=body)
    assert response.status_code == 200, (route, model, response.text[:300])
    if not stream:
        return response.headers.get("x-switchboard-cost-usd")
    cost = _timing(response.text).get("cost_usd")
    assert cost is None or isinstance(cost, str)
    return cost


@pytest.mark.parametrize("model", ["anthropic", "bedrock", "gemini", "openai", "chat-only"])
def test_the_same_answer_costs_the_same_on_every_route(gateway: Served, model: str) -> None:
    costs = {route: _cost(gateway, route, model) for route in ROUTES}
    assert len(set(costs.values())) == 1, costs
    assert next(iter(costs.values())) not in (None, "0"), costs  # every target here is priced


def test_cache_writes_are_charged_on_translated_routes_too(gateway: Served) -> None:
    # the Anthropic fake reports 2 cache-write tokens: priced above plain input, on every route,
    # so a cost computed without them (the old re-encoding bug) would be lower on the translated
    # routes than on the passed-through /v1/messages
    passed = _cost(gateway, "messages", "anthropic")
    translated = _cost(gateway, "chat", "anthropic")
    assert passed is not None
    assert passed == translated


# --------------------------------------------------------------------------- early commit


class _Upstream:
    """`devtools.fake_upstream` on a loop thread: `stream-<n>-<ms>` models are silent `<ms>` before
    each chunk; `hang-<ms>` closes the connection after `<ms>` without answering."""

    def __init__(self) -> None:
        self.server = FakeUpstream()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    upstream = _Upstream()
    tmp = tmp_path_factory.mktemp("commit")
    base = f"http://127.0.0.1:{upstream.port}/v1"
    config = tmp / "switchboard.toml"
    config.write_text(
        "[routing]\nretry_budget = 0\nstream_commit_ms = 300\nstream_heartbeat_ms = 200\n"
        f'[store]\nbackend = "sqlite"\npath = {json.dumps(str(tmp / "state.db"))}\n'
        f'[providers.up]\ntype = "openai"\nbase_url = "{base}"\napi_key_env = "FAKE_UPSTREAM_KEY"\n'
        '[models.thinker]\ntargets = ["up/stream-2-1500"]\n'
        '[models.fallback]\ntargets = ["up/hang-800", "up/stream-2-100"]\n'
        '[models.doomed]\ntargets = ["up/hang-800", "up/status-503"]\n'
    )
    try:
        with run_serve(config, {"FAKE_UPSTREAM_KEY": "sk-fake-0123456789"}) as served:
            yield served
    finally:
        upstream.close()


def _timed_stream(served: Served, path: str, body: dict[str, Any]) -> tuple[int, float, str]:
    """(status, seconds to the response headers, the whole body)."""
    headers = {"authorization": f"Bearer {served.key}", "anthropic-version": "2023-06-01"}
    started = time.monotonic()
    with (
        httpx.Client(base_url=served.base, headers=headers, timeout=20) as client,
        client.stream("POST", path, json={**body, "stream": True}) as response,
    ):
        head = time.monotonic() - started
        return response.status_code, head, "".join(response.iter_text())


def test_a_silent_model_is_committed_early_and_kept_alive(slow: Served) -> None:
    chat = {"model": "thinker", "messages": [{"role": "user", "content": "think"}]}
    status, head, text = _timed_stream(slow, "/v1/chat/completions", chat)
    assert status == 200
    assert head < 1.2  # the first output comes after 1.5 s: the headers went out at ~0.3 s
    assert text.count(": keep-alive") >= 3  # every 200 ms while the model was silent
    assert text.rstrip().endswith("data: [DONE]")
    assert _timing(text)["provider"] == "up"


def test_fallback_after_an_early_commit_is_invisible(slow: Served) -> None:
    chat = {"model": "fallback", "messages": [{"role": "user", "content": "hi"}]}
    status, head, text = _timed_stream(slow, "/v1/chat/completions", chat)
    assert status == 200
    assert head < 0.7  # committed before the first target gave up at 0.8 s
    assert '"error"' not in text
    assert text.rstrip().endswith("data: [DONE]")
    assert _timing(text)["attempts"] == 2


@pytest.mark.parametrize(
    ("path", "body", "error"),
    [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}, 'data: {"error"'),
        ("/v1/messages", {"max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}, "event: error"),
        ("/v1/responses", {"input": "hi", "store": False}, "event: response.failed"),
    ],
)
def test_a_final_failure_after_an_early_commit_is_an_error_event(
    slow: Served, path: str, body: dict[str, Any], error: str
) -> None:
    status, _, text = _timed_stream(slow, path, {**body, "model": "doomed"})
    assert status == 200  # committed at 0.3 s; both targets failed later
    assert error in text
    assert "[DONE]" not in text
    assert "message_stop" not in text
    assert "response.completed" not in text
    assert text.count(": keep-alive") >= 1
