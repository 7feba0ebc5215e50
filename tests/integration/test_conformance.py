"""One conformance suite for every registered network provider: the same scenarios, replayed from
the provider's recorded wire fixtures (tests/fixtures/providers/<id>/), judged by the `openai` SDK's
own types. A provider registered without fixtures fails here."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from support import build_app, chat, client_for, make_config, parse_sse
from switchboard.providers import provider_type, registered_types
from switchboard.wire.sse import SSESplitter

pytestmark = pytest.mark.anyio
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
NETWORK_PROVIDERS = sorted(t for t in registered_types() if provider_type(t).local_transport is None)
REQUIRED = [
    "completion.json",
    "completion_tool_call.json",
    "stream_text",
    "stream_tool_call",
    "error_400.json",
    "error_401.json",
    "error_429.json",
    "error_500.json",
]
IMAGE = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def fixture(provider: str, name: str) -> bytes:
    return (FIXTURES / provider / name).read_bytes()


def stream_fixture(provider: str, stem: str) -> tuple[bytes, str]:
    """A recorded stream: SSE text, or an AWS binary event stream."""
    sse = FIXTURES / provider / f"{stem}.sse"
    if sse.exists():
        return sse.read_bytes(), "text/event-stream"
    return (FIXTURES / provider / f"{stem}.eventstream").read_bytes(), "application/vnd.amazon.eventstream"


def error_headers(provider: str, status: int) -> dict[str, str]:
    path = FIXTURES / provider / f"error_{status}.headers.json"
    return json.loads(path.read_text()) if path.exists() else {}


def frames(data: bytes) -> list[bytes]:
    """Split a binary event stream at frame boundaries (each frame starts with its total length)."""
    out, offset = [], 0
    while offset < len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        out.append(data[offset : offset + length])
        offset += length
    return out


class Upstream:
    def __init__(
        self, status: int, content: bytes, content_type: str = "application/json", headers=None
    ) -> None:
        self.status, self.content, self.content_type, self.headers = (
            status,
            content,
            content_type,
            headers or {},
        )
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(
            self.status, content=self.content, headers={"content-type": self.content_type, **self.headers}
        )


def app_for(provider: str, upstream, **routing):
    config = make_config(
        providers={
            "p": {
                "type": provider,
                "base_url": f"https://{provider}.example/v1",
                "api_key_env": "A_KEY",
                **({"region": "us-east-1"} if provider == "bedrock" else {}),
            }
        },
        models={"m": {"targets": ["p/upstream-model"]}},
        routing={"retry_budget": 0, **routing},
    )
    return build_app(config, upstream)


async def post(app, body) -> httpx.Response:
    async with client_for(app) as client:
        return await client.post("/v1/chat/completions", json=body)


def chunks_of(response: httpx.Response) -> tuple[list[ChatCompletionChunk], list[str]]:
    data = parse_sse(response.text)
    parsed = [
        ChatCompletionChunk.model_validate(orjson.loads(d))
        for d in data
        if d != "[DONE]" and '"error"' not in d[:12]
    ]
    return parsed, data


def test_every_network_provider_has_fixtures() -> None:
    assert NETWORK_PROVIDERS, "no network providers registered"
    for provider in NETWORK_PROVIDERS:
        missing = [name for name in REQUIRED if not list((FIXTURES / provider).glob(f"{name}*"))]
        assert not missing, f"{provider}: missing fixtures {missing}"


@pytest.fixture(params=NETWORK_PROVIDERS)
def provider(request) -> str:
    return str(request.param)


async def test_plain_answer_and_usage(provider: str) -> None:
    upstream = Upstream(200, fixture(provider, "completion.json"))
    response = await post(app_for(provider, upstream), chat("m", "hello"))
    assert response.status_code == 200
    completion = ChatCompletion.model_validate(response.json())
    assert completion.choices[0].message.content == "Hello from the fixture."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (
        completion.usage.prompt_tokens,
        completion.usage.completion_tokens,
        completion.usage.total_tokens,
    ) == (12, 6, 18)
    assert response.headers["x-switchboard-model"] == "upstream-model"


async def test_streamed_answer_with_usage(provider: str) -> None:
    upstream = Upstream(200, *stream_fixture(provider, "stream_text"))
    body = chat("m", "hello", stream=True, stream_options={"include_usage": True})
    response = await post(app_for(provider, upstream), body)
    chunks, data = chunks_of(response)
    assert data[-1] == "[DONE]"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the fixture."
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "stop"
    ]
    usage = [c.usage for c in chunks if c.usage]
    assert usage and (usage[-1].prompt_tokens, usage[-1].completion_tokens) == (12, 6)


async def test_tool_call(provider: str) -> None:
    upstream = Upstream(200, fixture(provider, "completion_tool_call.json"))
    response = await post(
        app_for(provider, upstream), chat("m", "weather in Paris?", tools=TOOLS, tool_choice="auto")
    )
    completion = ChatCompletion.model_validate(response.json())
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert completion.choices[0].finish_reason == "tool_calls"


async def test_tool_call_streamed(provider: str) -> None:
    upstream = Upstream(200, *stream_fixture(provider, "stream_tool_call"))
    response = await post(app_for(provider, upstream), chat("m", "weather?", tools=TOOLS, stream=True))
    chunks, data = chunks_of(response)
    assert data[-1] == "[DONE]"
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert calls[0].function.name == "get_weather" and calls[0].id
    assert json.loads("".join(tc.function.arguments or "" for tc in calls)) == {"city": "Paris"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "tool_calls"
    ]


async def test_multimodal_input_reaches_the_provider(provider: str) -> None:
    upstream = Upstream(200, fixture(provider, "completion.json"))
    body = chat("m")
    body["messages"][0]["content"] = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": IMAGE}},
    ]
    response = await post(app_for(provider, upstream), body)
    assert response.status_code == 200
    sent = upstream.requests[0].content
    assert b"iVBORw0KGgo" in sent and b"what is this?" in sent


@pytest.mark.parametrize(("status", "expected"), [(400, 400), (401, 502), (429, 429), (500, 502)])
async def test_error_classes(provider: str, status: int, expected: int) -> None:
    headers = {**error_headers(provider, status), **({"retry-after": "7"} if status == 429 else {})}
    upstream = Upstream(status, fixture(provider, f"error_{status}.json"), headers=headers)
    response = await post(app_for(provider, upstream), chat("m"))
    assert response.status_code == expected
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "sk-canary" not in response.text
    if status == 400:
        recorded = orjson.loads(fixture(provider, "error_400.json"))
        assert error["message"] == (recorded.get("error") or recorded)["message"]
    if status == 429:
        assert response.headers["retry-after"] == "7"


async def test_malformed_body_is_502(provider: str) -> None:
    upstream = Upstream(200, fixture(provider, "completion.json")[:40])
    response = await post(app_for(provider, upstream), chat("m"))
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "all_targets_failed"


async def test_stream_cut_midway_ends_with_error(provider: str) -> None:
    data, content_type = stream_fixture(provider, "stream_text")
    events = SSESplitter().feed(data) if content_type == "text/event-stream" else frames(data)
    cut = b"".join(events[: len(events) // 2])  # half the events, then the connection ends
    upstream = Upstream(200, cut, content_type)
    response = await post(app_for(provider, upstream), chat("m", stream=True))
    data = parse_sse(response.text)
    assert "[DONE]" not in data
    assert orjson.loads(data[-1])["error"]["code"] == "stream_interrupted"


# ---------------------------------------------------------------------------- across providers


async def test_fallback_across_providers_anthropic_to_openai() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host.startswith("anthropic"):
            return httpx.Response(529, content=fixture("anthropic", "error_529.json"))
        return httpx.Response(200, content=fixture("openai", "completion.json"))

    config = make_config(
        providers={
            "claude": {
                "type": "anthropic",
                "base_url": "https://anthropic.example/v1",
                "api_key_env": "A_KEY",
            },
            "gpt": {"type": "openai", "base_url": "https://openai.example/v1", "api_key_env": "B_KEY"},
        },
        models={"smart": {"targets": ["claude/claude-sonnet-4-5", "gpt/gpt-4o"]}},
        routing={"retry_budget": 0},
    )
    response = await post(build_app(config, handler), chat("smart"))
    assert response.status_code == 200
    assert response.headers["x-switchboard-provider"] == "gpt"
    assert response.headers["x-switchboard-attempts"] == "2"


async def test_streamed_fallback_openai_429_to_anthropic() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host.startswith("openai"):
            return httpx.Response(
                429, content=fixture("openai", "error_429.json"), headers={"retry-after": "30"}
            )
        return httpx.Response(
            200,
            content=fixture("anthropic", "stream_text.sse"),
            headers={"content-type": "text/event-stream"},
        )

    config = make_config(
        providers={
            "gpt": {"type": "openai", "base_url": "https://openai.example/v1", "api_key_env": "B_KEY"},
            "claude": {
                "type": "anthropic",
                "base_url": "https://anthropic.example/v1",
                "api_key_env": "A_KEY",
            },
        },
        models={"smart": {"targets": ["gpt/gpt-4o", "claude/claude-sonnet-4-5"]}},
    )
    response = await post(build_app(config, handler), chat("smart", stream=True))
    chunks, data = chunks_of(response)
    assert response.headers["x-switchboard-provider"] == "claude"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the fixture."
    assert data[-1] == "[DONE]"


async def test_anthropic_stream_error_before_output_falls_back() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host.startswith("anthropic"):
            return httpx.Response(
                200,
                content=fixture("anthropic", "stream_error_overloaded.sse"),
                headers={"content-type": "text/event-stream"},
            )
        return httpx.Response(
            200, content=fixture("openai", "stream_text.sse"), headers={"content-type": "text/event-stream"}
        )

    config = make_config(
        providers={
            "claude": {
                "type": "anthropic",
                "base_url": "https://anthropic.example/v1",
                "api_key_env": "A_KEY",
            },
            "gpt": {"type": "openai", "base_url": "https://openai.example/v1", "api_key_env": "B_KEY"},
        },
        models={"smart": {"targets": ["claude/claude-sonnet-4-5", "gpt/gpt-4o"]}},
        routing={"retry_budget": 0},
    )
    response = await post(build_app(config, handler), chat("smart", stream=True))
    assert response.headers["x-switchboard-provider"] == "gpt"
    assert parse_sse(response.text)[-1] == "[DONE]"


async def test_three_provider_chain_anthropic_gemini_openai() -> None:
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        host = request.url.host.split(".")[0]
        hosts.append(host)
        if host == "anthropic":
            return httpx.Response(529, content=fixture("anthropic", "error_529.json"))
        if host == "gemini":
            return httpx.Response(503, content=fixture("gemini", "error_500.json"))
        return httpx.Response(
            200, content=fixture("openai", "stream_text.sse"), headers={"content-type": "text/event-stream"}
        )

    config = make_config(
        providers={
            "claude": {
                "type": "anthropic",
                "base_url": "https://anthropic.example/v1",
                "api_key_env": "A_KEY",
            },
            "gem": {"type": "gemini", "base_url": "https://gemini.example/v1beta", "api_key_env": "B_KEY"},
            "gpt": {"type": "openai", "base_url": "https://openai.example/v1", "api_key_env": "C_KEY"},
        },
        models={"any": {"targets": ["claude/claude-sonnet-4-5", "gem/gemini-2.5-flash", "gpt/gpt-4o"]}},
        routing={"retry_budget": 0},
    )
    response = await post(build_app(config, handler), chat("any", stream=True))
    assert hosts == ["anthropic", "gemini", "openai"]
    assert response.headers["x-switchboard-provider"] == "gpt"
    assert response.headers["x-switchboard-attempts"] == "3"
    chunks, data = chunks_of(response)
    assert data[-1] == "[DONE]"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the fixture."


async def test_request_no_target_can_serve_is_a_400_naming_the_field() -> None:
    config = make_config(
        providers={
            "claude": {
                "type": "anthropic",
                "base_url": "https://anthropic.example/v1",
                "api_key_env": "A_KEY",
            }
        },
        models={"c": {"targets": ["claude/claude-sonnet-4-5"]}},
    )
    response = await post(build_app(config), chat("c", logprobs=True))
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "logprobs"


async def test_unsupported_feature_skips_to_a_target_that_serves_it() -> None:
    config = make_config(
        providers={
            "claude": {
                "type": "anthropic",
                "base_url": "https://anthropic.example/v1",
                "api_key_env": "A_KEY",
            },
            "gpt": {"type": "openai", "base_url": "https://openai.example/v1", "api_key_env": "B_KEY"},
        },
        models={"c": {"targets": ["claude/claude-sonnet-4-5", "gpt/gpt-4o"]}},
    )
    upstream = Upstream(200, fixture("openai", "completion.json"))
    # a JSON object answer needs Claude's forced-tool form, which the request's own tools rule out
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    response = await post(
        build_app(config, upstream), chat("c", response_format={"type": "json_object"}, tools=tools)
    )
    assert response.status_code == 200
    assert response.headers["x-switchboard-provider"] == "gpt"
    assert len(upstream.requests) == 1  # Claude was never called


def bedrock_then_openai(bedrock_stream: str):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host.startswith("bedrock"):
            assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 ")
            return httpx.Response(
                200,
                content=fixture("bedrock", bedrock_stream),
                headers={"content-type": "application/vnd.amazon.eventstream"},
            )
        return httpx.Response(
            200, content=fixture("openai", "stream_text.sse"), headers={"content-type": "text/event-stream"}
        )

    config = make_config(
        providers={
            "br": {"type": "bedrock", "region": "us-east-1", "base_url": "https://bedrock.example"},
            "gpt": {"type": "openai", "base_url": "https://openai.example/v1", "api_key_env": "B_KEY"},
        },
        models={"m": {"targets": ["br/anthropic.claude-3-5-sonnet-20240620-v1:0", "gpt/gpt-4o"]}},
        routing={"retry_budget": 0},
    )
    return build_app(config, handler)


async def test_bedrock_throttling_frame_before_output_moves_to_the_next_target() -> None:
    response = await post(bedrock_then_openai("stream_throttled.eventstream"), chat("m", stream=True))
    assert response.headers["x-switchboard-provider"] == "gpt"
    assert parse_sse(response.text)[-1] == "[DONE]"


async def test_bedrock_validation_frame_is_returned_not_fallen_back() -> None:
    response = await post(bedrock_then_openai("stream_validation.eventstream"), chat("m", stream=True))
    assert response.status_code == 400
    assert "input is too long" in response.json()["error"]["message"]


async def test_bedrock_model_error_after_output_ends_the_stream_with_an_error() -> None:
    response = await post(
        bedrock_then_openai("stream_model_error_midway.eventstream"), chat("m", stream=True)
    )
    data = parse_sse(response.text)
    assert response.headers["x-switchboard-provider"] == "br"
    assert "[DONE]" not in data and "modelStreamErrorException" in data[-1]


async def test_bedrock_without_aws_credentials_is_skipped() -> None:
    from switchboard.app import create_app
    from switchboard.upstream.credentials import Credentials

    config = make_config(
        providers={
            "br": {"type": "bedrock", "region": "us-east-1"},
            "gpt": {"type": "openai", "base_url": "https://openai.example/v1", "api_key_env": "B_KEY"},
        },
        models={"m": {"targets": ["br/amazon.nova-pro-v1:0", "gpt/gpt-4o"]}},
    )
    upstream = Upstream(200, fixture("openai", "completion.json"))
    app = create_app(
        config,
        transport=httpx.MockTransport(upstream),
        credentials=Credentials(env={"B_KEY": "k"}, aws_fetcher=lambda: None),
    )
    response = await post(app, chat("m"))
    assert response.status_code == 200 and response.headers["x-switchboard-provider"] == "gpt"
