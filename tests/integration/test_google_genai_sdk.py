"""Google's own Python SDK (`google-genai`) against a real `switchboard serve` (uvicorn on loopback)
with a Switchboard key, to a Gemini target (passed through) and an OpenAI target (translated):
`generate_content`, `generate_content_stream`, `count_tokens`, a function-calling round trip,
models, and errors the SDK raises as its own `APIError`s (issue 18 item 5)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from google import genai
from google.genai import errors, types

from support import build_app, make_config, serve_in_thread
from switchboard.state import keys
from switchboard.state.store.memory import MemoryStore

GEMINI_TEXT = ["Hello", " from", " Gemini."]
OPENAI_TEXT = ["Hello", " from", " GPT."]
PROVIDERS = {
    "goo": {"type": "gemini", "base_url": "https://gemini.example/v1beta", "api_key_env": "A_KEY"},
    "gpt": {"type": "openai", "base_url": "https://openai.example/v1", "api_key_env": "B_KEY"},
}
MODELS = {"gem": {"targets": ["goo/gemini-2.5-flash"]}, "gpt": {"targets": ["gpt/gpt-4o"]}}
WEATHER = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            description="the weather in a city",
            parameters=types.Schema(
                type=types.Type.OBJECT,
                properties={"city": types.Schema(type=types.Type.STRING)},
                required=["city"],
            ),
        )
    ]
)


class Fakes:
    """Both upstreams in one MockTransport handler; every request recorded."""

    def __init__(self) -> None:
        self.calls: list[httpx.Request] = []

    def bodies(self, host: str) -> list[dict[str, Any]]:
        return [json.loads(c.content) for c in self.calls if c.url.host == host]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        body = json.loads(request.content)
        if request.url.host == "gemini.example":
            return self._gemini(request, body)
        return self._openai(body)

    def _gemini(self, request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        path = request.url.path
        if path.endswith(":countTokens"):
            return httpx.Response(200, json={"totalTokens": 7})
        answered = any("functionResponse" in p for c in body["contents"] for p in c["parts"])
        usage = {"promptTokenCount": 12, "candidatesTokenCount": 3, "totalTokenCount": 15}

        def response(parts: list[dict[str, Any]], final: bool) -> dict[str, Any]:
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
            out = {"candidates": [candidate], "modelVersion": "gemini-2.5-flash", "responseId": "r1"}
            if final:
                candidate["finishReason"] = "STOP"
                out["usageMetadata"] = usage
            return out

        if body.get("tools") and not answered:
            parts = [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]
            texts = []
        else:
            parts, texts = [{"text": "".join(GEMINI_TEXT)}], GEMINI_TEXT
        if path.endswith(":generateContent"):
            return httpx.Response(200, json=response(parts, True))
        events = [response([{"text": t}], False) for t in texts[:-1]]
        events.append(response([{"text": texts[-1]}] if texts else parts, True))
        content = b"".join(b"data: " + orjson.dumps(e) + b"\r\n\r\n" for e in events)
        return httpx.Response(200, content=content, headers={"content-type": "text/event-stream"})

    def _openai(self, body: dict[str, Any]) -> httpx.Response:
        answered = any(m["role"] == "tool" for m in body["messages"])
        usage = {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}
        call = {
            "id": "call_9",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }
        use_tool = bool(body.get("tools")) and not answered
        if not body.get("stream"):
            message: dict[str, Any] = {
                "role": "assistant",
                "content": None if use_tool else "".join(OPENAI_TEXT),
            }
            if use_tool:
                message["tool_calls"] = [call]
            finish = "tool_calls" if use_tool else "stop"
            return httpx.Response(
                200,
                json={
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "created": 1,
                    "model": "gpt-4o",
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": usage,
                },
            )

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "gpt-4o",
                "choices": [choice],
            }

        chunks = [chunk({"role": "assistant", "content": ""})]
        if use_tool:
            chunks.append(
                chunk(
                    {
                        "tool_calls": [
                            {"index": 0, **call, "function": {"name": "get_weather", "arguments": ""}}
                        ]
                    }
                )
            )
            chunks += [
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": a}}]})
                for a in ('{"city"', ': "Paris"}')
            ]
            chunks.append(chunk({}, "tool_calls"))
        else:
            chunks += [chunk({"content": t}) for t in OPENAI_TEXT] + [chunk({}, "stop")]
        chunks.append({**chunk({}), "choices": [], "usage": usage})
        content = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
        return httpx.Response(200, content=content, headers={"content-type": "text/event-stream"})


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, str, Fakes]]:
    store = MemoryStore()
    key, _ = asyncio.run(keys.create_key(store, tenant="t", name="genai"))
    fakes = Fakes()
    config = make_config(
        {"providers": PROVIDERS, "models": MODELS}, routing={"retry_budget": 0}, gateway={"auth": "required"}
    )
    with serve_in_thread(build_app(config, fakes, store=store)) as base:
        yield base, key, fakes


@pytest.fixture
def client(served: tuple[str, str, Fakes]) -> Iterator[genai.Client]:
    base, key, fakes = served
    fakes.calls.clear()
    # the SDK's default version (v1 in google-genai 3.x): /v1/models/{model}:method, GET /v1/models
    with genai.Client(api_key=key, http_options=types.HttpOptions(base_url=base)) as client:
        yield client


TEXT = {"gem": "".join(GEMINI_TEXT), "gpt": "".join(OPENAI_TEXT)}
USAGE = {"gem": (12, 3), "gpt": (11, 4)}


@pytest.mark.parametrize("model", ["gem", "gpt"])
def test_generate_content(client: genai.Client, served: tuple[str, str, Fakes], model: str) -> None:
    response = client.models.generate_content(
        model=model,
        contents="say hi",
        config=types.GenerateContentConfig(
            system_instruction="be brief", temperature=0.2, max_output_tokens=50
        ),
    )
    assert response.text == TEXT[model]
    assert response.candidates and response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.usage_metadata is not None
    assert (
        response.usage_metadata.prompt_token_count,
        response.usage_metadata.candidates_token_count,
    ) == USAGE[model]
    _, key, fakes = served
    (call,) = fakes.calls
    assert key not in str(call.headers) and key not in str(call.url)
    assert call.url.path.startswith("/v1beta/") if model == "gem" else call.url.path == "/v1/chat/completions"
    if model == "gem":
        assert call.url.path == "/v1beta/models/gemini-2.5-flash:generateContent"
        assert call.headers["x-goog-api-key"] == "sk-canary-a-0123456789"
        assert fakes.bodies("gemini.example")[0]["generationConfig"] == {
            "temperature": 0.2,
            "maxOutputTokens": 50,
        }
    else:
        sent = fakes.bodies("openai.example")[0]
        assert sent["messages"][0] == {"role": "system", "content": "be brief"}
        assert sent["temperature"] == 0.2 and sent["max_completion_tokens"] == 50


@pytest.mark.parametrize("model", ["gem", "gpt"])
def test_generate_content_stream(client: genai.Client, model: str) -> None:
    chunks = list(client.models.generate_content_stream(model=model, contents="say hi"))
    assert "".join(c.text or "" for c in chunks) == TEXT[model]
    final = chunks[-1]
    assert final.candidates and final.candidates[0].finish_reason == types.FinishReason.STOP
    assert final.usage_metadata is not None
    assert (final.usage_metadata.prompt_token_count, final.usage_metadata.candidates_token_count) == USAGE[
        model
    ]


@pytest.mark.parametrize("model", ["gem", "gpt"])
def test_count_tokens(client: genai.Client, served: tuple[str, str, Fakes], model: str) -> None:
    counted = client.models.count_tokens(model=model, contents="how many tokens is this?")
    if model == "gem":
        assert counted.total_tokens == 7
        (call,) = served[2].calls
        assert call.url.path == "/v1beta/models/gemini-2.5-flash:countTokens"
    else:  # no target counts: Switchboard's estimate, and no upstream call
        assert counted.total_tokens is not None and counted.total_tokens > 0
        assert served[2].calls == []


@pytest.mark.parametrize("model", ["gem", "gpt"])
@pytest.mark.parametrize("stream", [False, True])
def test_function_calling_round_trip(
    client: genai.Client, served: tuple[str, str, Fakes], model: str, stream: bool
) -> None:
    config = types.GenerateContentConfig(
        tools=[WEATHER], automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)
    )
    question = types.Content(role="user", parts=[types.Part.from_text(text="weather in Paris?")])
    if stream:
        chunks = list(client.models.generate_content_stream(model=model, contents=[question], config=config))
        calls = [c for chunk in chunks for c in chunk.function_calls or []]
        model_turn = types.Content(role="model", parts=[types.Part(function_call=c) for c in calls])
    else:
        first = client.models.generate_content(model=model, contents=[question], config=config)
        calls = first.function_calls or []
        assert first.candidates and first.candidates[0].content is not None
        model_turn = first.candidates[0].content
    (call,) = calls
    assert call.name == "get_weather" and call.args == {"city": "Paris"}
    result = types.Part.from_function_response(name="get_weather", response={"temperature": 21})
    if call.id:
        assert result.function_response is not None
        result.function_response.id = call.id
    answer = client.models.generate_content(
        model=model,
        contents=[question, model_turn, types.Content(role="user", parts=[result])],
        config=config,
    )
    assert answer.text == TEXT[model]
    fakes = served[2]
    if model == "gem":
        sent = fakes.bodies("gemini.example")[-1]
        assert sent["contents"][2]["parts"][0]["functionResponse"]["response"] == {"temperature": 21}
        declared = sent["tools"][0]["functionDeclarations"][0]
        assert declared["name"] == "get_weather"
    else:
        sent = fakes.bodies("openai.example")[-1]
        assert sent["messages"][1]["tool_calls"][0]["id"] == "call_9"
        assert sent["messages"][2] == {
            "role": "tool",
            "tool_call_id": "call_9",
            "content": '{"temperature":21}',
        }
        assert sent["tools"][0]["function"]["parameters"]["properties"] == {"city": {"type": "string"}}


def test_models_and_errors(client: genai.Client, served: tuple[str, str, Fakes]) -> None:
    assert client.models.get(model="gem").name == "models/gem"
    assert {m.name for m in client.models.list()} == {"models/gem", "models/gpt"}
    with pytest.raises(errors.ClientError) as missing:
        client.models.generate_content(model="nope", contents="hi")
    assert missing.value.code == 404 and missing.value.status == "NOT_FOUND"
    base = served[0]
    options = types.HttpOptions(base_url=base, api_version="v1beta")
    with (
        genai.Client(api_key="sb-not-a-real-key", http_options=options) as stranger,
        pytest.raises(errors.ClientError) as refused,
    ):
        stranger.models.generate_content(model="gem", contents="hi")
    assert refused.value.code == 401 and refused.value.status == "UNAUTHENTICATED"
    assert served[2].calls == []
