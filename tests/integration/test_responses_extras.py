"""The Responses API beyond create (issue 18 item 4), refereed by the openai SDK against a real
uvicorn: `conversation` / `prompt` / `background` served by OpenAI targets and refused only when a
translated target is tried; `responses.input_tokens.count` passed through or estimated; retrieve,
delete, `input_items` and `cancel` of a passed-through response (asked of the provider that stored
it, for that tenant only) and of one Switchboard stored."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from support import build_app, completion, make_config, serve_in_thread
from switchboard.state import keys
from switchboard.state.store.memory import MemoryStore

PROVIDERS = {
    "oai": {"type": "openai", "base_url": "https://oai.example/v1", "api_key_env": "A_KEY"},
    "chatonly": {
        "type": "openai",
        "base_url": "https://chatonly.example/v1",
        "api_key_env": "B_KEY",
        "responses_api": False,
    },
}
MODELS = {
    "gpt": {"targets": ["oai/gpt-5"]},
    "chat": {"targets": ["chatonly/llama"]},
    "chat-then-gpt": {"targets": ["chatonly/llama", "oai/gpt-5"]},
}
UPSTREAM_ID = "resp_upstream0123456789"


def _response(status: str = "completed", background: bool = False) -> dict[str, Any]:
    return {
        "id": UPSTREAM_ID,
        "object": "response",
        "created_at": 1,
        "status": status,
        "background": background,
        "model": "gpt-5",
        "output": [
            {
                "id": "msg_1",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "from OpenAI", "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": 5,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 2,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 7,
        },
    }


def _stream() -> bytes:
    events = [
        {
            "type": "response.created",
            "sequence_number": 0,
            "response": {**_response("in_progress"), "output": []},
        },
        {"type": "response.completed", "sequence_number": 1, "response": _response()},
    ]
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


class FakeOpenAI:
    """`oai.example`: the Responses API with stored responses; `chatonly.example`: chat only."""

    def __init__(self) -> None:
        self.calls: list[httpx.Request] = []
        self.stored = True

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        path = request.url.path
        if request.url.host == "chatonly.example":
            return httpx.Response(200, json=completion("from chat"))
        if path == "/v1/responses/input_tokens":
            return httpx.Response(200, json={"object": "response.input_tokens", "input_tokens": 42})
        if path == "/v1/responses":
            body = json.loads(request.content)
            if body.get("stream"):
                return httpx.Response(200, content=_stream(), headers={"content-type": "text/event-stream"})
            status = "queued" if body.get("background") else "completed"
            return httpx.Response(200, json=_response(status, bool(body.get("background"))))
        if not path.startswith(f"/v1/responses/{UPSTREAM_ID}") or not self.stored:
            error = {
                "message": "No response found",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
            return httpx.Response(404, json={"error": error})
        rest = path.removeprefix(f"/v1/responses/{UPSTREAM_ID}")
        if rest == "/input_items":
            item = {
                "id": "msg_in",
                "type": "message",
                "role": "user",
                "status": "completed",
                "content": [{"type": "input_text", "text": "hello"}],
            }
            return httpx.Response(
                200,
                json={
                    "object": "list",
                    "data": [item],
                    "first_id": "msg_in",
                    "last_id": "msg_in",
                    "has_more": False,
                },
            )
        if rest == "/cancel":
            return httpx.Response(200, json=_response("cancelled", True))
        if request.method == "DELETE":
            self.stored = False
            return httpx.Response(
                200, json={"id": UPSTREAM_ID, "object": "response.deleted", "deleted": True}
            )
        return httpx.Response(200, json=_response())

    def paths(self) -> list[tuple[str, str]]:
        return [(c.method, c.url.path) for c in self.calls]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, str, str, FakeOpenAI]]:
    store = MemoryStore()
    key, _ = asyncio.run(keys.create_key(store, tenant="acme", name="a"))
    other, _ = asyncio.run(keys.create_key(store, tenant="other", name="o"))
    fake = FakeOpenAI()
    config = make_config(
        {"providers": PROVIDERS, "models": MODELS}, routing={"retry_budget": 0}, gateway={"auth": "required"}
    )
    with serve_in_thread(build_app(config, fake, store=store)) as base:
        yield base, key, other, fake


def _known(client: openai.OpenAI) -> bool:
    try:
        client.responses.retrieve(UPSTREAM_ID)
    except openai.NotFoundError:
        return False
    return True


def sdk(base: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)


@pytest.fixture
def setup(
    served: tuple[str, str, str, FakeOpenAI],
) -> Iterator[tuple[openai.OpenAI, openai.OpenAI, FakeOpenAI]]:
    base, key, other, fake = served
    fake.calls.clear()
    fake.stored = True
    with sdk(base, key) as client, sdk(base, other) as stranger:
        yield client, stranger, fake


def test_native_only_fields_pass_through_to_openai_targets(
    setup: tuple[openai.OpenAI, openai.OpenAI, FakeOpenAI],
) -> None:
    client, _, fake = setup
    queued = client.responses.create(model="gpt", input="hi", background=True, prompt={"id": "pmpt_1"})
    assert queued.status == "queued" and queued.id == UPSTREAM_ID
    conversation = client.responses.create(model="gpt", conversation="conv_1")  # no input: OpenAI's items
    assert conversation.output_text == "from OpenAI"
    sent = [json.loads(c.content) for c in fake.calls]
    assert sent[0]["background"] is True and sent[0]["prompt"] == {"id": "pmpt_1"}
    assert sent[1] == {"model": "gpt-5", "conversation": "conv_1"}
    # a chain that tries a translated target first skips it and ends on the OpenAI one
    fake.calls.clear()
    assert client.responses.create(model="chat-then-gpt", input="hi", background=True).id == UPSTREAM_ID
    assert fake.paths() == [("POST", "/v1/responses")]


def test_native_only_fields_are_refused_when_only_translated_targets_are_tried(
    setup: tuple[openai.OpenAI, openai.OpenAI, FakeOpenAI],
) -> None:
    client, _, fake = setup
    for fields in ({"background": True}, {"conversation": "conv_1"}, {"prompt": {"id": "pmpt_1"}}):
        with pytest.raises(openai.BadRequestError) as refused:
            client.responses.create(model="chat", input="hi", **fields)  # type: ignore[call-overload]
        (name,) = fields
        assert refused.value.body["param"] == name and name in refused.value.body["message"]  # type: ignore[index]
    assert fake.calls == []


def test_input_tokens_pass_through_or_estimate(
    setup: tuple[openai.OpenAI, openai.OpenAI, FakeOpenAI],
) -> None:
    client, _, fake = setup
    counted = client.responses.input_tokens.count(model="gpt", input="how many tokens?")
    assert counted.input_tokens == 42 and counted.object == "response.input_tokens"
    (call,) = fake.calls
    assert call.url.path == "/v1/responses/input_tokens"
    assert json.loads(call.content) == {"model": "gpt-5", "input": "how many tokens?"}
    assert call.headers["authorization"] == "Bearer sk-canary-a-0123456789"
    estimate = client.responses.input_tokens.with_raw_response.count(model="chat", input="how many tokens?")
    assert estimate.headers["x-switchboard-token-count"] == "estimate"
    assert estimate.parse().input_tokens > 0
    assert len(fake.calls) == 1


def test_a_passed_through_response_is_served_by_its_provider_for_its_tenant(
    setup: tuple[openai.OpenAI, openai.OpenAI, FakeOpenAI],
) -> None:
    client, stranger, fake = setup
    created = client.responses.create(model="gpt", input="hello")
    assert created.id == UPSTREAM_ID
    fake.calls.clear()
    retrieved = client.responses.with_raw_response.retrieve(UPSTREAM_ID)
    assert retrieved.headers["x-switchboard-provider"] == "oai"
    assert retrieved.parse().output_text == "from OpenAI"
    items = client.responses.input_items.list(UPSTREAM_ID, order="asc", limit=5)
    assert [i.id for i in items.data] == ["msg_in"]
    assert client.responses.cancel(UPSTREAM_ID).status == "cancelled"
    assert [(c.method, c.url.path, dict(c.url.params)) for c in fake.calls] == [
        ("GET", f"/v1/responses/{UPSTREAM_ID}", {}),
        ("GET", f"/v1/responses/{UPSTREAM_ID}/input_items", {"order": "asc", "limit": "5"}),
        ("POST", f"/v1/responses/{UPSTREAM_ID}/cancel", {}),
    ]
    assert all(c.headers["authorization"] == "Bearer sk-canary-a-0123456789" for c in fake.calls)
    # another tenant never reaches the provider with this id
    with pytest.raises(openai.NotFoundError):
        stranger.responses.retrieve(UPSTREAM_ID)
    assert len(fake.calls) == 3
    client.responses.delete(UPSTREAM_ID)
    assert fake.calls[-1].method == "DELETE"
    with pytest.raises(openai.NotFoundError):  # forgotten: not asked again
        client.responses.retrieve(UPSTREAM_ID)
    assert len(fake.calls) == 4


def test_a_streamed_passed_through_response_is_noted_too(
    setup: tuple[openai.OpenAI, openai.OpenAI, FakeOpenAI], served: tuple[str, str, str, FakeOpenAI]
) -> None:
    client, _, _ = setup
    base, key, _, _ = served
    if _known(client):  # left by an earlier test: start from a forgotten id
        client.responses.delete(UPSTREAM_ID)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(UPSTREAM_ID)
    with httpx.Client(base_url=base, headers={"authorization": f"Bearer {key}"}) as raw:
        answer = raw.post("/v1/responses", json={"model": "gpt", "input": "hi", "stream": True})
    assert answer.status_code == 200 and UPSTREAM_ID in answer.text
    assert client.responses.retrieve(UPSTREAM_ID).id == UPSTREAM_ID


def test_a_stored_translated_response_serves_its_input_items(
    setup: tuple[openai.OpenAI, openai.OpenAI, FakeOpenAI],
) -> None:
    client, stranger, fake = setup
    created = client.responses.create(
        model="chat",
        instructions="be brief",
        input=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "input_text", "text": "second"}]},
        ],
    )
    assert created.output_text == "from chat"
    items = client.responses.input_items.list(created.id)  # newest first, as the API's default
    assert [(i.type, i.role) for i in items.data] == [
        ("message", "user"),
        ("message", "assistant"),
        ("message", "user"),
    ]  # type: ignore[union-attr]
    first = client.responses.input_items.list(created.id, order="asc", limit=1)
    assert first.has_more and first.data[0].content[0].text == "first"  # type: ignore[union-attr]
    after = client.responses.input_items.list(created.id, order="asc", after=first.data[0].id)
    assert len(after.data) == 2
    with pytest.raises(openai.BadRequestError):
        client.responses.cancel(created.id)  # complete: only background responses can be cancelled
    with pytest.raises(openai.NotFoundError):
        stranger.responses.input_items.list(created.id)
    assert [c.url.host for c in fake.calls] == ["chatonly.example"]
