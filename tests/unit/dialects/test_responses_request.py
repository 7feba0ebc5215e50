"""Responses request -> chat request (dialects/openai_responses.py): every mapped field, the dropped
list, the echo, history splicing, and a corpus of bad bodies that must each be a 400 naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.dialects import openai_responses as responses
from switchboard.dialects.request import ChatRequest
from switchboard.errors import GatewayError, InvalidRequest, RateLimited

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "providers" / "openai" / "responses"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": True,
}
CHAT_WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": True,
    },
}


def parse(**body: Any) -> responses.ResponsesRequest:
    body.setdefault("model", "m")
    body.setdefault("input", "hi")
    return responses.to_chat_request(orjson.dumps(body))


def test_string_input_with_instructions_is_a_system_then_user_message() -> None:
    request = parse(input="hello", instructions="be brief")
    assert isinstance(request, ChatRequest)
    assert request.body == {
        "model": "m",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}],
    }
    assert (request.model, request.stream, request.dropped) == ("m", False, ())
    assert request.input_messages == [{"role": "user", "content": "hello"}]
    assert request.store is True and request.previous_response_id is None


def test_codex_request_maps_tools_and_records_every_drop() -> None:
    """The body Codex CLI sends (clients.md): function tools, a namespace tool, provider-side fields."""
    body = {
        "model": "m",
        "instructions": "You are Codex.",
        "input": [
            {
                "type": "message",
                "role": "developer",
                "content": [{"type": "input_text", "text": "sandbox: x"}],
            },
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "say hi"}]},
        ],
        "tools": [
            WEATHER,
            {"type": "namespace", "name": "mcp", "description": "d", "tools": []},
            {"type": "web_search"},
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": False,
        "stream": True,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "abc",
        "client_metadata": {"x": "y"},
        "service_tier": "priority",
        "text": {"verbosity": "low"},
    }
    request = responses.to_chat_request(orjson.dumps(body))
    assert request.body == {
        "model": "m",
        "messages": [
            {"role": "system", "content": "You are Codex."},
            {"role": "developer", "content": "sandbox: x"},
            {"role": "user", "content": [{"type": "text", "text": "say hi"}]},
        ],
        "tools": [CHAT_WEATHER],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "reasoning_effort": "medium",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert request.stream is True and request.store is False
    assert request.dropped == (
        "include",
        "prompt_cache_key",
        "client_metadata",
        "service_tier",
        "tools.namespace",
        "tools.web_search",
        "text.verbosity",
        "reasoning.summary",
    )


def test_input_items_become_chat_turns() -> None:
    items = [
        {"role": "user", "content": "weather in Paris and Tokyo?"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "xyz"},
        {
            "type": "message",
            "role": "assistant",
            "id": "msg_1",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Checking.", "annotations": []}],
        },
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
        {"type": "reasoning", "id": "rs_2", "summary": []},
        {
            "type": "function_call",
            "call_id": "call_2",
            "name": "get_weather",
            "arguments": '{"city":"Tokyo"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
        {
            "type": "function_call_output",
            "call_id": "call_2",
            "output": [{"type": "input_text", "text": "25C"}],
        },
        {"type": "function_call", "call_id": "call_3", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_3", "output": "?"},
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "and this?"},
                {"type": "input_image", "image_url": "https://x.test/a.png", "detail": "low"},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
                {"type": "input_file", "file_data": "data:application/pdf;base64,AA", "filename": "a.pdf"},
            ],
        },
    ]
    request = parse(input=items)

    def call(n: int, city: str) -> dict[str, Any]:
        arguments = json.dumps({"city": city}, separators=(",", ":")) if city else "{}"
        return {
            "id": f"call_{n}",
            "type": "function",
            "function": {"name": "get_weather", "arguments": arguments},
        }

    assert request.body["messages"] == [
        {"role": "user", "content": "weather in Paris and Tokyo?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [call(1, "Paris"), call(2, "Tokyo")]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_2", "content": "25C"},
        {"role": "assistant", "content": None, "tool_calls": [call(3, "")]},
        {"role": "tool", "tool_call_id": "call_3", "content": "?"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "and this?"},
                {"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {
                    "type": "file",
                    "file": {"file_data": "data:application/pdf;base64,AA", "filename": "a.pdf"},
                },
            ],
        },
    ]
    assert request.dropped == ("input.reasoning",)  # recorded once
    assert request.input_messages == request.body["messages"]


def test_sampling_limits_user_and_routing_fields() -> None:
    request = parse(
        max_output_tokens=256,
        temperature=0.2,
        top_p=0.9,
        safety_identifier="hash-1",
        metadata={"k": "v"},
        models=["m", "backup"],
        provider_preferences={"primary": "a"},
        timeout=12,
    )
    body = request.body
    assert (body["max_completion_tokens"], body["temperature"], body["top_p"], body["user"]) == (
        256,
        0.2,
        0.9,
        "hash-1",
    )
    assert "metadata" not in body and "models" not in body  # echoed, not sent; routing fields read here
    assert (request.models, request.primary, request.timeout_s) == (("m", "backup"), "a", 12.0)
    assert parse(user="u", safety_identifier="s").body["user"] == "u"


def test_models_may_stand_in_for_model() -> None:
    request = responses.to_chat_request(orjson.dumps({"models": ["first", "second"], "input": "x"}))
    assert (request.model, request.body["model"], request.models) == ("first", "first", ("first", "second"))


def test_provider_tuning_fields_are_echoed_but_dropped() -> None:
    request = parse(prompt_cache_key="k", truncation="auto", top_logprobs=2, max_tool_calls=None)
    assert request.dropped == ("prompt_cache_key", "truncation", "top_logprobs")  # null values are no-ops
    assert (request.echo["prompt_cache_key"], request.echo["truncation"]) == ("k", "auto")
    assert not {"prompt_cache_key", "truncation", "top_logprobs"} & set(request.body)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ({"format": {"type": "text"}}, None),
        ({"format": {"type": "json_object"}}, {"type": "json_object"}),
        (
            {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True}},
            {
                "type": "json_schema",
                "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": True},
            },
        ),
        (
            {"format": {"type": "json_schema", "name": "o", "description": "d", "schema": {}}},
            {"type": "json_schema", "json_schema": {"name": "o", "description": "d", "schema": {}}},
        ),
    ],
)
def test_text_format_becomes_response_format(text: dict[str, Any], expected: Any) -> None:
    assert parse(text=text).body.get("response_format") == expected


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "required"),
        (
            {"type": "function", "name": "get_weather"},
            {"type": "function", "function": {"name": "get_weather"}},
        ),
    ],
)
def test_tool_choice(choice: Any, expected: Any) -> None:
    body = parse(tools=[WEATHER], tool_choice=choice, parallel_tool_calls=True).body
    assert body["tool_choice"] == expected and body["parallel_tool_calls"] is True


def test_allowed_tools_narrows_the_tool_list() -> None:
    other = {**WEATHER, "name": "get_time"}
    choice = {
        "type": "allowed_tools",
        "mode": "required",
        "tools": [{"type": "function", "name": "get_time"}],
    }
    body = parse(tools=[WEATHER, other], tool_choice=choice).body
    assert body["tool_choice"] == "required"
    assert [t["function"]["name"] for t in body["tools"]] == ["get_time"]


def test_without_function_tools_no_tool_fields_are_sent() -> None:
    request = parse(tools=[{"type": "web_search"}], tool_choice="auto", parallel_tool_calls=True)
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & set(request.body)
    assert request.dropped == ("tools.web_search",)


def test_echo_holds_what_the_response_object_repeats() -> None:
    request = parse(
        instructions="i",
        tools=[WEATHER],
        tool_choice="required",
        temperature=0.5,
        max_output_tokens=99,
        text={"format": {"type": "json_object"}},
        reasoning={"effort": "low"},
        metadata={"a": "b"},
        store=False,
        previous_response_id="resp_abc",
        user="u",
    )
    assert request.echo == {
        "instructions": "i",
        "tools": [WEATHER],
        "tool_choice": "required",
        "temperature": 0.5,
        "max_output_tokens": 99,
        "text": {"format": {"type": "json_object"}},
        "reasoning": {"effort": "low"},
        "user": "u",
        "model": "m",
        "metadata": {"a": "b"},
        "store": False,
        "previous_response_id": "resp_abc",
    }
    assert request.previous_response_id == "resp_abc"


def test_with_history_goes_after_instructions_and_before_this_turn() -> None:
    request = parse(instructions="sys", input="second question")
    history = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "answer"}]
    responses.with_history(request, history)
    assert request.body["messages"] == [
        {"role": "system", "content": "sys"},
        *history,
        {"role": "user", "content": "second question"},
    ]
    request = parse(input="again")
    responses.with_history(request, history)
    assert request.body["messages"] == [*history, {"role": "user", "content": "again"}]


def test_output_messages_of_a_response_are_chat_messages() -> None:
    text = json.loads((FIXTURES / "response_text.json").read_text())
    call = json.loads((FIXTURES / "response_function_call.json").read_text())
    assert responses.output_messages(text) == [{"role": "assistant", "content": "Hello from the fixture."}]
    assert responses.output_messages(orjson.dumps(call)) == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_fixture1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        }
    ]
    assert responses.output_messages({"output": []}) == []


def test_error_body_is_openai_shaped() -> None:
    exc = RateLimited("slow down", headers=[])
    assert orjson.loads(responses.error_body(exc)) == {
        "error": {
            "message": "slow down",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }


BAD: list[tuple[dict[str, Any], str]] = [
    ({"input": "x"}, "model"),
    ({"model": 3, "input": "x"}, "model"),
    ({"model": "m"}, "input"),
    ({"model": "m", "input": []}, "input"),
    ({"model": "m", "input": {"role": "user"}}, "input"),
    ({"input": "x", "stream": "yes"}, "stream"),
    ({"input": "x", "stream": 1}, "stream"),
    ({"input": "x", "store": "no"}, "store"),
    ({"input": "x", "max_output_tokens": 0}, "max_output_tokens"),
    ({"input": "x", "max_output_tokens": 1.5}, "max_output_tokens"),
    ({"input": "x", "max_output_tokens": True}, "max_output_tokens"),
    ({"input": "x", "max_output_tokens": "10"}, "max_output_tokens"),
    ({"input": "x", "temperature": "hot"}, "temperature"),
    ({"input": "x", "temperature": 3}, "temperature"),
    ({"input": "x", "top_p": True}, "top_p"),
    ({"input": "x", "instructions": ["a"]}, "instructions"),
    ({"input": "x", "previous_response_id": 5}, "previous_response_id"),
    ({"input": "x", "user": 5}, "user"),
    ({"input": "x", "safety_identifier": {}}, "safety_identifier"),
    ({"input": "x", "metadata": {"k": 1}}, "metadata"),
    ({"input": "x", "metadata": "k"}, "metadata"),
    ({"input": "x", "parallel_tool_calls": "no"}, "parallel_tool_calls"),
    ({"input": "x", "background": "x"}, "background"),
    ({"input": "x", "api_base": "https://evil.test"}, "api_base"),
    ({"input": "x", "text": "json"}, "text"),
    ({"input": "x", "text": {"format": {"type": "xml"}}}, "text.format.type"),
    ({"input": "x", "text": {"format": {"type": "json_schema", "name": "n"}}}, "text.format.schema"),
    ({"input": "x", "text": {"format": {"type": "json_schema", "schema": {}}}}, "text.format.name"),
    ({"input": "x", "reasoning": "high"}, "reasoning"),
    ({"input": "x", "reasoning": {"effort": "max"}}, "reasoning.effort"),
    ({"input": "x", "tools": {"type": "function"}}, "tools"),
    ({"input": "x", "tools": ["f"]}, "tools[0]"),
    ({"input": "x", "tools": [{"type": "function"}]}, "tools[0].name"),
    ({"input": "x", "tools": [{**WEATHER, "parameters": []}]}, "tools[0].parameters"),
    ({"input": "x", "tools": [{**WEATHER, "strict": "yes"}]}, "tools[0].strict"),
    ({"input": "x", "tools": [WEATHER], "tool_choice": "always"}, "tool_choice"),
    ({"input": "x", "tools": [WEATHER], "tool_choice": {"type": "function", "name": "nope"}}, "tool_choice"),
    ({"input": "x", "tools": [WEATHER], "tool_choice": {"type": "web_search_preview"}}, "tool_choice"),
    (
        {
            "input": "x",
            "tools": [WEATHER, {"type": "custom", "name": "patch"}],
            "tool_choice": {"type": "custom", "name": "patch"},
        },
        "tool_choice",
    ),
    ({"input": "x", "tools": [{"type": "web_search"}], "tool_choice": "required"}, "tool_choice"),
    ({"input": ["hi"]}, "input[0]"),
    ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ({"input": [{"role": "user", "content": 5}]}, "input[0].content"),
    ({"input": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "input[0].content[0].type"),
    ({"input": [{"role": "user", "content": [{"text": "no type"}]}]}, "input[0].content[0]"),
    (
        {"input": [{"role": "user", "content": [{"type": "input_text", "text": 3}]}]},
        "input[0].content[0].text",
    ),
    (
        {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]},
        "input[0].content[0].file_id",
    ),
    ({"input": [{"role": "user", "content": [{"type": "input_image"}]}]}, "input[0].content[0].image_url"),
    (
        {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}]},
        "input[0].content[0].file_id",
    ),
    (
        {"input": [{"role": "system", "content": [{"type": "input_image", "image_url": "u"}]}]},
        "input[0].content[0]",
    ),
    ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0].call_id"),
    (
        {"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}]},
        "input[0].arguments",
    ),
    ({"input": [{"type": "function_call_output", "call_id": "c"}]}, "input[0].output"),
    (
        {
            "input": [
                {
                    "type": "function_call_output",
                    "call_id": "c",
                    "output": [{"type": "input_image", "image_url": "u"}],
                }
            ]
        },
        "input[0].output[0]",
    ),
    ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
    ({"input": [{"type": "computer_call_output", "call_id": "c"}]}, "input[0].type"),
    ({"input": "x", "models": "m"}, "models"),
    ({"input": "x", "timeout": -1}, "timeout"),
]


@pytest.mark.parametrize(("body", "param"), BAD, ids=[p for _, p in BAD])
def test_bad_input_is_a_400_naming_the_field(body: dict[str, Any], param: str) -> None:
    body = {"model": "m", **body} if "model" not in body and param != "model" else body
    with pytest.raises(InvalidRequest) as caught:
        responses.to_chat_request(orjson.dumps(body))
    assert caught.value.http_status == 400
    assert caught.value.param == param


@pytest.mark.parametrize("raw", [b"", b"[]", b"{", b'{"model": "m", "model": "n", "input": "x"}'])
def test_bad_json_is_a_400(raw: bytes) -> None:
    with pytest.raises(InvalidRequest):
        responses.to_chat_request(raw)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
FIELDS = st.sampled_from(
    [
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "text",
        "reasoning",
        "max_output_tokens",
        "temperature",
        "metadata",
        "stream",
        "store",
        "user",
        "parallel_tool_calls",
        "previous_response_id",
        "include",
    ]
)

WORDS = st.sampled_from(
    [
        "message",
        "function_call",
        "function_call_output",
        "reasoning",
        "user",
        "assistant",
        "system",
        "input_text",
        "output_text",
        "input_image",
        "input_file",
        "refusal",
        "function",
        "auto",
        "c1",
    ]
)
PART = st.dictionaries(
    st.sampled_from(["type", "text", "image_url", "file_id", "file_data", "refusal"]), WORDS | JSON
)
ITEM = st.dictionaries(
    st.sampled_from(["type", "role", "content", "call_id", "name", "arguments", "output"]),
    WORDS | JSON | st.lists(PART, max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(FIELDS, JSON, max_size=4), st.lists(ITEM | JSON, max_size=4))
def test_any_json_is_either_mapped_or_a_400(fields: dict[str, Any], items: list[Any]) -> None:
    body = {"model": "m", "input": items or "x", **fields}
    error: GatewayError | None = None
    try:
        request = responses.to_chat_request(json.dumps(body).encode())
    except GatewayError as exc:
        error = exc
    if error is not None:
        assert isinstance(error, InvalidRequest) and error.http_status == 400 and error.param
    else:
        assert request.body["messages"] and isinstance(request.dropped, tuple)


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"input": "x", "background": True}, "background"),
        ({"input": "x", "conversation": "conv_1"}, "conversation"),
        ({"conversation": {"id": "conv_1"}}, "conversation"),
        ({"prompt": {"id": "pmpt_1"}}, "prompt"),
        ({"input": "x", "prompt": {"id": "pmpt_1"}, "background": True}, "prompt"),
    ],
)
def test_what_only_openai_serves_is_untranslatable_not_refused(fields: dict[str, Any], name: str) -> None:
    """Refused only when a translated target is tried: OpenAI targets get the body as sent."""
    request = parse(**fields)
    assert request.untranslatable == name
    assert request.native is not None and request.native.body[name] == fields[name]
    assert name not in request.dropped
