"""`POST /v1/responses` through the whole app (issue 10, part 3): pass-through to `openai` targets
that serve /responses, translation for every other target, stored conversations
(`previous_response_id`, GET / DELETE), refereed by the official openai SDK."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest

from support import build_app, chunk, client_for, completion, json_response, make_config, sse_response
from switchboard.state import keys
from switchboard.state.store.memory import MemoryStore
from switchboard.state.usage import usage_report

pytestmark = pytest.mark.anyio
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
PROVIDERS = {
    "oai": {"type": "openai", "base_url": "https://oai.example/v1", "api_key_env": "A_KEY"},
    "chatonly": {
        "type": "openai",
        "base_url": "https://chatonly.example/v1",
        "api_key_env": "B_KEY",
        "responses_api": False,
    },
    "claude": {"type": "anthropic", "base_url": "https://anthropic.example/v1", "api_key_env": "C_KEY"},
}
MODELS = {
    "gpt": {"targets": ["oai/gpt-4.1"]},
    "chat": {"targets": ["chatonly/llama"]},
    "claude": {"targets": ["claude/claude-sonnet-4-5"]},
}
CODEX_BODY: dict[str, Any] = {
    "model": "gpt",
    "instructions": "You are Codex.",
    "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "say hi"}]}],
    "tools": [
        {
            "type": "function",
            "name": "shell",
            "description": "run",
            "parameters": {"type": "object"},
            "strict": False,
        }
    ],
    "tool_choice": "auto",
    "parallel_tool_calls": False,
    "reasoning": {"effort": "medium", "summary": "auto"},
    "store": False,
    "stream": False,
    "include": ["reasoning.encrypted_content"],
    "prompt_cache_key": "session-1",
    "client_metadata": {"x": "y"},
}


class Upstream:
    def __init__(self) -> None:
        self.calls: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        body = orjson.loads(request.content)
        host = request.url.host.split(".")[0]
        if host == "oai":
            name = "stream_text.sse" if body.get("stream") else "response_text.json"
            content_type = "text/event-stream" if body.get("stream") else "application/json"
            data = (FIXTURES / "openai" / "responses" / name).read_bytes()
            return httpx.Response(200, content=data, headers={"content-type": content_type})
        if host == "anthropic":
            name = "stream_text.sse" if body.get("stream") else "completion.json"
            content_type = "text/event-stream" if body.get("stream") else "application/json"
            data = (FIXTURES / "anthropic" / name).read_bytes()
            return httpx.Response(200, content=data, headers={"content-type": content_type})
        if body.get("stream"):
            return sse_response(chunk("hi"), chunk(" there"), chunk(finish="stop"), b"data: [DONE]\n\n")
        return json_response(200, completion(f"answer {len(self.calls)}"))

    def body(self, i: int = -1) -> dict[str, Any]:
        return orjson.loads(self.calls[i].content)


def app_for(upstream: Upstream, store: MemoryStore | None = None):
    return build_app(make_config(providers=PROVIDERS, models=MODELS), upstream, store=store or MemoryStore())


async def test_pass_through_to_an_openai_target_is_byte_for_byte() -> None:
    upstream = Upstream()
    async with client_for(app_for(upstream)) as client:
        response = await client.post(
            "/v1/responses", json={**CODEX_BODY, "models": ["gpt"]}, headers={"OpenAI-Beta": "responses=v1"}
        )
    assert response.status_code == 200
    assert response.content == (FIXTURES / "openai" / "responses" / "response_text.json").read_bytes()
    sent = upstream.body()
    assert sent == {
        **{k: v for k, v in CODEX_BODY.items()},
        "model": "gpt-4.1",
    }  # nothing dropped, models removed
    assert upstream.calls[0].url.path == "/v1/responses"
    assert upstream.calls[0].headers["openai-beta"] == "responses=v1"
    assert upstream.calls[0].headers["authorization"] == "Bearer sk-canary-a-0123456789"
    assert "x-switchboard-dropped" not in response.headers


async def test_pass_through_stream_keeps_events_and_adds_the_timing_comment() -> None:
    upstream = Upstream()
    store = MemoryStore()
    key, _ = await keys.create_key(store, tenant="t", name="n")
    async with client_for(app_for(upstream, store)) as client:
        response = await client.post(
            "/v1/responses", json={**CODEX_BODY, "stream": True}, headers={"authorization": f"Bearer {key}"}
        )
        await client.aclose()
    fixture = (FIXTURES / "openai" / "responses" / "stream_text.sse").read_text()
    events = [e for e in response.text.split("\n\n") if e]
    assert [e for e in events if not e.startswith(":")] == [e for e in fixture.split("\n\n") if e]
    assert events[-2].startswith(": switchboard-timing") and events[-1].startswith(
        "event: response.completed"
    )


async def test_translated_for_targets_without_the_responses_api() -> None:
    upstream = Upstream()
    async with client_for(app_for(upstream)) as client:
        response = await client.post("/v1/responses", json={**CODEX_BODY, "model": "chat"})
    assert response.status_code == 200, response.text
    parsed = openai.types.responses.Response.model_validate(response.json())
    assert parsed.output_text == "answer 1"
    assert upstream.calls[0].url.path == "/v1/chat/completions"
    sent = upstream.body()
    assert sent["messages"][0] == {"role": "system", "content": "You are Codex."}
    assert sent["tools"][0]["function"]["name"] == "shell" and sent["reasoning_effort"] == "medium"
    dropped = set(response.headers["x-switchboard-dropped"].split(", "))
    assert {"include", "prompt_cache_key", "client_metadata", "reasoning.summary"} <= dropped


async def test_translated_stream_to_anthropic_parses_in_the_sdk() -> None:
    upstream = Upstream()
    app = app_for(upstream)
    async with client_for(app) as http:
        client = openai.AsyncOpenAI(api_key="unused", base_url="http://gateway/v1", http_client=http)
        stream = await client.responses.create(model="claude", input="hi", stream=True)
        types = [event.type async for event in stream]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert "response.output_text.delta" in types
    assert upstream.calls[0].url.path == "/v1/messages"


async def test_previous_response_id_continues_a_stored_conversation_on_any_target() -> None:
    upstream = Upstream()
    app = app_for(upstream)
    async with client_for(app) as http:
        client = openai.AsyncOpenAI(api_key="unused", base_url="http://gateway/v1", http_client=http)
        first = await client.responses.create(model="chat", input="my name is Ada")
        second = await client.responses.create(
            model="chat", input="what is my name?", previous_response_id=first.id
        )
        fetched = await client.responses.retrieve(first.id)
        await client.responses.delete(first.id)
        with pytest.raises(openai.NotFoundError):
            await client.responses.retrieve(first.id)
    assert second.output_text == "answer 2"
    history = upstream.body(1)["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "user"]
    assert history[0]["content"] == "my name is Ada" and history[1]["content"] == "answer 1"
    assert fetched.id == first.id and fetched.output_text == "answer 1"


async def test_another_tenants_response_id_is_not_found() -> None:
    upstream = Upstream()
    store = MemoryStore()
    key_a, _ = await keys.create_key(store, tenant="a", name="a")
    key_b, _ = await keys.create_key(store, tenant="b", name="b")
    async with client_for(app_for(upstream, store)) as client:
        first = await client.post(
            "/v1/responses",
            json={"model": "chat", "input": "hi"},
            headers={"authorization": f"Bearer {key_a}"},
        )
        rid = first.json()["id"]
        follow = await client.post(
            "/v1/responses",
            json={"model": "chat", "input": "again", "previous_response_id": rid},
            headers={"authorization": f"Bearer {key_b}"},
        )
        fetch = await client.get(f"/v1/responses/{rid}", headers={"authorization": f"Bearer {key_b}"})
    assert follow.status_code == 404 and follow.json()["error"]["param"] == "previous_response_id"
    assert fetch.status_code == 404
    assert len(upstream.calls) == 1


async def test_function_tool_round_trip_through_the_sdk() -> None:
    calls = [0]

    def upstream(request: httpx.Request) -> httpx.Response:
        calls[0] += 1
        body = orjson.loads(request.content)
        if calls[0] == 1:
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "shell", "arguments": '{"cmd":"ls"}'},
                    }
                ],
            }
            answer = completion()
            answer["choices"][0] = {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls",
            }
            return json_response(200, answer)
        assert body["messages"][-1] == {"role": "tool", "tool_call_id": "call_1", "content": "a.txt"}
        assert body["messages"][-2]["tool_calls"][0]["function"]["name"] == "shell"
        return json_response(200, completion("done"))

    app = build_app(make_config(providers=PROVIDERS, models=MODELS), upstream, store=MemoryStore())
    tools = [{"type": "function", "name": "shell", "parameters": {"type": "object"}, "strict": False}]
    async with client_for(app) as http:
        client = openai.AsyncOpenAI(api_key="unused", base_url="http://gateway/v1", http_client=http)
        first = await client.responses.create(model="chat", input="list files", tools=tools, store=False)
        call = first.output[0]
        assert call.type == "function_call" and call.name == "shell"
        second = await client.responses.create(
            model="chat",
            tools=tools,
            store=False,
            input=[
                {"role": "user", "content": "list files"},
                {
                    "type": "function_call",
                    "call_id": call.call_id,
                    "name": call.name,
                    "arguments": call.arguments,
                },
                {"type": "function_call_output", "call_id": call.call_id, "output": "a.txt"},
            ],
        )
    assert second.output_text == "done"


async def test_usage_is_counted_from_a_passed_through_answer() -> None:
    upstream = Upstream()
    store = MemoryStore()
    key, record = await keys.create_key(store, tenant="t", name="n")
    app = app_for(upstream, store)
    async with client_for(app) as client:
        await client.post("/v1/responses", json=CODEX_BODY, headers={"authorization": f"Bearer {key}"})
    await app.aclose()
    [row] = await usage_report(store, record.key_id)
    usage = orjson.loads((FIXTURES / "openai" / "responses" / "response_text.json").read_bytes())["usage"]
    assert (
        row["prompt_tokens"] == usage["input_tokens"] and row["completion_tokens"] == usage["output_tokens"]
    )


@pytest.mark.parametrize(
    "body",
    [
        {"model": "chat"},
        {"model": "chat", "input": 5},
        {"model": "chat", "input": "x", "stream": "yes"},
        {"model": "chat", "input": "x", "max_output_tokens": -1},
        {"model": "chat", "input": "x", "api_base": "http://evil"},
    ],
)
async def test_bad_input_is_an_openai_shaped_400_without_upstream_calls(body: dict[str, Any]) -> None:
    upstream = Upstream()
    async with client_for(app_for(upstream)) as client:
        response = await client.post("/v1/responses", json=body)
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert upstream.calls == []
