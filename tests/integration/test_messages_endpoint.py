"""POST /v1/messages: the Anthropic-compatible endpoint. The official `anthropic` SDK is the client
(its types parse every response and stream event); requests route to any provider."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import httpx
import orjson
import pytest

from support import build_app, client_for, make_config, serve_in_thread
from switchboard.app import create_app
from switchboard.upstream.credentials import Credentials

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
MODELS = {
    "echo": {"targets": ["mock/echo"]},
    "words": {"targets": ["mock/stream-5"]},
    "tools": {"targets": ["mock/tools"]},
    "down": {"targets": ["mock/error-503"]},
}
WEATHER = [
    {
        "name": "get_weather",
        "description": "weather",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]


@pytest.fixture(scope="module")
def client():
    config = make_config(
        {"providers": {"mock": {"type": "mock"}}, "models": MODELS}, routing={"retry_budget": 0}
    )
    app = create_app(config, credentials=Credentials(env={}))
    with (
        serve_in_thread(app) as base,
        anthropic.Anthropic(base_url=base, api_key="unused", max_retries=0) as sdk,
    ):
        yield sdk


def test_sdk_message(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="echo", max_tokens=100, system="be nice", messages=[{"role": "user", "content": "hello world"}]
    )
    assert message.content[0].type == "text" and message.content[0].text == "echo: hello world"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 3 and message.usage.input_tokens == 4


def test_sdk_stream(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model="words", max_tokens=50, messages=[{"role": "user", "content": "x"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "w1 w2 w3 w4 w5"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 5


def test_sdk_tool_use_plain_and_streamed(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="tools", max_tokens=50, tools=WEATHER, messages=[{"role": "user", "content": "Paris"}]
    )
    tool = next(b for b in message.content if b.type == "tool_use")
    assert tool.name == "get_weather" and tool.input == {"echo": "Paris"}
    assert message.stop_reason == "tool_use"
    with client.messages.stream(
        model="tools", max_tokens=50, tools=WEATHER, messages=[{"role": "user", "content": "Paris"}]
    ) as stream:
        final = stream.get_final_message()
    tool = next(b for b in final.content if b.type == "tool_use")
    assert tool.input == {"echo": "Paris"} and final.stop_reason == "tool_use"


def test_sdk_errors_are_anthropic_shaped(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(model="nope", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert missing.value.body["type"] == "error"  # type: ignore[index]
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    with pytest.raises(anthropic.InternalServerError):
        client.messages.create(model="down", max_tokens=10, messages=[{"role": "user", "content": "x"}])


@pytest.mark.anyio
async def test_bad_requests_get_anthropic_errors() -> None:
    app = build_app(make_config(models=MODELS))
    async with client_for(app) as http:
        no_max = await http.post(
            "/v1/messages", json={"model": "echo", "messages": [{"role": "user", "content": "x"}]}
        )
        bad_json = await http.post("/v1/messages", content=b"{nope")
        unknown = await http.post(
            "/v1/messages",
            json={
                "model": "echo",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}],
                "container": "x",
            },
        )
    assert no_max.status_code == 400
    assert no_max.json() == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "'max_tokens' is required and must be a positive integer",
        },
    }
    assert bad_json.status_code == 400 and bad_json.json()["type"] == "error"
    # a field the translation does not know is dropped and named, not refused (issue 10)
    assert unknown.status_code == 200 and unknown.headers["x-switchboard-dropped"] == "container"


@pytest.mark.anyio
async def test_translation_to_an_openai_upstream_and_back() -> None:
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(orjson.loads(request.content))
        return httpx.Response(200, content=(FIXTURES / "openai" / "completion_tool_call.json").read_bytes())

    body = {
        "model": "chain",
        "max_tokens": 64,
        "system": [{"type": "text", "text": "sys"}],
        "tools": WEATHER,
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u1"},
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "21C"}],
            },
        ],
    }
    async with client_for(build_app(make_config(), handler)) as http:
        response = await http.post("/v1/messages", json=body)
    sent = seen[0]
    assert sent["model"] == "model-a"
    assert sent["messages"][0] == {"role": "system", "content": "sys"}
    assert sent["messages"][1]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,iVBOR"},
    }
    assert sent["messages"][2]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city":"Paris"}',
    }
    assert sent["messages"][3] == {"role": "tool", "tool_call_id": "toolu_1", "content": "21C"}
    assert sent["tool_choice"] == "required" and sent["parallel_tool_calls"] is False
    assert sent["stop"] == ["END"] and sent["user"] == "u1" and sent["max_tokens"] == 64
    message = anthropic.types.Message.model_validate(response.json())
    assert message.stop_reason == "tool_use"
    assert message.content[0].type == "tool_use" and message.content[0].input == {"city": "Paris"}


@pytest.mark.anyio
async def test_anthropic_in_anthropic_out_through_the_adapter() -> None:
    """An Anthropic client reaching an Anthropic provider: translated twice, nothing lost."""

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/messages"
        return httpx.Response(
            200,
            content=(FIXTURES / "anthropic" / "stream_tool_call.sse").read_bytes(),
            headers={"content-type": "text/event-stream"},
        )

    config = make_config(
        providers={
            "claude": {
                "type": "anthropic",
                "base_url": "https://anthropic.example/v1",
                "api_key_env": "A_KEY",
            }
        },
        models={"claude": {"targets": ["claude/claude-sonnet-4-5"]}},
    )
    body = {
        "model": "claude",
        "max_tokens": 64,
        "stream": True,
        "tools": WEATHER,
        "messages": [{"role": "user", "content": "weather in Paris?"}],
    }
    async with client_for(build_app(config, handler)) as http:
        response = await http.post("/v1/messages", json=body)
    events = [e for e in response.text.split("\n\n") if e.startswith("event: ")]
    names = [e.split("\n")[0][7:] for e in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    adapter = __import__("pydantic").TypeAdapter(anthropic.types.RawMessageStreamEvent)
    payloads = [adapter.validate_python(json.loads(e.split("\n")[1][6:])) for e in events]
    arguments = "".join(p.delta.partial_json for p in payloads if p.type == "content_block_delta")
    assert json.loads(arguments) == {"city": "Paris"}
    assert payloads[-2].delta.stop_reason == "tool_use"
    assert ": switchboard-timing" in response.text
