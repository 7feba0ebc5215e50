from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest

from switchboard.config import ProviderConfig
from switchboard.errors import UpstreamAuthError, UpstreamClientError, UpstreamUnsupported
from switchboard.providers.base import UpstreamCall
from switchboard.providers.gemini import GeminiAdapter, GeminiStream, build_generate_body
from switchboard.wire.sse import SSESplitter

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "providers" / "gemini"
PROVIDER = ProviderConfig(
    name="gemini", type="gemini", base_url="https://generativelanguage.googleapis.com/v1beta"
)
ADAPTER = GeminiAdapter()


def test_request_mapping() -> None:
    body = {
        "model": "public",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo"}},
                ],
            },
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "call_9",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_9", "content": '{"temp": 21}'},
            {"role": "tool", "tool_call_id": "call_9", "content": "plain text"},
        ],
        "max_tokens": 100,
        "temperature": 1.5,
        "top_p": 0.8,
        "seed": 7,
        "stop": ["END"],
        "n": 2,
        "presence_penalty": 0.1,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": {"type": "object"}},
        },
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
        ],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": True,
        "user": "u1",
    }
    out = build_generate_body(body)
    assert out["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    user, model, tool = out["contents"]
    assert user["parts"][1] == {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo"}}
    assert model == {
        "role": "model",
        "parts": [
            {"text": "Checking."},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
        ],
    }
    assert tool["role"] == "user"
    assert tool["parts"] == [
        {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
        {"functionResponse": {"name": "get_weather", "response": {"content": "plain text"}}},
    ]
    assert out["generationConfig"] == {
        "temperature": 1.5,
        "topP": 0.8,
        "seed": 7,
        "presencePenalty": 0.1,
        "maxOutputTokens": 100,
        "stopSequences": ["END"],
        "candidateCount": 2,
        "responseMimeType": "application/json",
        "responseJsonSchema": {"type": "object"},
    }
    assert out["tools"] == [
        {
            "functionDeclarations": [
                {"name": "get_weather", "description": "", "parameters": {"type": "object"}}
            ]
        }
    ]
    assert out["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "https://x/cat.png"}}],
                    }
                ]
            },
            "messages[0].content[0]",
        ),
        ({"messages": [{"role": "user", "content": "x"}], "logprobs": True}, "logprobs"),
        ({"messages": [{"role": "user", "content": "x"}], "audio": {}}, "audio"),
        (
            {"messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]},
            "messages[0].tool_call_id",
        ),
    ],
)
def test_unsupported(body: dict, param: str) -> None:
    with pytest.raises(UpstreamUnsupported) as info:
        build_generate_body(body)
    assert info.value.param == param


def test_key_in_header_never_in_url() -> None:
    call = UpstreamCall(
        PROVIDER, "gemini-2.5-flash", {"messages": [{"role": "user", "content": "x"}]}, True, "AIza-secret"
    )
    request = ADAPTER.build_request(call)
    assert str(request.url) == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    )
    assert request.headers["x-goog-api-key"] == "AIza-secret"
    assert "AIza" not in str(request.url)
    plain = ADAPTER.build_request(UpstreamCall(PROVIDER, "gemini-2.5-flash", call.body, False, "k"))
    assert str(plain.url).endswith("/models/gemini-2.5-flash:generateContent")


def test_safety_blocks_become_content_filter() -> None:
    blocked = orjson.loads(ADAPTER.parse_response((FIXTURES / "prompt_blocked.json").read_bytes()).body)
    assert blocked["choices"][0]["finish_reason"] == "content_filter"
    assert blocked["choices"][0]["message"]["content"] is None
    partial = orjson.loads(ADAPTER.parse_response((FIXTURES / "completion_safety.json").read_bytes()).body)
    assert partial["choices"][0]["finish_reason"] == "content_filter"
    stream = GeminiStream(include_usage=False, created=1)
    out = stream.feed(
        b"data: " + (FIXTURES / "prompt_blocked.json").read_bytes().replace(b"\n", b"") + b"\n\n"
    )
    assert b'"finish_reason":"content_filter"' in out[0] and out[-1] == b"data: [DONE]\n\n"


def test_invalid_key_skips_the_target_other_400s_return() -> None:
    invalid = (FIXTURES / "error_400_api_key_invalid.json").read_bytes()
    assert isinstance(ADAPTER.map_error(400, httpx.Headers(), invalid, ()), UpstreamAuthError)
    plain = (FIXTURES / "error_400.json").read_bytes()
    error = ADAPTER.map_error(400, httpx.Headers(), plain, ())
    assert isinstance(error, UpstreamClientError) and "Invalid JSON payload" in error.message


def test_stream_fixture_uses_crlf_and_ends_with_done() -> None:
    raw = (FIXTURES / "stream_text.sse").read_bytes()
    assert b"\r\n\r\n" in raw
    stream = GeminiStream(include_usage=True, created=1)
    out = [chunk for event in SSESplitter().feed(raw) for chunk in stream.feed(event)]
    assert out[-1] == b"data: [DONE]\n\n"
    assert b'"usage":{"prompt_tokens":12,"completion_tokens":6' in out[-2]
    assert stream.feed(b'data: {"candidates": []}\n\n') == []  # nothing after the end


@pytest.mark.parametrize(
    ("effort", "budget"), [("none", 0), ("minimal", 1024), ("low", 1024), ("medium", 8192), ("high", 24576)]
)
def test_reasoning_effort_becomes_a_thinking_budget(effort: str, budget: int) -> None:
    body = {"messages": [{"role": "user", "content": "x"}], "max_tokens": 50, "reasoning_effort": effort}
    out = build_generate_body(body, "gemini-2.5-flash")
    assert out["generationConfig"] == {"maxOutputTokens": 50, "thinkingConfig": {"thinkingBudget": budget}}
    sent = GeminiAdapter().build_request(
        UpstreamCall(ProviderConfig(name="g", type="gemini"), "gemini-3-pro-preview", body, False, "k")
    )
    assert orjson.loads(sent.content)["generationConfig"]["thinkingConfig"] == {"thinkingBudget": budget}


@pytest.mark.parametrize("model", ["gemini-2.0-flash", "gemini-1.5-pro", "gemma-3-27b-it"])
def test_models_without_thinking_get_no_thinking_config(model: str) -> None:
    body = {"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "high"}
    assert "generationConfig" not in build_generate_body(body, model)


def test_unknown_reasoning_effort_is_refused() -> None:
    with pytest.raises(UpstreamUnsupported) as info:
        build_generate_body({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "max"})
    assert info.value.param == "reasoning_effort"


def test_cache_markers_are_left_out_and_thoughts_are_not_answer_text() -> None:
    marked = {"type": "ephemeral"}
    body = {
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "rules", "cache_control": marked}]},
            {"role": "user", "content": [{"type": "text", "text": "q", "cache_control": marked}]},
        ],
        "tools": [{"type": "function", "function": {"name": "f"}, "cache_control": marked}],
    }
    out = build_generate_body(body, "gemini-2.5-pro")
    assert b"cache_control" not in orjson.dumps(out)
    assert out["systemInstruction"] == {"parts": [{"text": "rules"}]}
    answer = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"text": "pondering", "thought": True}, {"text": "42"}],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 1, "thoughtsTokenCount": 20},
    }
    parsed = orjson.loads(GeminiAdapter().parse_response(orjson.dumps(answer)).body)
    assert parsed["choices"][0]["message"]["content"] == "42"
    assert parsed["usage"]["completion_tokens"] == 21


def test_tool_call_ids_are_unique_per_answer_without_a_response_id() -> None:
    """Gemini may omit `responseId`: the ids derived for its calls must not repeat across turns."""
    from switchboard.providers.gemini.response import GeminiStream, to_chat_completion

    answer = {
        "candidates": [
            {"content": {"parts": [{"functionCall": {"name": "f", "args": {}}}]}, "finishReason": "STOP"}
        ]
    }
    ids = {to_chat_completion(answer, 0)["choices"][0]["message"]["tool_calls"][0]["id"] for _ in range(3)}
    event = b"data: " + orjson.dumps(answer) + b"\n\n"
    for _ in range(3):
        chunks = [orjson.loads(e[6:]) for e in GeminiStream(False, 0).feed(event) if e.startswith(b"data: {")]
        ids.add(chunks[0]["choices"][0]["delta"]["tool_calls"][0]["id"])
    assert len(ids) == 6
