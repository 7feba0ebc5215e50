"""The request pipeline's own promises: deliberate waits are not overhead, reservations are settled
on every path, services are injected (absent ones are null objects), and errors answer in the
route's dialect."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from support import (
    build_app,
    chat,
    chunk,
    client_for,
    completion,
    error_response,
    json_response,
    make_config,
    parse_sse,
    sse_response,
)
from switchboard.pipeline.services import Services
from switchboard.state import keys
from switchboard.state.ratelimit import KeyLimits, RateLimiter
from switchboard.state.store.memory import MemoryStore

pytestmark = pytest.mark.anyio


def retry_after_then(answer: httpx.Response, wait_ms: int = 150):
    answers = [error_response(429, headers={"retry-after-ms": str(wait_ms)}), answer]

    def upstream(request: httpx.Request) -> httpx.Response:
        return answers.pop(0) if len(answers) > 1 else answers[0]

    return upstream


async def test_an_honoured_retry_after_is_backoff_not_overhead() -> None:
    app = build_app(make_config(), retry_after_then(json_response(200, completion())))
    async with client_for(app) as client:
        response = await client.post("/v1/chat/completions", json=chat("solo"))
    assert response.status_code == 200
    h = response.headers
    assert float(h["x-switchboard-backoff-ms"]) >= 150
    assert float(h["x-switchboard-overhead-ms"]) < 100  # the 150 ms sleep is not gateway overhead
    assert "backoff;dur=" in h["server-timing"]
    assert h["x-switchboard-attempts"] == "2"


async def test_no_backoff_header_without_a_wait() -> None:
    app = build_app(make_config(), lambda r: json_response(200, completion()))
    async with client_for(app) as client:
        response = await client.post("/v1/chat/completions", json=chat("solo"))
    assert "x-switchboard-backoff-ms" not in response.headers
    assert "backoff" not in response.headers["server-timing"]


async def test_stream_timing_comment_reports_backoff() -> None:
    stream = sse_response(chunk("hi"), chunk(finish="stop"), b"data: [DONE]\n\n")
    app = build_app(make_config(), retry_after_then(stream))
    async with client_for(app) as client:
        response = await client.post("/v1/chat/completions", json=chat("solo", stream=True))
    comment = next(line for line in response.text.splitlines() if line.startswith(": switchboard-timing"))
    summary = orjson.loads(comment.split(" ", 2)[2])
    assert summary["backoff_ms"] >= 150
    assert summary["overhead_ms"] < 100
    assert parse_sse(response.text)[-1] == "[DONE]"


async def test_failed_requests_give_their_token_reservation_back() -> None:
    """Each request reserves ~prompt/4 + max_tokens; failures used nothing, so a run of them must not
    lock the key out of its tokens-per-minute limit (before: three 502s kept 3 x ~330 of 1,000)."""
    store = MemoryStore()
    key, _ = await keys.create_key(store, tenant="t", name="n", tpm=1000)
    failing = [True]

    def upstream(request: httpx.Request) -> httpx.Response:
        return error_response(500) if failing[0] else json_response(200, completion())

    app = build_app(make_config(), upstream, store=store)
    headers = {"authorization": f"Bearer {key}"}
    async with client_for(app) as client:
        for _ in range(4):
            failed = await client.post(
                "/v1/chat/completions", json=chat("solo", max_tokens=300), headers=headers
            )
            assert failed.status_code == 502
        failing[0] = False
        ok = await client.post("/v1/chat/completions", json=chat("solo", max_tokens=300), headers=headers)
    assert ok.status_code == 200, ok.text
    await app.aclose()


async def test_services_are_injected_and_settled_on_every_path() -> None:
    """A custom limits service sees one admit and one settle per request, errors included."""
    settled: list[int | None] = []

    class Recording(KeyLimits):
        def settle(self, reservation, used_tokens, used_nano_usd=None):  # type: ignore[no-untyped-def]
            settled.append(used_tokens)
            super().settle(reservation, used_tokens, used_nano_usd)

    store = MemoryStore()
    key, _ = await keys.create_key(store, tenant="t", name="n", tpm=100_000)
    from switchboard.state.auth import Authenticator

    services = Services(auth=Authenticator(store), limits=Recording(RateLimiter(store)))
    answers = [error_response(400, "bad"), json_response(200, completion())]

    def upstream(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    app = build_app(make_config(), upstream, services=services)
    headers = {"authorization": f"Bearer {key}"}
    async with client_for(app) as client:
        assert (
            await client.post("/v1/chat/completions", json=chat("solo"), headers=headers)
        ).status_code == 400
        assert (
            await client.post("/v1/chat/completions", json=chat("solo"), headers=headers)
        ).status_code == 200
    assert settled == [0, 2]  # the 400 used nothing; the answer reported 2 tokens
    assert app.services is services


async def test_an_open_gateway_needs_no_store() -> None:
    app = build_app(make_config(), lambda r: json_response(200, completion("open")), services=Services())
    async with client_for(app) as client:
        response = await client.post("/v1/chat/completions", json=chat("solo"))
    assert response.json()["choices"][0]["message"]["content"] == "open"
    assert response.headers["x-switchboard-cache"] == "bypass"


async def test_method_not_allowed_answers_in_the_routes_dialect() -> None:
    app = build_app(make_config())
    async with client_for(app) as client:
        messages = await client.get("/v1/messages")
        chat_route = await client.get("/v1/chat/completions")
    assert messages.status_code == chat_route.status_code == 405
    assert messages.json()["type"] == "error" and messages.json()["error"]["type"] == "invalid_request_error"
    assert chat_route.json()["error"]["code"] == "method_not_allowed"
    assert messages.headers["allow"] == "POST"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
async def test_bodies_a_browser_can_send_cross_origin_are_refused(content_type: str) -> None:
    app = build_app(make_config())
    async with client_for(app) as client:
        response = await client.post(
            "/v1/chat/completions", content=orjson.dumps(chat("solo")), headers={"content-type": content_type}
        )
    assert response.status_code == 415


async def test_required_auth_refuses_everything_while_no_key_exists() -> None:
    app = build_app(make_config(gateway={"auth": "required"}), store=MemoryStore())
    async with client_for(app) as client:
        response = await client.post("/v1/chat/completions", json=chat("solo"))
        placeholder = await client.post(
            "/v1/chat/completions", json=chat("solo"), headers={"authorization": "Bearer unused"}
        )
        models = await client.get("/v1/models")
    assert response.status_code == placeholder.status_code == models.status_code == 401
    assert "switchboard keys create" in response.json()["error"]["message"]


async def test_open_auth_serves_anonymous_callers_but_checks_presented_gateway_keys() -> None:
    store = MemoryStore()
    key, _ = await keys.create_key(store, tenant="t", name="n")
    app = build_app(
        make_config(gateway={"auth": "open"}), lambda r: json_response(200, completion()), store=store
    )
    async with client_for(app) as client:
        anonymous = await client.post("/v1/chat/completions", json=chat("solo"))
        valid = await client.post(
            "/v1/chat/completions", json=chat("solo"), headers={"authorization": f"Bearer {key}"}
        )
        unknown = await client.post(
            "/v1/chat/completions", json=chat("solo"), headers={"authorization": "Bearer sb-" + "Z" * 43}
        )
    assert anonymous.status_code == valid.status_code == 200
    assert unknown.status_code == 401


def test_auth_defaults_to_required_and_the_environment_overrides_the_file() -> None:
    from switchboard.config import ConfigError, parse_config

    doc = {"providers": {"mock": {"type": "mock"}}, "models": {"m": {"targets": ["mock/echo"]}}}
    assert parse_config(doc, env={}).gateway.auth == "required"
    opened = {**doc, "gateway": {"auth": "open"}}
    assert parse_config(opened, env={"SWITCHBOARD_AUTH": "required"}).gateway.auth == "required"
    with pytest.raises(ConfigError):
        parse_config({**doc, "gateway": {"auth": "maybe"}}, env={})


class _SlowStream(httpx.AsyncByteStream):
    def __init__(self, events: list[bytes], pause_s: float) -> None:
        self.events, self.pause_s = events, pause_s

    async def __aiter__(self):  # type: ignore[override]
        for i, event in enumerate(self.events):
            if i:
                await asyncio.sleep(self.pause_s)
            yield event


@pytest.mark.parametrize("route", ["/v1/chat/completions", "/v1/messages"])
async def test_silent_streams_get_keep_alive_comments(route: str) -> None:
    events = [chunk("thinking..."), chunk("done"), chunk(finish="stop"), b"data: [DONE]\n\n"]

    def upstream(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=_SlowStream(events, 0.35)
        )

    config = make_config(routing={"stream_heartbeat_ms": 100})
    body = (
        chat("solo", stream=True)
        if route.endswith("completions")
        else {
            "model": "solo",
            "max_tokens": 10,
            "stream": True,
            "messages": [{"role": "user", "content": "x"}],
        }
    )
    async with client_for(build_app(config, upstream)) as client:
        response = await client.post(route, json=body)
    beats = response.text.count(": keep-alive\n\n")
    assert beats >= 4  # ~3 beats in each of the two 0.35 s silences
    assert "thinking..." in response.text and "done" in response.text
    if route.endswith("completions"):
        assert parse_sse(response.text)[-1] == "[DONE]"
    else:
        assert response.text.rstrip().endswith('{"type":"message_stop"}')


async def test_no_keep_alive_when_the_stream_is_busy() -> None:
    stream = sse_response(chunk("a"), chunk("b"), chunk(finish="stop"), b"data: [DONE]\n\n")
    async with client_for(build_app(make_config(), lambda r: stream)) as client:
        response = await client.post("/v1/chat/completions", json=chat("solo", stream=True))
    assert ": keep-alive" not in response.text


async def test_an_oversized_upstream_answer_is_a_502_and_falls_back() -> None:
    """A hostile or broken upstream cannot make the gateway hold an unbounded answer in memory."""
    huge = completion("x" * 70_000)

    def upstream(request: httpx.Request) -> httpx.Response:
        return json_response(200, huge if request.url.host.startswith("a.") else completion("small"))

    config = make_config(gateway={"max_response_bytes": 65536})
    async with client_for(build_app(config, upstream)) as client:
        solo = await client.post("/v1/chat/completions", json=chat("solo"))
        chain = await client.post("/v1/chat/completions", json=chat("chain"))
    assert solo.status_code == 502 and "malformed response" in solo.json()["error"]["message"]
    assert chain.status_code == 200 and chain.headers["x-switchboard-provider"] == "b"


async def test_a_huge_error_body_is_read_only_as_far_as_needed() -> None:
    body = {"error": {"message": "bad request", "type": "invalid_request_error"}, "padding": "p" * 2_000_000}
    async with client_for(build_app(make_config(), lambda r: json_response(400, body))) as client:
        response = await client.post("/v1/chat/completions", json=chat("solo"))
    assert response.status_code == 400
    assert len(response.content) < 10_000


async def test_unknown_routes_under_messages_answer_in_anthropic_shape() -> None:
    async with client_for(build_app(make_config())) as client:
        response = await client.post("/v1/messages/batches", json={})
        other = await client.get("/v1/nothing")
    assert response.status_code == other.status_code == 404
    assert response.json()["type"] == "error" and response.json()["error"]["type"] == "not_found_error"
    assert other.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("route", "body"),
    [
        (
            "/v1/chat/completions",
            b'{"model":"solo","messages":[{"role":"user","content":"x"}],"x":'
            + b"[" * 300
            + b"]" * 300
            + b"}",
        ),
        (
            "/v1/messages",
            b'{"model":"solo","max_tokens":5,"messages":[{"role":"user","content":"x"}],"x":'
            + b"[" * 900
            + b"]" * 900
            + b"}",
        ),
        (
            "/v1/responses",
            b'{"model":"solo","input":"x","metadata":' + b'{"a":' * 256 + b"1" + b"}" * 256 + b"}",
        ),
        (
            "/v1/chat/completions",
            b'{"model":"solo","messages":[{"role":"user","content":"x"}],"seed":12345678901234567890123}',
        ),
    ],
)
async def test_nesting_and_integers_the_serialiser_cannot_keep_are_400s(route: str, body: bytes) -> None:
    """Depth 256-1023 passes the parser but not the re-serialisation every route does (was a 500);
    integers past 64 bits became floats (two different seeds shared one cache key)."""
    async with client_for(build_app(make_config())) as client:  # the upstream must not be called
        response = await client.post(route, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
