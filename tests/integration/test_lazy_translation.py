"""`/v1/messages`, the Gemini API and the Responses API are translated only for a target that needs it (issue 19 item
5): a request a target of the client's own API serves is passed through without the chat form ever
being built; one that reaches other targets is translated once, however many of them are tried; and
a malformed body is still refused before any upstream call, whichever target comes first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from support import build_app, client_for, completion, error_response, json_response, make_config
from switchboard.dialects import anthropic_request, gemini_request, openai_responses
from switchboard.dialects.request import Translation

pytestmark = pytest.mark.anyio
PROVIDERS = {
    "claude": {"type": "anthropic", "base_url": "https://anthropic.example/v1", "api_key_env": "A_KEY"},
    "gpt": {"type": "openai", "base_url": "https://openai.example/v1", "api_key_env": "B_KEY"},
    "gpt2": {"type": "openai", "base_url": "https://openai2.example/v1", "api_key_env": "B_KEY"},
    "gem": {"type": "gemini", "base_url": "https://gemini.example/v1beta", "api_key_env": "A_KEY"},
}
MODELS = {
    "claude": {"targets": ["claude/claude-sonnet-4-5"]},
    "claude-then-gpt": {"targets": ["claude/claude-sonnet-4-5", "gpt/gpt-4o"]},
    "gpt-then-gpt": {"targets": ["gpt/gpt-4o", "gpt2/gpt-4o"]},
    "gem-then-gpt": {"targets": ["gem/gemini-2.5-flash", "gpt/gpt-4o"]},
    "gpt-then-claude": {"targets": ["gpt/gpt-4o", "claude/claude-sonnet-4-5"]},
}
BODY: dict[str, Any] = {
    "max_tokens": 100,
    "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {"role": "user", "content": "list the files"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"cmd": "ls"}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.py"}]},
    ],
    "tools": [{"name": "Bash", "description": "run", "input_schema": {"type": "object"}}],
    "metadata": {"user_id": "u-1"},
}
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
STREAM = (FIXTURES / "anthropic" / "stream_text.sse").read_bytes()
GEMINI_BODY: dict[str, Any] = {
    "contents": [
        {"role": "user", "parts": [{"text": "weather?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "x"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"t": 20}}}]},
    ],
    "generationConfig": {"maxOutputTokens": 100, "topK": 3},
}
ANTHROPIC_ANSWER = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [{"type": "text", "text": "hi"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 5, "output_tokens": 1},
}


class Upstream:
    """Answers by host: `fail` hosts answer 503, Anthropic hosts a message, the others a completion."""

    def __init__(self, fail: tuple[str, ...] = ()) -> None:
        self.fail = fail
        self.hosts: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.hosts.append(host)
        if host in self.fail:
            return error_response(503, "busy")
        if request.url.path.endswith("/responses"):
            return httpx.Response(
                200, content=(FIXTURES / "openai" / "responses" / "response_text.json").read_bytes()
            )
        if host.startswith("gemini"):
            return httpx.Response(200, content=(FIXTURES / "gemini" / "completion.json").read_bytes())
        if host.startswith("anthropic"):
            if orjson.loads(request.content).get("stream"):
                return httpx.Response(200, content=STREAM, headers={"content-type": "text/event-stream"})
            return json_response(200, ANTHROPIC_ANSWER)
        return json_response(200, completion("from gpt"))


@pytest.fixture
def translations(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The bodies translated (either dialect), one entry per run of a translation."""
    runs: list[tuple[Any, ...]] = []
    for module, name in (
        (anthropic_request, "translate"),
        (gemini_request, "translate"),
        (openai_responses, "_translate"),
    ):
        real = getattr(module, name)

        def counted(*args: Any, real: Any = real) -> Translation:
            runs.append(args)
            return real(*args)

        monkeypatch.setattr(module, name, counted)
    return runs


async def _post(upstream: Upstream, body: dict[str, Any], path: str = "/v1/messages") -> httpx.Response:
    app = build_app(make_config(providers=PROVIDERS, models=MODELS), upstream)
    async with client_for(app) as client:
        return await client.post(path, content=orjson.dumps(body))


@pytest.mark.parametrize("stream", [False, True])
async def test_a_passed_through_request_is_never_translated(
    translations: list[tuple[Any, ...]], stream: bool
) -> None:
    upstream = Upstream()
    answer = await _post(upstream, {**BODY, "model": "claude-then-gpt", "stream": stream})
    assert answer.status_code == 200
    assert upstream.hosts == ["anthropic.example"]
    assert answer.headers["x-switchboard-provider"] == "claude"
    assert translations == []


async def test_a_translated_request_is_translated_once_across_fallbacks(
    translations: list[tuple[Any, ...]],
) -> None:
    upstream = Upstream(fail=("openai.example",))
    answer = await _post(upstream, {**BODY, "model": "gpt-then-gpt"})
    assert answer.status_code == 200
    assert upstream.hosts == ["openai.example", "openai.example", "openai2.example"]  # a retry, then the next
    assert len(translations) == 1
    assert answer.headers["x-switchboard-dropped"] == "cache_control"


async def test_a_failed_anthropic_target_leaves_the_translation_to_the_next(
    translations: list[tuple[Any, ...]],
) -> None:
    upstream = Upstream(fail=("anthropic.example",))
    answer = await _post(upstream, {**BODY, "model": "claude-then-gpt"})
    assert answer.status_code == 200 and answer.json()["content"][0]["text"] == "from gpt"
    assert upstream.hosts[-1] == "openai.example" and set(upstream.hosts[:-1]) == {"anthropic.example"}
    assert len(translations) == 1


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"tools": [{"name": 5}]}, "tools[0]"),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]},
            "messages[0].content[0].text",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t", "name": "x", "input": 3}],
                    }
                ]
            },
            "messages[0].content[0].input",
        ),
        ({"system": None, "messages": [{"role": "user", "content": []}]}, "messages"),
        ({"output_config": {"effort": "max2"}}, "output_config.effort"),
        ({"provider_preferences": {"primary": 3}}, "provider_preferences"),
        ({"model": "x" * 300}, "model"),
    ],
)
async def test_a_malformed_body_to_an_anthropic_first_chain_makes_no_upstream_call(
    translations: list[tuple[Any, ...]], change: dict[str, Any], param: str
) -> None:
    upstream = Upstream()
    answer = await _post(upstream, {**BODY, "model": "claude-then-gpt", **change})
    assert answer.status_code == 400
    assert answer.json()["type"] == "error" and answer.json()["error"]["type"] == "invalid_request_error"
    assert f"'{param}" in answer.json()["error"]["message"]
    assert upstream.hosts == []
    assert translations == []


async def test_gemini_api_requests_are_translated_only_for_other_targets(
    translations: list[tuple[Any, ...]],
) -> None:
    path = "/v1beta/models/gem-then-gpt:generateContent"
    upstream = Upstream()
    passed = await _post(upstream, GEMINI_BODY, path)
    assert passed.status_code == 200 and upstream.hosts == ["gemini.example"]
    assert translations == []
    upstream = Upstream(fail=("gemini.example",))
    translated = await _post(upstream, GEMINI_BODY, path)
    assert translated.status_code == 200 and upstream.hosts[-1] == "openai.example"
    assert len(translations) == 1
    assert translated.headers["x-switchboard-dropped"] == "generationConfig.topK"


@pytest.mark.parametrize(
    "change",
    [
        {"contents": [{"role": "user", "parts": [{"functionResponse": {"name": "nobody_called"}}]}]},
        {"generationConfig": {"maxOutputTokens": "100"}},
        {"toolConfig": {"functionCallingConfig": {"mode": ["ANY"]}}},
    ],
)
async def test_a_malformed_gemini_body_to_a_gemini_first_chain_makes_no_upstream_call(
    translations: list[tuple[Any, ...]], change: dict[str, Any]
) -> None:
    upstream = Upstream()
    answer = await _post(upstream, {**GEMINI_BODY, **change}, "/v1beta/models/gem-then-gpt:generateContent")
    assert answer.status_code == 400 and answer.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert upstream.hosts == [] and translations == []


async def test_responses_api_input_is_converted_only_for_other_targets(
    translations: list[tuple[Any, ...]],
) -> None:
    body = {
        "model": "gpt-then-claude",
        "instructions": "be brief",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
            {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        ],
        "store": False,
    }
    upstream = Upstream()
    passed = await _post(upstream, body, "/v1/responses")
    assert passed.status_code == 200 and upstream.hosts == ["openai.example"]
    assert translations == []
    upstream = Upstream(fail=("openai.example",))
    translated = await _post(upstream, body, "/v1/responses")
    assert translated.status_code == 200 and upstream.hosts[-1] == "anthropic.example"
    assert len(translations) == 1
