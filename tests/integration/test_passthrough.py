"""Same-dialect pass-through (issue 10): an Anthropic client reaching an Anthropic target gets its
request forwarded intact (only `model` rewritten, routing fields removed, allow-listed headers,
Switchboard's credential) and the answer back byte for byte; other targets get a translation that
names what it dropped; usage (prompt-cache reads included) is counted from the native answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import orjson
import pytest

from support import (
    build_app,
    chunk,
    client_for,
    completion,
    error_response,
    json_response,
    make_config,
    sse_response,
)
from switchboard.state import keys
from switchboard.state.store.memory import MemoryStore
from switchboard.state.usage import usage_report

pytestmark = pytest.mark.anyio
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers" / "anthropic"
PROVIDERS = {
    "claude": {"type": "anthropic", "base_url": "https://anthropic.example/v1", "api_key_env": "A_KEY"},
    "gpt": {"type": "openai", "base_url": "https://openai.example/v1", "api_key_env": "B_KEY"},
}
MODELS = {
    "claude": {"targets": ["claude/claude-sonnet-4-5"]},
    "gpt": {"targets": ["gpt/gpt-4o"]},
    "claude-then-gpt": {"targets": ["claude/claude-sonnet-4-5", "gpt/gpt-4o"]},
}
CLAUDE_CODE_BODY: dict[str, Any] = {
    "model": "claude",
    "max_tokens": 32000,
    "system": [
        {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
    ],
    "messages": [
        {
            "role": "user",
            "content": [{"type": "text", "text": "say hi", "cache_control": {"type": "ephemeral"}}],
        }
    ],
    "tools": [{"name": "Bash", "description": "run", "input_schema": {"type": "object", "properties": {}}}],
    "metadata": {"user_id": "user_abc_account__session_1"},
    "thinking": {"type": "adaptive", "display": "omitted"},
    "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    "output_config": {"effort": "medium"},
    "a_future_field": {"nested": [1, 2, 3]},
}
HEADERS = {
    "anthropic-version": "2023-06-01",
    "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27",
    "x-api-key": "client-placeholder",
    "cookie": "session=secret",
    "x-app": "cli",
}


class Upstream:
    def __init__(self, *answers: httpx.Response) -> None:
        self.answers = list(answers)
        self.calls: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def body(self, i: int = 0) -> dict[str, Any]:
        return orjson.loads(self.calls[i].content)


def config():
    return make_config(providers=PROVIDERS, models=MODELS)


async def post(app, body, headers=None, path="/v1/messages") -> httpx.Response:
    async with client_for(app) as client:
        return await client.post(path, json=body, headers=headers or {})


async def test_anthropic_body_and_headers_pass_through_intact() -> None:
    fixture = (FIXTURES / "completion.json").read_bytes()
    upstream = Upstream(httpx.Response(200, content=fixture, headers={"content-type": "application/json"}))
    body = {**CLAUDE_CODE_BODY, "models": ["claude"], "timeout": 30}
    response = await post(build_app(config(), upstream), body, HEADERS)
    assert response.status_code == 200
    assert response.content == fixture  # byte for byte
    assert response.headers["x-switchboard-provider"] == "claude"
    assert float(response.headers["x-switchboard-overhead-ms"]) >= 0
    assert "x-switchboard-dropped" not in response.headers  # nothing was dropped
    sent = upstream.body()
    expected = {k: v for k, v in CLAUDE_CODE_BODY.items() if k != "model"}
    assert {k: v for k, v in sent.items() if k != "model"} == expected  # routing fields removed
    assert sent["model"] == "claude-sonnet-4-5"
    call = upstream.calls[0]
    assert call.url.path == "/v1/messages"
    assert call.headers["anthropic-beta"] == HEADERS["anthropic-beta"]
    assert call.headers["anthropic-version"] == "2023-06-01"
    assert call.headers["x-api-key"] == "sk-canary-a-0123456789"  # the provider's credential
    assert "cookie" not in call.headers and "x-app" not in call.headers


async def test_anthropic_stream_is_relayed_byte_for_byte_with_timing() -> None:
    fixture = (FIXTURES / "stream_text.sse").read_bytes()
    upstream = Upstream(httpx.Response(200, content=fixture, headers={"content-type": "text/event-stream"}))
    response = await post(build_app(config(), upstream), {**CLAUDE_CODE_BODY, "stream": True}, HEADERS)
    assert response.status_code == 200
    events = [e for e in response.text.split("\n\n") if e]
    upstream_events = [e for e in fixture.decode().split("\n\n") if e]
    comment = [e for e in events if e.startswith(": switchboard-timing")]
    assert len(comment) == 1 and events[-2] == comment[0]  # just before message_stop
    assert [e for e in events if not e.startswith(":")] == upstream_events
    assert upstream.body()["stream"] is True


async def test_prompt_cache_reads_are_counted_in_usage() -> None:
    """The same cache-marked request twice; the fake Anthropic reports cache reads the second time."""
    first = orjson.loads((FIXTURES / "completion.json").read_bytes())
    first["usage"] = {
        "input_tokens": 5,
        "cache_creation_input_tokens": 1000,
        "cache_read_input_tokens": 0,
        "output_tokens": 6,
    }
    second = {
        **first,
        "usage": {**first["usage"], "cache_creation_input_tokens": 0, "cache_read_input_tokens": 1000},
    }
    upstream = Upstream(json_response(200, first), json_response(200, second))
    store = MemoryStore()
    key, record = await keys.create_key(store, tenant="t", name="n", tpm=100_000)
    app = build_app(config(), upstream, store=store)
    headers = {**HEADERS, "x-api-key": key}
    for _ in range(2):
        assert (await post(app, CLAUDE_CODE_BODY, headers)).status_code == 200
    await app.aclose()
    [row] = await usage_report(store, record.key_id)
    assert row["requests"] == 2
    assert row["prompt_tokens"] == 2 * 1005 and row["completion_tokens"] == 12
    assert row["cached_tokens"] == 1000
    assert upstream.body(0)["system"][0]["cache_control"] == {"type": "ephemeral"}


async def test_translation_to_another_format_drops_and_names_fields() -> None:
    upstream = Upstream(json_response(200, completion("hi from gpt")))
    response = await post(build_app(config(), upstream), {**CLAUDE_CODE_BODY, "model": "gpt"}, HEADERS)
    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["text"] == "hi from gpt"
    dropped = response.headers["x-switchboard-dropped"].split(", ")
    assert set(dropped) == {
        "cache_control",
        "thinking",
        "context_management",
        "a_future_field",
    }
    sent = upstream.body()
    assert sent["messages"][0] == {"role": "system", "content": "You are Claude Code."}
    assert sent["user"] == "user_abc_account__session_1"
    assert sent["tools"][0]["function"]["name"] == "Bash"
    assert "context_management" not in sent and "thinking" not in sent
    assert sent["reasoning_effort"] == "medium"  # output_config.effort
    assert "anthropic-beta" not in upstream.calls[0].headers


async def test_explicit_thinking_maps_to_reasoning_effort() -> None:
    upstream = Upstream(json_response(200, completion()))
    body = {**CLAUDE_CODE_BODY, "model": "gpt", "thinking": {"type": "enabled", "budget_tokens": 8000}}
    await post(build_app(config(), upstream), body)
    assert upstream.body()["reasoning_effort"] == "medium"


async def test_fallback_from_anthropic_to_a_translated_target_keeps_the_clients_format() -> None:
    def upstream(request: httpx.Request) -> httpx.Response:
        if request.url.host.startswith("anthropic"):
            return error_response(529)
        return sse_response(chunk("from gpt"), chunk(finish="stop"), b"data: [DONE]\n\n")

    body = {**CLAUDE_CODE_BODY, "model": "claude-then-gpt", "stream": True}
    response = await post(build_app(config(), upstream), body, HEADERS)
    names = [e.split("\n")[0] for e in response.text.split("\n\n") if e.startswith("event:")]
    assert response.headers["x-switchboard-provider"] == "gpt"
    assert names[0] == "event: message_start" and names[-1] == "event: message_stop"
    assert "from gpt" in response.text


async def test_untranslatable_content_is_a_400_unless_an_anthropic_target_serves_it() -> None:
    body = {
        "model": "gpt",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": [{"type": "search_result", "source": "x", "content": []}]}],
    }
    upstream = Upstream(json_response(200, orjson.loads((FIXTURES / "completion.json").read_bytes())))
    refused = await post(build_app(config(), upstream), body)
    assert refused.status_code == 400
    assert (
        refused.json()["type"] == "error"
        and "messages[0].content[0].type" in refused.json()["error"]["message"]
    )
    assert upstream.calls == []
    served = await post(build_app(config(), upstream), {**body, "model": "claude-then-gpt"})
    assert served.status_code == 200 and upstream.calls[0].url.host.startswith("anthropic")


async def test_mid_stream_error_in_pass_through_is_an_anthropic_error_event() -> None:
    head = (FIXTURES / "stream_text.sse").read_bytes().split(b"event: content_block_stop")[0]
    error = b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"key sk-canary-a-0123456789 busy"}}\n\n'
    upstream = Upstream(
        httpx.Response(200, content=head + error, headers={"content-type": "text/event-stream"})
    )
    response = await post(build_app(config(), upstream), {**CLAUDE_CODE_BODY, "stream": True}, HEADERS)
    assert "event: message_stop" not in response.text
    last = [e for e in response.text.split("\n\n") if e.startswith("event:")][-1]
    assert last.startswith("event: error")
    assert orjson.loads(last.split("data: ", 1)[1])["type"] == "error"
    assert "sk-canary" not in response.text


async def test_wrong_types_are_400_naming_the_field() -> None:
    app = build_app(config())
    cases = {
        "stream": {"stream": "true"},
        "tools": {"tools": "x"},
        "tool_choice": {"tool_choice": {}},
        "temperature": {"temperature": "x"},
        "messages[0].content[0].source": {
            "messages": [{"role": "user", "content": [{"type": "image", "source": "abc"}]}]
        },
        "thinking": {"thinking": 5},
    }
    for field, patch in cases.items():
        response = await post(app, {**CLAUDE_CODE_BODY, **patch})
        assert response.status_code == 400, (field, response.text)
        assert field in response.json()["error"]["message"], (field, response.json())


async def test_count_tokens_passes_through_to_anthropic() -> None:
    upstream = Upstream(json_response(200, {"input_tokens": 1234}))
    app = build_app(config(), upstream)
    transport = httpx2.ASGITransport(app=app)  # the anthropic SDK runs on httpx2
    async with httpx2.AsyncClient(transport=transport, base_url="http://gateway") as http:
        client = anthropic.AsyncAnthropic(api_key="unused", base_url="http://gateway", http_client=http)
        counted = await client.messages.count_tokens(
            model="claude",
            system="sys",
            messages=[{"role": "user", "content": "hello"}],
            extra_headers={"anthropic-beta": "token-counting-2024-11-01"},
        )
    assert counted.input_tokens == 1234
    call = upstream.calls[0]
    assert call.url.path == "/v1/messages/count_tokens"
    assert orjson.loads(call.content) == {
        "model": "claude-sonnet-4-5",
        "system": "sys",
        "messages": [{"role": "user", "content": "hello"}],
    }
    assert call.headers["anthropic-beta"] == "token-counting-2024-11-01"


async def test_count_tokens_without_an_anthropic_target_is_an_estimate() -> None:
    upstream = Upstream()
    async with client_for(build_app(config(), upstream)) as http:
        response = await http.post(
            "/v1/messages/count_tokens",
            json={"model": "gpt", "messages": [{"role": "user", "content": "x" * 400}]},
        )
        bad = await http.post("/v1/messages/count_tokens", json={"model": "gpt", "messages": "x"})
        unknown = await http.post("/v1/messages/count_tokens", json={"model": "nope", "messages": []})
    assert response.status_code == 200 and response.headers["x-switchboard-token-count"] == "estimate"
    assert 100 <= response.json()["input_tokens"] <= 130
    assert bad.status_code == 400 and bad.json()["type"] == "error"
    assert unknown.status_code == 400 and unknown.json()["type"] == "error"
    assert upstream.calls == []


async def test_sdk_thinking_and_cache_control_reach_anthropic_intact() -> None:
    fixture = orjson.loads((FIXTURES / "completion.json").read_bytes())
    fixture["content"] = [
        {"type": "thinking", "thinking": "let me think", "signature": "sig-1"},
        {"type": "text", "text": "42"},
    ]
    upstream = Upstream(json_response(200, fixture))
    transport = httpx2.ASGITransport(app=build_app(config(), upstream))
    async with httpx2.AsyncClient(transport=transport, base_url="http://gateway") as http:
        client = anthropic.AsyncAnthropic(api_key="unused", base_url="http://gateway", http_client=http)
        message = await client.messages.create(
            model="claude",
            max_tokens=2048,
            thinking={"type": "enabled", "budget_tokens": 1024},
            extra_body={"top_k": 5},
            system=[{"type": "text", "text": "long system", "cache_control": {"type": "ephemeral"}}],
            messages=[{"role": "user", "content": "the answer?"}],
        )
    assert message.content[0].type == "thinking" and message.content[1].text == "42"
    sent = upstream.body()
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 1024} and sent["top_k"] == 5
    assert sent["system"][0]["cache_control"] == {"type": "ephemeral"}


BEDROCK_CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def bedrock_answer(cache_read: int, cache_write: int) -> httpx.Response:
    usage = {
        "inputTokens": 5,
        "outputTokens": 6,
        "cacheReadInputTokens": cache_read,
        "cacheWriteInputTokens": cache_write,
    }
    content = [
        {"reasoningContent": {"reasoningText": {"text": "thinking it over", "signature": "sig"}}},
        {"text": "hi from bedrock"},
    ]
    body = {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": "end_turn"}
    return json_response(200, {**body, "usage": usage})


async def test_cache_markers_and_thinking_reach_bedrock_and_cache_reads_count() -> None:
    """The same cache-marked Anthropic request twice to a (fake) Bedrock Claude: the markers arrive
    as cachePoint blocks both times, `thinking` as Claude's thinking, and the cache reads Bedrock
    reports on the second call land in the answer's and the key's usage."""
    upstream = Upstream(bedrock_answer(0, 1000), bedrock_answer(1000, 0))
    providers = {"aws": {"type": "bedrock", "region": "us-east-1", "base_url": "https://bedrock.example"}}
    app_config = make_config(providers=providers, models={"claude": {"targets": [f"aws/{BEDROCK_CLAUDE}"]}})
    store = MemoryStore()
    key, record = await keys.create_key(store, tenant="t", name="n", tpm=100_000)
    app = build_app(app_config, upstream, store=store)
    body = {**CLAUDE_CODE_BODY, "thinking": {"type": "enabled", "budget_tokens": 10000}}
    body["tools"] = [{**body["tools"][0], "cache_control": {"type": "ephemeral"}}]
    answers = [await post(app, body, {**HEADERS, "x-api-key": key}) for _ in range(2)]
    await app.aclose()
    point = {"cachePoint": {"type": "default"}}
    for i, response in enumerate(answers):
        assert response.status_code == 200, response.text
        assert [b["text"] for b in response.json()["content"]] == ["hi from bedrock"]  # no reasoning
        sent = upstream.body(i)
        assert upstream.calls[i].url.path == f"/model/{BEDROCK_CLAUDE}/converse"
        assert sent["system"] == [{"text": "You are Claude Code."}, point]
        assert sent["messages"][0]["content"] == [{"text": "say hi"}, point]
        assert sent["toolConfig"]["tools"][1] == point
        assert sent["additionalModelRequestFields"] == {
            "thinking": {"type": "enabled", "budget_tokens": 8192}
        }
        assert sent["inferenceConfig"]["maxTokens"] == 32000
    usage = answers[1].json()["usage"]
    assert (usage["input_tokens"], usage["cache_read_input_tokens"]) == (5, 1000)
    [row] = await usage_report(store, record.key_id)
    assert row["requests"] == 2 and row["prompt_tokens"] == 2 * 1005 and row["cached_tokens"] == 1000


async def test_openai_clients_cache_control_reaches_anthropic_targets() -> None:
    """An OpenAI-format request with `cache_control` on its parts, to an Anthropic target (the
    adapter's translation): the markers arrive on the blocks, twice; an OpenAI target never sees them."""
    answer = (FIXTURES / "completion.json").read_bytes()
    upstream = Upstream(httpx.Response(200, content=answer, headers={"content-type": "application/json"}))
    marked = {"type": "ephemeral"}
    body = {
        "model": "claude",
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "long rules", "cache_control": marked}]},
            {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": marked}]},
        ],
    }
    app = build_app(config(), upstream)
    for i in range(2):
        response = await post(app, body, path="/v1/chat/completions")
        assert response.status_code == 200, response.text
        sent = upstream.body(i)
        assert sent["system"] == [{"type": "text", "text": "long rules", "cache_control": marked}]
        assert sent["messages"][0]["content"] == [{"type": "text", "text": "hi", "cache_control": marked}]
    openai = Upstream(json_response(200, completion()))
    response = await post(build_app(config(), openai), {**body, "model": "gpt"}, path="/v1/chat/completions")
    assert response.status_code == 200 and b"cache_control" not in openai.calls[0].content


async def test_repeated_beta_headers_are_joined_and_each_goes_only_to_its_own_api() -> None:
    """Issue 16, item 9: a client repeating `anthropic-beta` lost all but the last beta, and
    `openai-beta` reached Anthropic (`anthropic-*` reached OpenAI's /responses)."""
    fixture = (FIXTURES / "completion.json").read_bytes()
    upstream = Upstream(httpx.Response(200, content=fixture, headers={"content-type": "application/json"}))
    headers = [
        ("anthropic-version", "2023-06-01"),
        ("anthropic-beta", "interleaved-thinking-2025-05-14"),
        ("anthropic-beta", "context-management-2025-06-27"),
        ("openai-beta", "responses=experimental"),
    ]
    body = {"model": "claude", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    async with client_for(build_app(config(), upstream)) as client:
        assert (await client.post("/v1/messages", json=body, headers=headers)).status_code == 200
    sent = upstream.calls[0].headers
    assert sent.get_list("anthropic-beta") == [
        "interleaved-thinking-2025-05-14, context-management-2025-06-27"
    ]
    assert "openai-beta" not in sent

    answer = json_response(
        200,
        {
            "id": "resp_1",
            "object": "response",
            "status": "completed",
            "model": "gpt-4o",
            "output": [],
            "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2},
        },
    )
    upstream = Upstream(answer)
    headers = [
        ("openai-beta", "a=v1"),
        ("openai-beta", "b=v2"),
        ("anthropic-beta", "interleaved-thinking-2025-05-14"),
        ("anthropic-version", "2023-06-01"),
    ]
    async with client_for(build_app(config(), upstream)) as client:
        response = await client.post("/v1/responses", json={"model": "gpt", "input": "hi"}, headers=headers)
    assert response.status_code == 200, response.text
    sent = upstream.calls[0].headers
    assert sent.get_list("openai-beta") == ["a=v1, b=v2"]
    assert "anthropic-beta" not in sent and "anthropic-version" not in sent


async def test_count_tokens_goes_through_the_pipeline_boundary_and_finish() -> None:
    from switchboard.state.store.memory import MemoryStore
    from switchboard.state.usage import UsageEvent
    from switchboard.telemetry.metrics import MetricsSink, RequestRecord

    class Records(MetricsSink):
        enabled = True

        def __init__(self) -> None:
            self.records: list[RequestRecord] = []

        def record(self, record: RequestRecord) -> None:
            self.records.append(record)

    class Usage:
        def __init__(self) -> None:
            self.events: list[UsageEvent] = []

        def record(self, event: UsageEvent) -> None:
            self.events.append(event)

        async def drain(self) -> None:
            return None

    metrics, usage = Records(), Usage()
    app = build_app(config(), Upstream(), store=MemoryStore(), metrics=metrics)
    app.services.usage = usage
    async with client_for(app) as http:
        counted = await http.post(
            "/v1/messages/count_tokens", json={"model": "gpt", "messages": [{"role": "user", "content": "x"}]}
        )
        unknown = await http.post("/v1/messages/count_tokens", json={"model": "nope", "messages": []})
    assert counted.status_code == 200
    assert unknown.status_code == 400
    assert [(r.route, r.status, r.outcome) for r in metrics.records] == [
        ("/v1/messages/count_tokens", 200, "ok"),
        ("/v1/messages/count_tokens", 400, "refused"),
    ]
    assert usage.events == []  # counting generates nothing: no usage
