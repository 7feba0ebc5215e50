from __future__ import annotations

import orjson

from switchboard.config import ProviderConfig
from switchboard.providers.base import UpstreamCall
from switchboard.providers.openai import OpenAIAdapter

ADAPTER = OpenAIAdapter()
BODY = {"model": "public", "messages": [{"role": "user", "content": "x"}], "temperature": 0.1}


def build(
    provider: ProviderConfig, model: str = "gpt-4o", stream: bool = False, credential: str | None = "sk-1"
):
    return ADAPTER.build_request(
        UpstreamCall(provider=provider, model=model, body=BODY, stream=stream, credential=credential)
    )


def test_openai_request() -> None:
    request = build(
        ProviderConfig(name="openai", type="openai", base_url="https://api.openai.com/v1"), stream=True
    )
    assert str(request.url) == "https://api.openai.com/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-1"
    assert request.headers["accept"] == "text/event-stream"
    sent = orjson.loads(request.content)
    assert sent == {**BODY, "model": "gpt-4o"}
    assert BODY["model"] == "public"  # the client's body is not mutated


def test_azure_deployment_url_api_key_and_version() -> None:
    azure = ProviderConfig(
        name="azure",
        type="openai",
        base_url="https://res.openai.azure.com",
        auth_header="api-key",
        api_version="2024-10-21",
        azure_deployments=True,
        headers=(("x-team", "ml"),),
    )
    request = build(azure, model="my deploy/1")
    assert str(request.url) == (
        "https://res.openai.azure.com/openai/deployments/my%20deploy%2F1/chat/completions?api-version=2024-10-21"
    )
    assert request.headers["api-key"] == "sk-1"
    assert "authorization" not in request.headers
    assert request.headers["x-team"] == "ml"


def test_keyless_provider_sends_no_auth() -> None:
    request = build(
        ProviderConfig(name="local", type="openai", base_url="http://127.0.0.1:11434/v1"), credential=None
    )
    assert "authorization" not in request.headers


def test_passthrough() -> None:
    assert ADAPTER.parse_response(b'{"id": 1}').body == b'{"id": 1}'
    answer = ADAPTER.parse_response(b'{"id": 1, "usage": {"prompt_tokens": 3, "completion_tokens": 4}}')
    assert answer.usage is not None
    assert answer.usage.total == 7
    assert ADAPTER.stream_translator(None) is None  # type: ignore[arg-type]


def test_stream_options_dropped_for_servers_that_reject_them() -> None:
    body = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
    for stream_usage, expected in ((True, {"include_usage": True}), (False, None)):
        provider = ProviderConfig(
            name="old", type="openai", base_url="http://127.0.0.1:8000/v1", stream_usage=stream_usage
        )
        call = UpstreamCall(provider=provider, model="m", body=body, stream=True, credential=None)
        assert orjson.loads(ADAPTER.build_request(call).content).get("stream_options") == expected


def test_cache_markers_are_left_out_for_openai_compatible_servers() -> None:
    from switchboard.providers.mock import MockAdapter

    marked = {"type": "ephemeral"}
    body = {
        "model": "public",
        "messages": [
            {
                "role": "system",
                "content": [
                    {"type": "text", "text": "a", "cache_control": marked},
                    {"type": "text", "text": "b"},
                ],
            },
            {"role": "user", "content": [{"type": "text", "text": "q", "cache_control": marked}]},
            {
                "role": "tool",
                "tool_call_id": "t1",
                "content": [{"type": "text", "text": "r", "cache_control": marked}],
            },
        ],
        "tools": [{"type": "function", "function": {"name": "f"}, "cache_control": marked}],
    }
    provider = ProviderConfig(name="openai", type="openai", base_url="https://api.openai.com/v1")
    for adapter in (ADAPTER, MockAdapter()):
        call = UpstreamCall(provider=provider, model="gpt-4o", body=body, stream=False, credential="k")
        sent = orjson.loads(adapter.build_request(call).content)
        assert b"cache_control" not in adapter.build_request(call).content
        assert sent["messages"][0] == {"role": "system", "content": "a\nb"}  # the plain string form
        assert sent["messages"][1]["content"] == [{"type": "text", "text": "q"}]
        assert sent["messages"][2]["content"] == "r"
        assert sent["tools"] == [{"type": "function", "function": {"name": "f"}}]
    assert body["messages"][1]["content"][0]["cache_control"] == marked  # the client's body is untouched
