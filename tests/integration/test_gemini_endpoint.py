"""The Gemini API dialect (`/v1beta/models/{model}:{method}`, issue 18 item 5): passed through
intact to `gemini` targets (model rewritten in the URL, the provider's key), translated for the
others (dropped fields named), Google-shaped errors, `x-goog-api-key` as the gateway key, a key in
the URL refused, auth before routing, usage and fallback as on every route."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from support import build_app, client_for, completion, json_response, make_config, parse_sse, sse_response
from switchboard.state import keys
from switchboard.state.store.memory import MemoryStore
from switchboard.state.usage import usage_report

pytestmark = pytest.mark.anyio
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers" / "gemini"
PROVIDERS = {
    "goo": {
        "type": "gemini",
        "base_url": "https://gemini.example/v1beta",
        "api_key_env": "A_KEY",
    },
    "gpt": {"type": "openai", "base_url": "https://openai.example/v1", "api_key_env": "B_KEY"},
}
MODELS = {
    "gem": {"targets": ["goo/gemini-2.5-flash"]},
    "gpt": {"targets": ["gpt/gpt-4o"]},
    "gem-then-gpt": {"targets": ["goo/gemini-2.5-flash", "gpt/gpt-4o"]},
}
BODY: dict[str, Any] = {
    "contents": [{"role": "user", "parts": [{"text": "say hi"}]}],
    "systemInstruction": {"parts": [{"text": "be brief"}]},
    "generationConfig": {"temperature": 0.5, "maxOutputTokens": 64, "topK": 40},
    "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}],
    "a_future_field": {"x": 1},
}
TOOLS = [
    {
        "functionDeclarations": [
            {
                "name": "get_weather",
                "description": "weather",
                "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}},
            }
        ]
    }
]


class Upstream:
    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = list(responses)
        self.calls: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        return self.responses.pop(0)

    def body(self, i: int = -1) -> dict[str, Any]:
        return json.loads(self.calls[i].content)


def config(auth: str = "open") -> Any:
    return make_config(
        {"providers": PROVIDERS, "models": MODELS}, routing={"retry_budget": 0}, gateway={"auth": auth}
    )


async def post(app: Any, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    async with client_for(app) as client:
        return await client.post(path, content=orjson.dumps(body), headers=headers or {})


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# --------------------------------------------------------------------------- pass-through


async def test_generate_content_passes_through_intact() -> None:
    upstream = Upstream(httpx.Response(200, content=fixture("completion.json")))
    response = await post(build_app(config(), upstream), "/v1beta/models/gem:generateContent", BODY)
    assert response.status_code == 200, response.text
    assert response.content == fixture("completion.json")  # byte for byte
    assert response.headers["x-switchboard-provider"] == "goo"
    assert "x-switchboard-dropped" not in response.headers
    (call,) = upstream.calls
    assert str(call.url) == "https://gemini.example/v1beta/models/gemini-2.5-flash:generateContent"
    assert call.headers["x-goog-api-key"] == "sk-canary-a-0123456789"
    assert upstream.body() == BODY  # nothing added, nothing removed


async def test_stream_passes_through_as_sse_and_as_a_json_array() -> None:
    events = fixture("stream_text.sse")
    upstream = Upstream(sse_response(events), sse_response(events))
    app = build_app(config(), upstream)
    sse = await post(app, "/v1beta/models/gem:streamGenerateContent?alt=sse", BODY)
    assert sse.status_code == 200 and sse.headers["content-type"].startswith("text/event-stream")
    assert [json.loads(d) for d in parse_sse(sse.text)] == [json.loads(d) for d in parse_sse(events.decode())]
    # the google-genai SDKs read `data:` lines only (the JS one fails on anything else): no comments
    assert all(line.startswith("data: ") for line in sse.text.splitlines() if line.strip())
    array = await post(app, "/v1beta/models/gem:streamGenerateContent", BODY)
    assert array.status_code == 200 and array.headers["content-type"] == "application/json"
    assert array.json() == [json.loads(d) for d in parse_sse(events.decode())]
    for call in upstream.calls:  # upstream streams are always asked for as SSE
        assert str(call.url).endswith("/models/gemini-2.5-flash:streamGenerateContent?alt=sse")


async def test_usage_of_passed_through_answers_is_recorded() -> None:
    upstream = Upstream(
        httpx.Response(200, content=fixture("completion.json")), sse_response(fixture("stream_text.sse"))
    )
    store = MemoryStore()
    key, record = await keys.create_key(store, tenant="t", name="n", tpm=100_000)
    app = build_app(config("required"), upstream, store=store)
    headers = {"x-goog-api-key": key}
    assert (await post(app, "/v1beta/models/gem:generateContent", BODY, headers)).status_code == 200
    streamed = await post(app, "/v1beta/models/gem:streamGenerateContent?alt=sse", BODY, headers)
    assert streamed.status_code == 200
    await app.aclose()
    [row] = await usage_report(store, record.key_id)
    assert row["requests"] == 2
    assert row["prompt_tokens"] == 24 and row["completion_tokens"] == 12 and row["cached_tokens"] == 4


# --------------------------------------------------------------------------- translated


async def test_translation_to_openai_maps_and_names_dropped_fields() -> None:
    upstream = Upstream(json_response(200, completion("hi from gpt")))
    response = await post(build_app(config(), upstream), "/v1beta/models/gpt:generateContent", BODY)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["candidates"][0]["content"] == {"parts": [{"text": "hi from gpt"}], "role": "model"}
    assert answer["candidates"][0]["finishReason"] == "STOP"
    assert answer["usageMetadata"] == {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2}
    assert set(response.headers["x-switchboard-dropped"].split(", ")) == {
        "generationConfig.topK",
        "safetySettings",
        "a_future_field",
    }
    sent = upstream.body()
    assert str(upstream.calls[0].url) == "https://openai.example/v1/chat/completions"
    assert sent["model"] == "gpt-4o"
    assert sent["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "say hi"},
    ]
    assert sent["temperature"] == 0.5 and sent["max_completion_tokens"] == 64


async def test_translated_stream_as_sse_and_json_array() -> None:
    def chunks() -> httpx.Response:
        def chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> bytes:
            payload: dict[str, Any] = {
                "id": "chatcmpl-9",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "gpt-4o",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if usage is None else [],
            }
            if usage is not None:
                payload["usage"] = usage
            return b"data: " + orjson.dumps(payload) + b"\n\n"

        return sse_response(
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Hel"}),
            chunk({"content": "lo"}),
            chunk({}, "stop"),
            chunk({}, usage={"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13}),
            b"data: [DONE]\n\n",
        )

    upstream = Upstream(chunks(), chunks())
    app = build_app(config(), upstream)
    sse = await post(app, "/v1beta/models/gpt:streamGenerateContent?alt=sse", BODY)
    assert sse.status_code == 200, sse.text
    events = [json.loads(d) for d in parse_sse(sse.text)]
    assert (
        "".join(p.get("text", "") for e in events for p in e["candidates"][0]["content"]["parts"]) == "Hello"
    )
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    assert events[-1]["usageMetadata"] == {
        "promptTokenCount": 11,
        "candidatesTokenCount": 2,
        "totalTokenCount": 13,
    }
    assert upstream.body(0)["stream"] is True and upstream.body(0)["stream_options"] == {
        "include_usage": True
    }
    array = await post(app, "/v1beta/models/gpt:streamGenerateContent", BODY)
    assert array.headers["content-type"] == "application/json"
    assert array.json() == events


async def test_function_calling_round_trip_translated() -> None:
    call = {
        **completion(),
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
    }
    upstream = Upstream(json_response(200, call), json_response(200, completion("sunny")))
    app = build_app(config(), upstream)
    first = await post(app, "/v1beta/models/gpt:generateContent", {**BODY, "tools": TOOLS})
    part = first.json()["candidates"][0]["content"]["parts"][0]
    assert part == {"functionCall": {"id": "call_1", "name": "get_weather", "args": {"city": "Paris"}}}
    assert upstream.body(0)["tools"][0]["function"]["parameters"] == {
        "type": "object",
        "properties": {"city": {"type": "string"}},
    }
    follow_up = {
        **BODY,
        "tools": TOOLS,
        "contents": [
            *BODY["contents"],
            {"role": "model", "parts": [part]},
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"id": "call_1", "name": "get_weather", "response": {"t": 21}}}
                ],
            },
        ],
    }
    second = await post(app, "/v1beta/models/gpt:generateContent", follow_up)
    assert second.json()["candidates"][0]["content"]["parts"] == [{"text": "sunny"}]
    messages = upstream.body(1)["messages"]
    assert messages[2]["tool_calls"][0]["id"] == "call_1"
    assert messages[3] == {"role": "tool", "tool_call_id": "call_1", "content": '{"t":21}'}


async def test_fallback_from_gemini_to_a_translated_target() -> None:
    failing = httpx.Response(503, content=fixture("error_500.json"))
    upstream = Upstream(failing, json_response(200, completion("from gpt")))
    response = await post(build_app(config(), upstream), "/v1beta/models/gem-then-gpt:generateContent", BODY)
    assert response.status_code == 200, response.text
    assert response.headers["x-switchboard-provider"] == "gpt"
    assert response.headers["x-switchboard-attempts"] == "2"
    assert response.json()["candidates"][0]["content"]["parts"] == [{"text": "from gpt"}]


async def test_untranslatable_content_needs_a_gemini_target() -> None:
    body = {**BODY, "cachedContent": "cachedContents/abc"}
    response = await post(build_app(config()), "/v1beta/models/gpt:generateContent", body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and error["code"] == 400
    assert "cachedContent" in error["message"]


# --------------------------------------------------------------------------- countTokens


async def test_count_tokens_passes_through_or_estimates() -> None:
    upstream = Upstream(json_response(200, {"totalTokens": 7}))
    app = build_app(config(), upstream)
    counted = await post(app, "/v1beta/models/gem:countTokens", {"contents": BODY["contents"]})
    assert counted.json() == {"totalTokens": 7}
    assert counted.headers["x-switchboard-token-count"] == "provider"
    assert str(upstream.calls[0].url) == "https://gemini.example/v1beta/models/gemini-2.5-flash:countTokens"
    assert upstream.body() == {"contents": BODY["contents"]}
    upstream.responses.append(json_response(200, {"totalTokens": 9}))
    whole = {"generateContentRequest": {"model": "models/gem", **BODY}}
    assert (await post(app, "/v1beta/models/gem:countTokens", whole)).json() == {"totalTokens": 9}
    assert upstream.body() == {"generateContentRequest": {"model": "models/gemini-2.5-flash", **BODY}}
    estimate = await post(app, "/v1beta/models/gpt:countTokens", {"generateContentRequest": BODY})
    assert estimate.headers["x-switchboard-token-count"] == "estimate"
    assert estimate.json()["totalTokens"] > 0
    assert len(upstream.calls) == 2


# --------------------------------------------------------------------------- auth, errors, models


async def test_auth_comes_first_and_errors_are_google_shaped() -> None:
    store = MemoryStore()
    key, _ = await keys.create_key(store, tenant="t", name="n", models=["gem"])
    app = build_app(config("required"), store=store)
    async with client_for(app) as client:
        for method, path in (
            ("POST", "/v1beta/models/gem:generateContent"),
            ("GET", "/v1beta/models"),
            ("GET", "/v1beta/nowhere"),
            ("POST", "/v1beta/models/gem:frobnicate"),
        ):
            anonymous = await client.request(method, path, content=b"{}")
            assert anonymous.status_code == 401, path
            assert anonymous.json()["error"]["status"] == "UNAUTHENTICATED"
            assert set(anonymous.json()["error"]) == {"code", "message", "status"}
        goog = {"x-goog-api-key": key}
        missing = await client.get("/v1beta/nowhere", headers=goog)
        assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"
        wrong_method = await client.get("/v1beta/models/gem:generateContent", headers=goog)
        assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
        in_url = await client.post(f"/v1beta/models/gem:generateContent?key={key}", content=b"{}")
        assert in_url.status_code == 400
        assert "x-goog-api-key" in in_url.json()["error"]["message"] and key not in in_url.text
        forbidden = await client.post(
            "/v1beta/models/gpt:generateContent", content=orjson.dumps(BODY), headers=goog
        )
        assert forbidden.status_code == 403 and forbidden.json()["error"]["status"] == "PERMISSION_DENIED"
        bad = await client.post(
            "/v1beta/models/gem:generateContent", content=b'{"contents": 3}', headers=goog
        )
        assert bad.status_code == 400 and "contents" in bad.json()["error"]["message"]
        listed = await client.get("/v1beta/models", headers=goog)
        assert [m["name"] for m in listed.json()["models"]] == [f"models/{m}" for m in MODELS]
        one = await client.get("/v1beta/models/gem", headers=goog)
        assert one.json()["name"] == "models/gem"
        assert "generateContent" in one.json()["supportedGenerationMethods"]
        unknown = await client.get("/v1beta/models/nope", headers=goog)
        assert unknown.status_code == 404 and unknown.json()["error"]["status"] == "NOT_FOUND"


async def test_cache_keys_on_the_model_in_the_path_and_the_stream_form() -> None:
    events = fixture("stream_text.sse")
    upstream = Upstream(
        httpx.Response(200, content=fixture("completion.json")),
        httpx.Response(200, content=fixture("completion.json")),
        sse_response(events),
        sse_response(events),
    )
    store = MemoryStore()
    key, _ = await keys.create_key(store, tenant="t", name="n")
    app = build_app(config("required"), upstream, store=store)
    headers = {"x-goog-api-key": key, "cache-control": "max-age=60"}
    first = await post(app, "/v1beta/models/gem:generateContent", BODY, headers)
    hit = await post(app, "/v1beta/models/gem:generateContent", BODY, headers)
    assert (first.headers["x-switchboard-cache"], hit.headers["x-switchboard-cache"]) == ("miss", "hit")
    assert hit.content == first.content
    other_model = await post(app, "/v1beta/models/gem-then-gpt:generateContent", BODY, headers)
    assert other_model.headers["x-switchboard-cache"] == "miss"  # same body, another model
    sse = await post(app, "/v1beta/models/gem:streamGenerateContent?alt=sse", BODY, headers)
    array = await post(app, "/v1beta/models/gem:streamGenerateContent", BODY, headers)
    assert sse.headers["x-switchboard-cache"] == array.headers["x-switchboard-cache"] == "miss"
    replayed = await post(app, "/v1beta/models/gem:streamGenerateContent", BODY, headers)
    assert replayed.headers["x-switchboard-cache"] == "hit"
    assert replayed.json() == array.json() == [json.loads(d) for d in parse_sse(events.decode())]
    assert len(upstream.calls) == 4
    await app.aclose()
