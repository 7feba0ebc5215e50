"""The Gemini dialect's pure parts: request translation (gemini_request), answer and stream
rendering (gemini_response), path routing (gemini) and the wire framing / reader (wire.gemini)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from switchboard.dialects import gemini
from switchboard.dialects.gemini_request import (
    json_schema,
    parse_count_tokens_request,
    parse_generate_request,
)
from switchboard.dialects.gemini_response import ChunksToEvents, to_response
from switchboard.errors import InvalidRequest
from switchboard.wire.gemini import GeminiEventReader, JsonArrayFraming, SseFraming, error_body
from switchboard.wire.readers import GEMINI_COUNT_TOKENS, GEMINI_GENERATE


def parse(body: dict[str, Any], stream: bool = False) -> Any:
    return parse_generate_request(orjson.dumps(body), "pub", stream)


def user(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "parts": list(parts)}


def test_route_parses_model_method_and_alt() -> None:
    where = gemini.route("/v1beta/models/a/b:streamGenerateContent", b"alt=sse&x=1")
    assert where == gemini.GeminiRoute("a/b", "streamGenerateContent", True)
    assert gemini.route("/v1/models/m:generateContent", b"") == gemini.GeminiRoute(
        "m", "generateContent", False
    )
    assert gemini.route("/v1beta/models/m:embedContent", b"") is None
    assert gemini.route("/v1beta/models/m", b"") is None
    assert gemini.dialect(where).route.endswith("?alt=sse")  # never replayed to a JSON-array client


def test_contents_tools_and_config_translate() -> None:
    request = parse(
        {
            "systemInstruction": {"parts": [{"text": "a"}, {"text": "b"}]},
            "contents": [
                user(
                    {"text": "ctx"}, {"text": "q"}, {"inlineData": {"mimeType": "image/png", "data": "QUJD"}}
                ),
                {
                    "role": "model",
                    "parts": [
                        {"text": "t", "thought": True},
                        {"functionCall": {"name": "f", "args": {"x": 1}}},
                    ],
                },
                user({"functionResponse": {"name": "f", "response": {"ok": True}}}),
            ],
            "tools": [
                {"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT", "nullable": True}}]},
                {"googleSearch": {}},
            ],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}},
            "generationConfig": {
                "thinkingConfig": {"thinkingBudget": 0, "includeThoughts": True},
                "stopSequences": ["X"],
                "seed": 0,
            },
        },
        stream=True,
    )
    body = request.body
    assert body["messages"][0] == {"role": "system", "content": "a\nb"}
    assert body["messages"][1]["content"][2] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,QUJD"},
    }
    assert body["messages"][2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1_0", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}}
        ],
    }
    assert body["messages"][3] == {"role": "tool", "tool_call_id": "call_1_0", "content": '{"ok":true}'}
    assert body["tools"][0]["function"]["parameters"] == {"type": ["object", "null"]}
    assert body["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert body["reasoning_effort"] == "none" and body["stop"] == ["X"] and body["seed"] == 0
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert set(request.dropped) == {
        "contents.thought",
        "tools.googleSearch",
        "generationConfig.thinkingConfig.includeThoughts",
    }
    assert request.native.api == GEMINI_GENERATE and "model" not in request.native.body
    assert request.untranslatable is None


def test_what_only_gemini_serves_is_untranslatable() -> None:
    request = parse({"contents": [user({"fileData": {"fileUri": "gs://x", "mimeType": "application/pdf"}})]})
    assert request.untranslatable == "contents[0].parts[0].fileData"
    assert (
        parse({"contents": [user({"text": "x"})], "cachedContent": "c/1"}).untranslatable == "cachedContent"
    )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "contents"),
        ({"contents": [{"role": "system", "parts": []}]}, "contents[0].role"),
        (
            {"contents": [user({"functionResponse": {"name": "f", "response": {}}})]},
            "contents[0].parts[0].functionResponse",
        ),
        ({"contents": [user({"text": 3})]}, "contents[0].parts[0].text"),
        (
            {"contents": [user({"text": "x"})], "generationConfig": {"temperature": 9}},
            "generationConfig.temperature",
        ),
        ({"contents": [user({"text": "x"})], "api_key": "k"}, "api_key"),
    ],
)
def test_bad_bodies_are_400s_naming_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse(body)
    assert raised.value.param == param


def test_count_tokens_takes_contents_or_a_whole_request() -> None:
    inner = {"model": "models/x", "contents": [user({"text": "hi"})]}
    request = parse_count_tokens_request(orjson.dumps({"generateContentRequest": inner}), "pub")
    assert request.native.api == GEMINI_COUNT_TOKENS and request.native.body == {
        "generateContentRequest": inner
    }
    assert request.body["messages"] == [{"role": "user", "content": "hi"}]
    with pytest.raises(InvalidRequest):
        parse_count_tokens_request(orjson.dumps({**inner, "generateContentRequest": inner}), "pub")


def test_json_schema_lowercases_types_recursively() -> None:
    schema = {
        "type": "OBJECT",
        "properties": {"a": {"type": "ARRAY", "items": {"type": "STRING"}}},
        "propertyOrdering": ["a"],
    }
    assert json_schema(schema) == {
        "type": "object",
        "properties": {"a": {"type": "array", "items": {"type": "string"}}},
    }


def test_answer_and_stream_render_as_gemini() -> None:
    completion = {
        "id": "chatcmpl-1",
        "model": "gpt",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "length"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    answer = json.loads(to_response(orjson.dumps(completion)))
    assert answer["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert answer["usageMetadata"]["promptTokenCount"] == 3 and answer["responseId"] == "chatcmpl-1"

    def chunk(payload: dict[str, Any]) -> bytes:
        return b"data: " + orjson.dumps({"id": "c", "model": "gpt", **payload}) + b"\n\n"

    renderer = ChunksToEvents("pub")
    call = {"index": 0, "id": "call_1", "function": {"name": "f", "arguments": '{"a"'}}
    out = renderer.feed(chunk({"choices": [{"index": 0, "delta": {"content": "x"}}]}))
    out += renderer.feed(chunk({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]}))
    out += renderer.feed(
        chunk(
            {
                "choices": [
                    {
                        "index": 0,
                        "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]},
                        "finish_reason": "tool_calls",
                    }
                ]
            }
        )
    )
    out += renderer.feed(chunk({"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 1}}))
    out += renderer.feed(b': switchboard-timing {"overhead_ms": 1}\n\ndata: [DONE]\n\n')
    events = [json.loads(line[6:]) for line in out.decode().split("\n") if line.startswith("data: ")]
    assert events[0]["candidates"][0]["content"]["parts"] == [{"text": "x"}]
    final = events[-1]
    assert final["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"id": "call_1", "name": "f", "args": {"a": 1}}}
    ]
    assert final["candidates"][0]["finishReason"] == "STOP"
    assert final["usageMetadata"] == {"promptTokenCount": 4, "candidatesTokenCount": 1, "totalTokenCount": 5}


def test_framings_for_google_clients() -> None:
    stream = b': keep-alive\n\ndata: {"a":1}\n\n: switchboard-timing {}\n\ndata: {"b":2}\n\n'
    assert SseFraming().feed(stream, False) == b'\ndata: {"a":1}\n\n\ndata: {"b":2}\n\n'
    array = JsonArrayFraming()
    framed = array.feed(stream[:20], True) + array.feed(stream[20:], False)
    assert json.loads(framed) == [{"a": 1}, {"b": 2}]
    assert JsonArrayFraming().feed(b"", False) == b"[]"


def test_reader_of_passed_through_streams() -> None:
    reader = GeminiEventReader()
    first = b'data: {"candidates":[{"content":{"parts":[{"text":"x"}]}}],"usageMetadata":{"promptTokenCount":5}}\n\n'
    last = b'data: {"candidates":[{"content":{"parts":[]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":2}}\n\n'
    assert reader.carries_output(first) and not reader.is_final(first)
    assert reader.is_final(last)
    assert reader.usage is not None and (reader.usage.prompt, reader.usage.completion) == (5, 2)
    error = b'data: {"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}\n\n'
    assert reader.error(error) == {
        "error": {"code": "RESOURCE_EXHAUSTED", "type": "RESOURCE_EXHAUSTED", "message": "slow down"}
    }
    assert json.loads(error_body(503, "m")) == {
        "error": {"code": 503, "message": "m", "status": "UNAVAILABLE"}
    }
