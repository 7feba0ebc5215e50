"""Structured output across targets: `response_format` reaches Anthropic as `output_config.format`,
Bedrock as `outputConfig.textFormat` (Claude 4.5 and later) or a forced tool, Gemini as
`responseJsonSchema`; answers given through the forced tool come back as text; refusals name the
field the client sent."""

from __future__ import annotations

import orjson
import pytest

from switchboard.dialects.anthropic_request import parse_messages_request
from switchboard.dialects.openai_responses import to_chat_request
from switchboard.errors import UpstreamUnsupported
from switchboard.providers.anthropic import AnthropicStream, build_messages_body, to_chat_completion
from switchboard.providers.bedrock.request import build_converse_body
from switchboard.providers.bedrock.response import to_chat_completion as bedrock_completion
from switchboard.providers.common import client_named
from switchboard.providers.gemini.request import build_generate_body
from switchboard.providers.structured import JSON_TOOL, claude_has_json_output, claude_schema
from switchboard.wire.openai import strict_compatible

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "temp": {"type": "number"}},
    "required": ["city", "temp"],
    "additionalProperties": False,
}
JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "weather", "schema": SCHEMA, "strict": True}}


def body(fmt: object, **extra: object) -> dict[str, object]:
    return {
        "model": "m",
        "messages": [{"role": "user", "content": "weather?"}],
        "response_format": fmt,
        **extra,
    }


@pytest.mark.parametrize(
    ("model", "native"),
    [
        ("claude-sonnet-4-5", True),
        ("claude-sonnet-4-5-20250929", True),
        ("claude-haiku-4-5", True),
        ("claude-opus-4-6", True),
        ("claude-opus-4-7", True),
        ("claude-sonnet-4-6", True),
        ("claude-mythos-preview", True),
        ("anthropic.claude-sonnet-4-5-20250929-v1:0", True),
        ("us.anthropic.claude-opus-4-5-20251101-v1:0", True),
        ("claude-sonnet-4-20250514", False),
        ("claude-opus-4-1", False),
        ("claude-3-5-sonnet-20241022", False),
        ("claude-3-7-sonnet-latest", False),
        ("anthropic.claude-3-haiku-20240307-v1:0", False),
        ("anthropic.claude-v2", False),
        ("anthropic.claude-instant-v1", False),
    ],
)
def test_which_claude_models_have_a_json_output_format(model: str, native: bool) -> None:
    assert claude_has_json_output(model) is native


def test_anthropic_targets_get_output_config_format() -> None:
    out = build_messages_body(body(JSON_SCHEMA), "claude-sonnet-4-5", False)
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    assert "tools" not in out and "tool_choice" not in out


@pytest.mark.parametrize(
    ("fmt", "model", "schema"),
    [
        (JSON_SCHEMA, "claude-3-5-sonnet-20241022", SCHEMA),
        ({"type": "json_object"}, "claude-sonnet-4-5", {"type": "object"}),
    ],
)
def test_anthropic_without_a_native_form_gets_a_forced_tool(fmt: object, model: str, schema: object) -> None:
    out = build_messages_body(body(fmt), model, False)
    assert "output_config" not in out
    assert [t["name"] for t in out["tools"]] == [JSON_TOOL]
    assert out["tools"][0]["input_schema"] == schema
    assert out["tool_choice"] == {"type": "tool", "name": JSON_TOOL}


def test_forced_tool_with_the_clients_own_tools_is_refused_naming_response_format() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    with pytest.raises(UpstreamUnsupported) as info:
        build_messages_body(body(JSON_SCHEMA, tools=tools), "claude-3-5-sonnet-20241022", False)
    assert info.value.param == "response_format"


def test_text_format_is_no_format_and_other_types_are_refused() -> None:
    assert "output_config" not in build_messages_body(body({"type": "text"}), "claude-sonnet-4-5", False)
    with pytest.raises(UpstreamUnsupported):
        build_messages_body(body({"type": "xml"}), "claude-sonnet-4-5", False)


def test_the_forced_tools_call_is_the_answer_text() -> None:
    message = {
        "id": "msg_1",
        "model": "claude-3-5-sonnet",
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 3, "output_tokens": 4},
        "content": [{"type": "tool_use", "id": "t", "name": JSON_TOOL, "input": {"city": "Oslo", "temp": 3}}],
    }
    choice = to_chat_completion(message, 0)["choices"][0]
    assert orjson.loads(choice["message"]["content"]) == {"city": "Oslo", "temp": 3}
    assert choice["finish_reason"] == "stop" and "tool_calls" not in choice["message"]


def test_the_forced_tools_streamed_call_is_streamed_text() -> None:
    stream = AnthropicStream(True, 0)
    events = [
        {"type": "message_start", "message": {"id": "m", "model": "c", "usage": {"input_tokens": 5}}},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "t", "name": JSON_TOOL},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '{"city":'},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '"Oslo"}'},
        },
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 6}},
        {"type": "message_stop"},
    ]
    out = b"".join(b for e in events for b in stream.feed(b"data: " + orjson.dumps(e) + b"\n\n"))
    chunks = [orjson.loads(line[6:]) for line in out.split(b"\n\n") if line.startswith(b"data: {")]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == '{"city":"Oslo"}'
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert not any(c["choices"] and c["choices"][0]["delta"].get("tool_calls") for c in chunks)


def test_bedrock_claude_gets_output_config_text_format_with_the_schema_as_a_string() -> None:
    out = build_converse_body(body(JSON_SCHEMA), "us.anthropic.claude-sonnet-4-5-20250929-v1:0")
    text_format = out["outputConfig"]["textFormat"]
    assert text_format["type"] == "json_schema"
    definition = text_format["structure"]["jsonSchema"]
    assert orjson.loads(definition["schema"]) == SCHEMA and definition["name"] == "weather"
    assert "toolConfig" not in out


def test_bedrock_models_without_it_get_a_forced_tool_and_no_thinking() -> None:
    out = build_converse_body(
        body(JSON_SCHEMA, reasoning_effort="high"), "anthropic.claude-3-7-sonnet-20250219-v1:0"
    )
    assert out["toolConfig"]["toolChoice"] == {"tool": {"name": JSON_TOOL}}
    assert out["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"] == {"json": SCHEMA}
    assert "additionalModelRequestFields" not in out  # Claude refuses thinking with a forced tool
    nova = build_converse_body(body({"type": "json_object"}), "amazon.nova-pro-v1:0")
    assert nova["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"] == {"json": {"type": "object"}}


def test_bedrock_forced_tool_answer_is_text() -> None:
    response = {
        "output": {
            "message": {"content": [{"toolUse": {"toolUseId": "t", "name": JSON_TOOL, "input": {"a": 1}}}]}
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 1, "outputTokens": 2},
    }
    choice = bedrock_completion(response, "m", 0)["choices"][0]
    assert choice["message"]["content"] == '{"a":1}' and choice["finish_reason"] == "stop"


def test_gemini_gets_response_json_schema() -> None:
    config = build_generate_body(body(JSON_SCHEMA), "gemini-2.5-flash")["generationConfig"]
    assert config["responseMimeType"] == "application/json" and config["responseJsonSchema"] == SCHEMA


def test_anthropic_clients_output_config_becomes_response_format_and_effort() -> None:
    raw = {
        "model": "m",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
        "output_config": {"format": {"type": "json_schema", "schema": SCHEMA}, "effort": "max", "new": 1},
    }
    request = parse_messages_request(orjson.dumps(raw))
    fmt = request.body["response_format"]
    assert fmt == {"type": "json_schema", "json_schema": {"name": "output", "schema": SCHEMA, "strict": True}}
    assert request.body["reasoning_effort"] == "xhigh"
    assert "output_config" not in request.dropped and "output_config.new" in request.dropped
    loose = {**SCHEMA, "required": ["city"]}  # OpenAI's strict mode wants every property required
    raw["output_config"] = {"format": {"type": "json_schema", "schema": loose}}
    assert "strict" not in parse_messages_request(orjson.dumps(raw)).body["response_format"]["json_schema"]
    beta = {**raw, "output_format": {"type": "json_schema", "schema": SCHEMA}}
    del beta["output_config"]
    assert (
        parse_messages_request(orjson.dumps(beta)).body["response_format"]["json_schema"]["schema"] == SCHEMA
    )


def test_strict_compatibility() -> None:
    assert strict_compatible(SCHEMA)
    assert not strict_compatible({**SCHEMA, "additionalProperties": True})
    nested = {**SCHEMA, "properties": {"inner": {"type": "object", "properties": {"x": {"type": "string"}}}}}
    assert not strict_compatible({**nested, "required": ["inner"]})


def test_refusals_name_the_field_the_client_sent() -> None:
    """A Responses client sent `text.format`, never `response_format`."""
    request = to_chat_request(
        orjson.dumps(
            {
                "model": "m",
                "input": "hi",
                "text": {"format": {"type": "json_schema", "name": "x", "schema": {}}},
            }
        )
    )
    refusal = UpstreamUnsupported(
        "Anthropic targets cannot serve 'response_format': no", param="response_format"
    )
    renamed = client_named(refusal, request.client_names)
    assert renamed.param == "text.format" and "'text.format'" in renamed.message
    assert "response_format" not in renamed.message
    nested = UpstreamUnsupported("X cannot serve 'messages[2].content': no", param="messages[2].content")
    assert client_named(nested, request.client_names).param == "input"
    messages = parse_messages_request(
        orjson.dumps({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
    )
    assert client_named(refusal, messages.client_names).param == "output_config.format"


def test_json_object_is_refused_for_models_that_refuse_forced_tool_use() -> None:
    """Claude Sonnet 5.5 refuses a forced tool (its rules in the price list): json_object, which
    needs one, is refused naming response_format; a schema goes natively."""
    with pytest.raises(UpstreamUnsupported) as info:
        build_messages_body(body({"type": "json_object"}), "claude-sonnet-5-5", False)
    assert info.value.param == "response_format"
    assert "output_config" in build_messages_body(body(JSON_SCHEMA), "claude-sonnet-5-5", False)


def test_schemas_are_fitted_to_claudes_subset_as_the_anthropic_sdk_fits_them() -> None:
    """An OpenAI client's schema (pydantic constraints give `minimum`, `maxLength`, ...) reaches
    Claude fitted as the anthropic SDK's own `transform_schema` fits it: closed objects, supported
    formats only, the rest moved into the description."""
    from enum import StrEnum

    from anthropic.lib._parse._transform import transform_schema
    from pydantic import BaseModel, Field

    class Colour(StrEnum):
        red = "red"
        blue = "blue"

    class Item(BaseModel):
        name: str = Field(max_length=20, description="what it is")
        count: int = Field(ge=0, le=9)
        when: str = Field(json_schema_extra={"format": "date"})
        colour: Colour | None = None

    class Order(BaseModel):
        items: list[Item] = Field(min_length=1, max_length=5)
        note: str | None = Field(default=None, pattern="^[a-z]+$")
        email: str = Field(json_schema_extra={"format": "email"})

    for model in (Item, Order):
        schema = model.model_json_schema()
        assert claude_schema(schema) == transform_schema(schema)
    sent = build_messages_body(
        body({"type": "json_schema", "json_schema": {"name": "o", "schema": Order.model_json_schema()}}),
        "claude-sonnet-4-5",
        False,
    )["output_config"]["format"]["schema"]
    assert sent == transform_schema(Order.model_json_schema())
    converse = build_converse_body(
        body({"type": "json_schema", "json_schema": {"name": "o", "schema": Item.model_json_schema()}}),
        "anthropic.claude-haiku-4-5-20251001-v1:0",
    )
    text = converse["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"]
    assert orjson.loads(text) == transform_schema(Item.model_json_schema())
