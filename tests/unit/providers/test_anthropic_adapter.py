"""Anthropic translation: request mapping rules, and the wire fixtures refereed by the `anthropic`
SDK's own types (so a fixture that drifts from the published API fails here)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from switchboard.config import ProviderConfig
from switchboard.errors import UpstreamProtocolError, UpstreamUnsupported
from switchboard.providers.anthropic import (
    AnthropicAdapter,
    AnthropicStream,
    build_messages_body,
    openai_usage,
)
from switchboard.providers.base import UpstreamCall
from switchboard.wire import anthropic as wire_anthropic
from switchboard.wire.sse import SSESplitter, event_data

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "providers" / "anthropic"
PROVIDER = ProviderConfig(
    name="claude",
    type="anthropic",
    base_url="https://api.anthropic.com/v1",
    headers=(("anthropic-beta", "prompt-caching-2024-07-31"),),
)


def events(name: str) -> list[bytes]:
    return SSESplitter().feed((FIXTURES / name).read_bytes())


@pytest.mark.parametrize("name", ["completion.json", "completion_tool_call.json"])
def test_message_fixtures_match_the_sdk_types(name: str) -> None:
    Message.model_validate_json((FIXTURES / name).read_bytes())


@pytest.mark.parametrize("name", ["stream_text.sse", "stream_tool_call.sse", "stream_error_overloaded.sse"])
def test_stream_fixtures_match_the_sdk_types(name: str) -> None:
    adapter = TypeAdapter(RawMessageStreamEvent)
    for event in events(name):
        payload = orjson.loads(event_data(event) or b"{}")
        if payload["type"] in ("ping", "error"):
            continue
        adapter.validate_python(payload)


def test_request_mapping() -> None:
    body = {
        "model": "public",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": '{"q":1}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
            {"role": "user", "content": "thanks"},
        ],
        "max_completion_tokens": 300,
        "temperature": 1.6,
        "top_p": 0.9,
        "stop": "END",
        "tools": [
            {
                "type": "function",
                "function": {"name": "look", "description": "d", "parameters": {"type": "object"}},
            }
        ],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "user": "u-42",
        "seed": 3,
        "presence_penalty": 0.5,
    }
    out = build_messages_body(body, "claude-sonnet-4-5", stream=True)
    assert out["model"] == "claude-sonnet-4-5" and out["stream"] is True
    assert out["system"] == "Be brief.\n\nUse metric units."
    assert out["max_tokens"] == 300
    assert out["temperature"] == 1.0  # clamped to Anthropic's range
    assert out["stop_sequences"] == ["END"]
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert out["tools"] == [{"name": "look", "description": "d", "input_schema": {"type": "object"}}]
    assert out["metadata"] == {"user_id": "u-42"}
    assert "seed" not in out and "presence_penalty" not in out
    user, assistant, tool_and_thanks = out["messages"]
    assert user["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"},
    }
    assert user["content"][2] == {
        "type": "image",
        "source": {"type": "url", "url": "https://example.com/cat.png"},
    }
    assert assistant == {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "call_1", "name": "look", "input": {"q": 1}}],
    }
    # the tool result and the next user message merge into one user turn
    assert tool_and_thanks["role"] == "user"
    assert tool_and_thanks["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "a cat"},
        {"type": "text", "text": "thanks"},
    ]


def test_max_tokens_default() -> None:
    out = build_messages_body({"messages": [{"role": "user", "content": "x"}]}, "m", stream=False)
    assert out["max_tokens"] == 4096 and "stream" not in out


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"response_format": {"type": "xml"}}, "response_format"),
        ({"tools": [{"type": "code_interpreter"}]}, "tools[0]"),
        ({"audio": {"voice": "alloy"}}, "audio"),
        ({"some_new_field": 1}, "some_new_field"),
    ],
)
def test_unsupported_features_are_named(extra: dict, param: str) -> None:
    with pytest.raises(UpstreamUnsupported) as info:
        build_messages_body({"messages": [{"role": "user", "content": "x"}], **extra}, "m", stream=False)
    assert info.value.param == param


def test_unsupported_content_part() -> None:
    body = {
        "messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x"}}]}]
    }
    with pytest.raises(UpstreamUnsupported, match="input_audio"):
        build_messages_body(body, "m", stream=False)


def test_http_request_headers() -> None:
    request = AnthropicAdapter().build_request(
        UpstreamCall(
            PROVIDER, "claude-sonnet-4-5", {"messages": [{"role": "user", "content": "x"}]}, False, "sk-ant-1"
        )
    )
    assert str(request.url) == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant-1"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert "authorization" not in request.headers


def test_response_mapping_with_cache_usage() -> None:
    answer = AnthropicAdapter().parse_response((FIXTURES / "completion_tool_call.json").read_bytes())
    out = orjson.loads(answer.body)
    message = out["choices"][0]["message"]
    assert message["content"] == "Let me check."
    assert message["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert out["usage"] == {
        "prompt_tokens": 12,
        "completion_tokens": 6,
        "total_tokens": 18,
        "prompt_tokens_details": {"cached_tokens": 2},
    }
    # the value the pipeline reads keeps what the OpenAI form cannot carry: the cache writes
    fixture = orjson.loads((FIXTURES / "completion_tool_call.json").read_bytes())["usage"]
    assert answer.usage is not None
    assert answer.usage.cache_write == fixture.get("cache_creation_input_tokens", 0)
    assert (answer.usage.prompt, answer.usage.completion, answer.usage.cached) == (12, 6, 2)
    with pytest.raises(UpstreamProtocolError):
        AnthropicAdapter().parse_response(b'{"id": "x"}')


def test_stream_translation_is_per_stream_and_skips_noise() -> None:
    stream = AnthropicStream(include_usage=False, created=1)
    out = [chunk for event in events("stream_text.sse") for chunk in stream.feed(event)]
    assert out[-1] == b"data: [DONE]\n\n"
    assert not any(b'"usage"' in chunk for chunk in out)  # not asked for
    assert len(out) == 1 + 3 + 1 + 1  # role, three text deltas, finish, [DONE]: ping and block stops dropped
    assert stream.feed(b"data: {not json\n\n")[0].startswith(b'data: {"error"')


def test_stream_error_event_becomes_openai_error() -> None:
    stream = AnthropicStream(include_usage=False, created=1)
    out = [chunk for event in events("stream_error_overloaded.sse") for chunk in stream.feed(event)]
    error = orjson.loads(out[-1][6:])["error"]
    assert error["type"] == "overloaded_error" and error["message"] == "Overloaded"


def test_the_messages_dialect_reads_back_what_the_adapter_maps() -> None:
    """The adapter (Anthropic -> OpenAI) and the /v1/messages dialect (OpenAI -> Anthropic) share
    wire/anthropic.py, so a round trip keeps every stop reason both APIs have and the cache reads."""
    for finish in ("stop", "length", "tool_calls", "content_filter"):
        assert wire_anthropic.finish_reason(wire_anthropic.stop_reason(finish)) == finish
    usage = {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 3}
    assert wire_anthropic.to_anthropic_usage(openai_usage(usage)) == {
        **usage,
        "cache_creation_input_tokens": 0,
    }
    # a cache write is prompt input to OpenAI and travels as `cache_write_tokens`: exact both ways
    written = wire_anthropic.to_anthropic_usage(openai_usage({**usage, "cache_creation_input_tokens": 4}))
    assert written == {**usage, "cache_creation_input_tokens": 4}


def test_cache_markers_map_back_to_cache_control() -> None:
    """The chat form's `cache_control` extension key (from /v1/messages, or an OpenAI-format
    client) goes back onto the block, system block, tool use, tool result or tool it was on."""
    marked = {"type": "ephemeral", "ttl": "1h"}
    call = {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    body = {
        "messages": [
            {
                "role": "system",
                "content": [
                    {"type": "text", "text": "rules", "cache_control": marked},
                    {"type": "text", "text": "b"},
                ],
            },
            {"role": "developer", "content": "plain"},
            {"role": "user", "content": [{"type": "text", "text": "q", "cache_control": marked}]},
            {
                "role": "assistant",
                "content": [{"type": "text", "text": "calling", "cache_control": marked}],
                "tool_calls": [{**call, "cache_control": marked}],
            },
            {
                "role": "tool",
                "tool_call_id": "t1",
                "content": [{"type": "text", "text": "r", "cache_control": marked}],
            },
        ],
        "tools": [{"type": "function", "function": {"name": "f"}, "cache_control": marked}],
    }
    out = build_messages_body(body, "claude-sonnet-4-5", False)
    assert out["system"] == [
        {"type": "text", "text": "rules", "cache_control": marked},
        {"type": "text", "text": "b"},
        {"type": "text", "text": "plain"},
    ]
    user, assistant, result = out["messages"]
    assert user["content"] == [{"type": "text", "text": "q", "cache_control": marked}]
    assert assistant["content"][0] == {"type": "text", "text": "calling", "cache_control": marked}
    assert assistant["content"][1]["cache_control"] == marked
    assert result["content"][0] == {
        "type": "tool_result",
        "tool_use_id": "t1",
        "content": "r",
        "cache_control": marked,
    }
    assert out["tools"][0]["cache_control"] == marked
    unmarked = build_messages_body(
        {
            "messages": [
                {"role": "system", "content": "a"},
                {"role": "system", "content": "b"},
                *body["messages"][2:3],
            ]
        },
        "m",
        False,
    )
    assert unmarked["system"] == "a\n\nb"  # no markers: the joined string, as before
