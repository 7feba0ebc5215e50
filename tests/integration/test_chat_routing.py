"""Routing and failure semantics through the whole app, upstreams on httpx.MockTransport."""

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

pytestmark = pytest.mark.anyio


class Recorder:
    """An upstream whose answer per host is scripted as a list (the last entry repeats)."""

    def __init__(self, **script: list[httpx.Response | Exception]) -> None:
        self.script = script
        self.calls: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        host = request.url.host.split(".")[0]
        answers = self.script[host]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def hosts(self) -> list[str]:
        return [c.url.host.split(".")[0] for c in self.calls]


async def post(app, body, headers=None) -> httpx.Response:
    async with client_for(app) as client:
        return await client.post("/v1/chat/completions", json=body, headers=headers or {})


async def test_success_passes_body_through_with_timing_headers() -> None:
    upstream = Recorder(a=[json_response(200, completion("hi there"))])
    response = await post(build_app(make_config(), upstream), chat())
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "hi there"
    h = response.headers
    assert h["x-switchboard-provider"] == "a"
    assert h["x-switchboard-model"] == "model-a"
    assert h["x-switchboard-region"] == "test-region"
    assert h["x-switchboard-attempts"] == "1"
    assert float(h["x-switchboard-overhead-ms"]) >= 0
    assert float(h["x-switchboard-upstream-ms"]) >= 0
    assert h["server-timing"].startswith("gateway;dur=")
    assert len(h["x-request-id"]) >= 16
    sent = orjson.loads(upstream.calls[0].content)
    assert sent["model"] == "model-a"
    assert upstream.calls[0].headers["authorization"] == "Bearer sk-canary-a-0123456789"


async def test_request_fields_forwarded_intact_and_overrides_stripped() -> None:
    upstream = Recorder(b=[json_response(200, completion())])
    body = chat(
        "chain",
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        tool_choice="auto",
        response_format={"type": "json_object"},
        n=2,
        stop=["x"],
        seed=7,
        stream_options=None,
        models=["chain"],
        provider_preferences={"primary": "b"},
        timeout=12,
        logit_bias={"50256": -100},
    )
    body["messages"][0]["content"] = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    response = await post(build_app(make_config(), upstream), body)
    assert response.status_code == 200
    sent = orjson.loads(upstream.calls[0].content)
    for field in ("models", "provider_preferences", "timeout"):
        assert field not in sent
    for field in ("tools", "tool_choice", "response_format", "n", "stop", "seed", "logit_bias", "messages"):
        assert sent[field] == body[field]
    assert sent["model"] == "model-b"


async def test_request_id_is_echoed() -> None:
    upstream = Recorder(a=[json_response(200, completion())])
    response = await post(build_app(make_config(), upstream), chat(), {"x-request-id": "req-123"})
    assert response.headers["x-request-id"] == "req-123"


async def test_fallback_on_503_then_success() -> None:
    upstream = Recorder(a=[error_response(503)], b=[json_response(200, completion("from b"))])
    response = await post(build_app(make_config(), upstream), chat())
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "from b"
    # one retry on a (the per-target retry), then b
    assert upstream.hosts() == ["a", "a", "b"]
    assert response.headers["x-switchboard-attempts"] == "3"
    assert response.headers["x-switchboard-provider"] == "b"


async def test_no_retry_no_fallback_on_400() -> None:
    upstream = Recorder(a=[error_response(400, "maximum context length is 10 tokens")])
    response = await post(build_app(make_config(), upstream), chat())
    assert response.status_code == 400
    assert upstream.hosts() == ["a"]
    err = response.json()["error"]
    assert err["message"] == "maximum context length is 10 tokens"
    assert err["type"] == "invalid_request_error"


@pytest.mark.parametrize("status", [404, 413, 422])
async def test_client_errors_are_returned_as_is(status: int) -> None:
    upstream = Recorder(a=[error_response(status)])
    response = await post(build_app(make_config(), upstream), chat())
    assert response.status_code == status
    assert upstream.hosts() == ["a"]


@pytest.mark.parametrize("status", [401, 402, 403])
async def test_auth_failure_skips_target_at_once(status: int) -> None:
    upstream = Recorder(
        a=[error_response(status, "Incorrect API key sk-canary-a-0123456789")],
        b=[json_response(200, completion())],
    )
    response = await post(build_app(make_config(), upstream), chat())
    assert response.status_code == 200
    assert upstream.hosts() == ["a", "b"]


async def test_429_moves_to_next_target() -> None:
    upstream = Recorder(
        a=[error_response(429, headers={"retry-after": "30"})], b=[json_response(200, completion())]
    )
    response = await post(build_app(make_config(), upstream), chat())
    assert response.status_code == 200
    assert upstream.hosts() == ["a", "b"]


async def test_429_on_last_target_honours_retry_after_ms() -> None:
    upstream = Recorder(
        a=[error_response(429, headers={"retry-after-ms": "40"}), json_response(200, completion())]
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await post(build_app(make_config(), upstream), chat("solo"))
    assert response.status_code == 200
    assert loop.time() - started >= 0.04
    assert upstream.hosts() == ["a", "a"]


async def test_429_everywhere_returns_429_with_retry_after() -> None:
    upstream = Recorder(
        a=[error_response(429, headers={"retry-after": "120"})],
        b=[error_response(429, headers={"retry-after": "120"})],
    )
    response = await post(build_app(make_config(), upstream), chat())
    assert response.status_code == 429
    assert response.headers["retry-after"] == "120"
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert upstream.hosts() == ["a", "b"]  # 120 s is over the cap: no waiting


async def test_all_targets_fail_names_attempts_without_upstream_bodies() -> None:
    upstream = Recorder(
        a=[error_response(500, "secret internals sk-canary-a-0123456789")], b=[httpx.ConnectError("refused")]
    )
    response = await post(build_app(make_config(), upstream), chat())
    assert response.status_code == 502
    message = response.json()["error"]["message"]
    assert "a/model-a: 500 server error" in message
    assert "b/model-b: connect error" in message
    assert "secret internals" not in response.text
    assert "sk-canary" not in response.text


async def test_all_503_gives_503() -> None:
    upstream = Recorder(a=[error_response(503)], b=[error_response(503)])
    response = await post(build_app(make_config(), upstream), chat())
    assert response.status_code == 503


async def test_retry_budget_bounds_attempts() -> None:
    upstream = Recorder(a=[error_response(500)], b=[error_response(500)], c=[error_response(500)])
    config = make_config(routing={"retry_budget": 1})
    response = await post(build_app(config, upstream), chat("three"))
    assert response.status_code == 502
    assert upstream.hosts() == ["a", "a", "b", "c"]  # one retry in all, then each target once


async def test_deadline_exhaustion_gives_504() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return json_response(200, completion())

    app = build_app(make_config(), slow)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await post(app, chat(timeout=0.2))
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "deadline_exceeded"
    assert loop.time() - started < 2


async def test_per_target_timeout_falls_back() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host.startswith("a"):
            await asyncio.sleep(5)
        return json_response(200, completion("b answered"))

    config = make_config(models={"timed": {"targets": [{"target": "a/slow", "timeout_ms": 50}, "b/fast"]}})
    response = await post(build_app(config, handler), chat("timed"))  # type: ignore[arg-type]
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "b answered"


async def test_missing_credential_skips_target() -> None:
    config = make_config(
        providers={"d": {"type": "openai", "base_url": "https://d.example/v1", "api_key_env": "NOPE"}},
        models={"dchain": {"targets": ["d/x", "a/model-a"]}},
    )
    upstream = Recorder(a=[json_response(200, completion())])
    response = await post(build_app(config, upstream), chat("dchain"))
    assert response.status_code == 200
    assert upstream.hosts() == ["a"]


async def test_cooldown_skips_a_failing_target() -> None:
    config = make_config(routing={"cooldown_failures": 2, "cooldown_ms": 60_000, "retry_budget": 0})
    upstream = Recorder(a=[error_response(500)], b=[json_response(200, completion())])
    app = build_app(config, upstream)
    await post(app, chat())
    await post(app, chat())
    assert upstream.hosts() == ["a", "b", "a", "b"]
    upstream.calls.clear()
    response = await post(app, chat())
    assert response.status_code == 200
    assert upstream.hosts() == ["b"]  # a is cooling down


async def test_models_override_replaces_chain() -> None:
    upstream = Recorder(a=[error_response(503)], c=[json_response(200, completion())])
    config = make_config(models={"conly": {"targets": ["c/model-c"]}})
    response = await post(build_app(config, upstream), chat("solo", models=["conly", "solo"]))
    assert response.status_code == 200
    assert upstream.hosts() == ["c"]


async def test_provider_preferences_reorder_and_restrict() -> None:
    upstream = Recorder(
        a=[json_response(200, completion())], b=[error_response(500)], c=[json_response(200, completion())]
    )
    body = chat("three", provider_preferences={"primary": "c", "fallback": ["b"]})
    response = await post(build_app(make_config(), upstream), body)
    assert response.status_code == 200
    assert upstream.hosts() == ["c"]


async def test_upstream_redirects_are_not_followed() -> None:
    upstream = Recorder(
        a=[httpx.Response(302, headers={"location": "http://169.254.169.254/"})],
        b=[json_response(200, completion())],
    )
    response = await post(build_app(make_config(), upstream), chat())
    assert upstream.hosts() == ["a", "b"]  # a redirect is never followed; the target is skipped
    assert response.status_code == 200


async def test_malformed_upstream_body_falls_back() -> None:
    upstream = Recorder(
        a=[httpx.Response(200, content=b'{"id": "trunc')], b=[json_response(200, completion())]
    )
    response = await post(build_app(make_config(), upstream), chat())
    assert response.status_code == 200
    assert upstream.hosts() == ["a", "a", "b"]


# ---------------------------------------------------------------------------- streaming


async def test_stream_relays_events_and_timing_comment_before_done() -> None:
    upstream = Recorder(
        a=[
            sse_response(
                chunk(role=True), chunk("Hel"), chunk("lo"), chunk(finish="stop"), b"data: [DONE]\n\n"
            )
        ]
    )
    response = await post(build_app(make_config(), upstream), chat(stream=True))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-switchboard-provider"] == "a"
    data = parse_sse(response.text)
    assert data[-1] == "[DONE]"
    text = "".join(orjson.loads(d)["choices"][0]["delta"].get("content", "") for d in data[:-1])
    assert text == "Hello"
    timing_line = response.text.split("\n\n")[-3]
    assert timing_line.startswith(": switchboard-timing ")
    summary = orjson.loads(timing_line.removeprefix(": switchboard-timing "))
    assert summary["chunks"] == 4 and summary["provider"] == "a" and summary["attempts"] == 1
    assert summary["ttft_ms"] is not None and summary["total_ms"] >= summary["upstream_ms"]


async def test_stream_error_before_output_falls_back() -> None:
    # start-up events (role chunk, comment) are buffered, so the error can still fall back
    early_error = sse_response(
        b": keep-alive\n\n", chunk(role=True), b'data: {"error": {"message": "overloaded"}}\n\n'
    )
    upstream = Recorder(
        a=[early_error],
        b=[sse_response(chunk(role=True), chunk("ok"), chunk(finish="stop"), b"data: [DONE]\n\n")],
    )
    response = await post(build_app(make_config(routing={"retry_budget": 0}), upstream), chat(stream=True))
    assert response.status_code == 200
    assert upstream.hosts() == ["a", "b"]
    assert response.headers["x-switchboard-provider"] == "b"
    data = parse_sse(response.text)
    assert data[-1] == "[DONE]"
    assert "overloaded" not in response.text


async def test_stream_status_error_falls_back() -> None:
    upstream = Recorder(a=[error_response(503)], b=[sse_response(chunk("ok"), b"data: [DONE]\n\n")])
    response = await post(build_app(make_config(routing={"retry_budget": 0}), upstream), chat(stream=True))
    assert response.status_code == 200
    assert upstream.hosts() == ["a", "b"]


async def test_stream_ending_without_output_falls_back() -> None:
    upstream = Recorder(
        a=[sse_response(chunk(role=True))], b=[sse_response(chunk("ok"), b"data: [DONE]\n\n")]
    )
    response = await post(build_app(make_config(routing={"retry_budget": 0}), upstream), chat(stream=True))
    assert upstream.hosts() == ["a", "b"]
    assert parse_sse(response.text)[-1] == "[DONE]"


async def test_mid_stream_failure_ends_with_error_event_and_no_done() -> None:
    class Cut(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield chunk(role=True) + chunk("partial")
            raise httpx.ReadError("connection reset")

    upstream = Recorder(
        a=[httpx.Response(200, stream=Cut(), headers={"content-type": "text/event-stream"})],
        b=[sse_response(chunk("never"), b"data: [DONE]\n\n")],
    )
    response = await post(build_app(make_config(), upstream), chat(stream=True))
    assert response.status_code == 200
    data = parse_sse(response.text)
    assert "[DONE]" not in data
    assert orjson.loads(data[-1])["error"]["code"] == "stream_interrupted"
    assert upstream.hosts() == ["a"]  # no fallback after output reached the client


async def test_mid_stream_upstream_error_event_is_replaced() -> None:
    upstream = Recorder(
        a=[
            sse_response(
                chunk("partial"), b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n'
            )
        ]
    )
    response = await post(build_app(make_config(), upstream), chat(stream=True))
    data = parse_sse(response.text)
    assert "[DONE]" not in data
    error = orjson.loads(data[-1])["error"]
    assert error["code"] == "stream_interrupted" and "overloaded" in error["message"]


async def test_stream_truncated_without_done_is_an_error() -> None:
    upstream = Recorder(a=[sse_response(chunk("partial"), chunk(" more"))])
    response = await post(build_app(make_config(), upstream), chat(stream=True))
    data = parse_sse(response.text)
    assert "[DONE]" not in data
    assert "ended before completion" in orjson.loads(data[-1])["error"]["message"]


async def test_stream_idle_timeout_ends_with_error() -> None:
    class Stall(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield chunk("partial")
            await asyncio.sleep(10)
            yield b"data: [DONE]\n\n"

    upstream = Recorder(a=[httpx.Response(200, stream=Stall())])
    config = make_config(routing={"stream_idle_timeout_ms": 100})
    response = await post(build_app(config, upstream), chat(stream=True))
    error = orjson.loads(parse_sse(response.text)[-1])["error"]
    assert error["code"] == "stream_timeout"


async def test_all_stream_targets_fail_gives_json_error() -> None:
    upstream = Recorder(a=[error_response(500)], b=[error_response(500)])
    response = await post(build_app(make_config(routing={"retry_budget": 0}), upstream), chat(stream=True))
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "all_targets_failed"
