"""What official SDKs get through a real `switchboard serve` from every target kind: structured
output carried in each upstream's native form and accepted by the SDK's parse helpers, usage equal
to the upstream's counts in every dialect (JSON and streamed), malformed upstream events ending the
stream with an error in the client's dialect, client-chosen names never breaking the response
headers, and Anthropic's model list shape. The fakes (`tests/served.py`) record what reached them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest
from pydantic import BaseModel, ConfigDict

from served import (
    ANSWER,
    CACHE_READ,
    CACHE_WRITE,
    FRESH,
    OUTPUT,
    FakeProviders,
    Served,
    provider_config,
    serve,
)
from switchboard.providers.structured import JSON_TOOL

pytestmark = pytest.mark.loopback

MODELS = {
    "openai": "oa/gpt-fake",
    "openai-chat": "oc/gpt-fake",
    "anthropic": "an/claude-sonnet-4-5",
    "anthropic-old": "an/claude-3-5-sonnet-20241022",
    "gemini": "ge/gemini-2.5-flash",
    "bedrock": "br/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "bedrock-nova": "br/amazon.nova-pro-v1:0",
    "bad-text": "oc/bad-text",
    "bad-array": "oc/bad-array",
}


class Weather(BaseModel):
    model_config = ConfigDict(extra="forbid")
    city: str
    temp: int


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProviders]:
    with FakeProviders() as providers:
        yield providers


@pytest.fixture(scope="module")
def gateway(fake: FakeProviders, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("fidelity"), provider_config(fake.root), MODELS) as served:
        yield served


@pytest.fixture(scope="module")
def sdks(gateway: Served) -> Iterator[tuple[openai.OpenAI, anthropic.Anthropic]]:
    """One client of each SDK for the module, closed at its end (no socket left to the collector)."""
    with (
        openai.OpenAI(base_url=f"{gateway.base}/v1", api_key=gateway.key, max_retries=0, timeout=30) as oai,
        anthropic.Anthropic(base_url=gateway.base, api_key=gateway.key, max_retries=0, timeout=30) as claude,
    ):
        yield oai, claude


@pytest.fixture
def oai(sdks: tuple[openai.OpenAI, anthropic.Anthropic]) -> openai.OpenAI:
    return sdks[0]


@pytest.fixture
def claude(sdks: tuple[openai.OpenAI, anthropic.Anthropic]) -> anthropic.Anthropic:
    return sdks[1]


# --------------------------------------------------------------------------- structured output


def native_form(model: str, body: dict[str, Any]) -> dict[str, Any]:
    """Where each upstream's native structured-output request carries the schema."""
    if model in ("openai", "openai-chat"):
        fmt = body.get("response_format") or body["text"]["format"]
        return fmt.get("json_schema", fmt)["schema"]
    if model == "anthropic":
        return body["output_config"]["format"]["schema"]
    if model == "anthropic-old":
        assert body["tool_choice"] == {"type": "tool", "name": JSON_TOOL}
        return body["tools"][0]["input_schema"]
    if model == "gemini":
        assert body["generationConfig"]["responseMimeType"] == "application/json"
        return body["generationConfig"]["responseJsonSchema"]
    if model == "bedrock":
        text_format = body["outputConfig"]["textFormat"]
        assert text_format["type"] == "json_schema"
        return json.loads(text_format["structure"]["jsonSchema"]["schema"])
    assert model == "bedrock-nova"
    assert body["toolConfig"]["toolChoice"] == {"tool": {"name": JSON_TOOL}}
    return body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]


TARGETS = ("openai", "anthropic", "anthropic-old", "gemini", "bedrock", "bedrock-nova")


@pytest.mark.parametrize("model", TARGETS)
def test_chat_completions_parse(gateway: Served, fake: FakeProviders, model: str, oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.parse(
        model=model, messages=[{"role": "user", "content": "weather?"}], response_format=Weather
    )
    assert completion.choices[0].message.parsed == Weather(**ANSWER)
    assert completion.choices[0].finish_reason == "stop"
    assert native_form(model, fake.last().body)["properties"].keys() == {"city", "temp"}


@pytest.mark.parametrize("model", ["openai-chat", *TARGETS])
def test_responses_parse(gateway: Served, fake: FakeProviders, model: str, oai: openai.OpenAI) -> None:
    response = oai.responses.parse(model=model, input="weather?", text_format=Weather)
    assert response.output_parsed == Weather(**ANSWER)
    assert native_form(model, fake.last().body)["properties"].keys() == {"city", "temp"}


@pytest.mark.parametrize("model", ["anthropic", "openai", "openai-chat", "gemini", "bedrock", "bedrock-nova"])
def test_anthropic_messages_parse(
    gateway: Served, fake: FakeProviders, model: str, claude: anthropic.Anthropic
) -> None:
    message = claude.messages.parse(
        model=model, max_tokens=100, messages=[{"role": "user", "content": "weather?"}], output_format=Weather
    )
    assert message.parsed_output == Weather(**ANSWER)
    body = fake.last().body
    if model == "anthropic":  # passed through as sent
        assert body["output_config"]["format"]["type"] == "json_schema"
    else:
        assert native_form(model, body)["properties"].keys() == {"city", "temp"}


def test_chat_stream_with_response_format_on_a_forced_tool_target(
    gateway: Served, oai: openai.OpenAI
) -> None:
    with oai.chat.completions.stream(
        model="bedrock-nova", messages=[{"role": "user", "content": "weather?"}], response_format=Weather
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.parsed == Weather(**ANSWER)


@pytest.mark.parametrize("model", ["openai-chat", *TARGETS])
def test_responses_stream_with_text_format(gateway: Served, model: str, oai: openai.OpenAI) -> None:
    with oai.responses.stream(model=model, input="weather?", text_format=Weather, store=False) as stream:
        final = stream.get_final_response()
    assert final.output_parsed == Weather(**ANSWER)


@pytest.mark.parametrize("model", ["anthropic", "openai", "gemini", "bedrock", "bedrock-nova"])
def test_messages_stream_with_output_format(gateway: Served, model: str, claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(
        model=model, max_tokens=100, messages=[{"role": "user", "content": "weather?"}], output_format=Weather
    ) as stream:
        final = stream.get_final_message()
    assert final.parsed_output == Weather(**ANSWER)


def test_refusal_names_the_field_a_responses_client_sent(gateway: Served) -> None:
    tools = [{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}]
    response = httpx.post(
        f"{gateway.base}/v1/responses",
        headers={"authorization": f"Bearer {gateway.key}"},
        json={
            "model": "anthropic-old",
            "input": "hi",
            "tools": tools,
            "text": {"format": {"type": "json_object"}},
        },
        timeout=30,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "text.format" and "response_format" not in error["message"]


# --------------------------------------------------------------------------- usage


def upstream_counts(model: str) -> tuple[int, int, int, int]:
    """(fresh input, cache reads, cache writes, output) as the fake upstream reported them."""
    writes = CACHE_WRITE if model in ("anthropic", "bedrock") else 0
    return FRESH, CACHE_READ, writes, OUTPUT


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("model", ["anthropic", "gemini", "bedrock"])
def test_chat_usage_equals_the_upstreams(
    gateway: Served, model: str, streamed: bool, oai: openai.OpenAI
) -> None:
    fresh, read, write, out = upstream_counts(model)
    client = oai
    messages: Any = [{"role": "user", "content": "hi"}]
    if streamed:
        chunks = list(
            client.chat.completions.create(
                model=model, messages=messages, stream=True, stream_options={"include_usage": True}
            )
        )
        usage = chunks[-1].usage
    else:
        usage = client.chat.completions.create(model=model, messages=messages).usage
    assert usage is not None and usage.prompt_tokens_details is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (fresh + read + write, out)
    assert usage.prompt_tokens_details.cached_tokens == read
    assert (usage.prompt_tokens_details.cache_write_tokens or 0) == write


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("model", ["openai-chat", "anthropic", "gemini", "bedrock"])
def test_responses_usage_equals_the_upstreams(
    gateway: Served, model: str, streamed: bool, oai: openai.OpenAI
) -> None:
    fresh, read, write, out = upstream_counts(model)
    client = oai
    if streamed:
        with client.responses.stream(model=model, input="hi", store=False) as stream:
            usage = stream.get_final_response().usage
    else:
        usage = client.responses.create(model=model, input="hi", store=False).usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens) == (fresh + read + write, out)
    assert usage.input_tokens_details.cached_tokens == read
    assert usage.input_tokens_details.cache_write_tokens == write


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("model", ["openai", "gemini", "bedrock"])
def test_anthropic_usage_equals_the_upstreams(
    gateway: Served, model: str, streamed: bool, claude: anthropic.Anthropic
) -> None:
    fresh, read, write, out = upstream_counts(model)
    client = claude
    messages: Any = [{"role": "user", "content": "hi"}]
    if streamed:
        with client.messages.stream(model=model, max_tokens=50, messages=messages) as stream:
            first = next(iter(stream))
            usage = stream.get_final_message().usage
        assert first.type == "message_start" and first.message.usage.input_tokens > 0  # the estimate
    else:
        usage = client.messages.create(model=model, max_tokens=50, messages=messages).usage
    assert (usage.input_tokens, usage.output_tokens) == (fresh, out)
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (read, write)


# --------------------------------------------------------------------------- malformed upstream events


def sse_events(text: str) -> list[str]:
    return [line[7:] for line in text.splitlines() if line.startswith("event: ")]


@pytest.mark.parametrize("model", ["bad-text", "bad-array"])
def test_messages_stream_with_a_malformed_upstream_event_ends_with_an_error(
    gateway: Served, model: str
) -> None:
    body = {"model": model, "max_tokens": 50, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.stream(
        "POST", f"{gateway.base}/v1/messages", headers={"x-api-key": gateway.key}, json=body, timeout=30
    ) as response:
        assert response.status_code == 200
        text = response.read().decode()  # a complete chunked body: an incomplete one raises here
    names = sse_events(text)
    assert names[0] == "message_start" and names[-1] == "error"
    assert "message_stop" not in names and "message_delta" not in names
    assert "ASGI callable returned without completing" not in gateway.log.read_text()


@pytest.mark.parametrize("model", ["bad-text", "bad-array"])
def test_responses_stream_with_a_malformed_upstream_event_ends_with_response_failed(
    gateway: Served, model: str
) -> None:
    body = {"model": model, "stream": True, "input": "hi", "store": False}
    with httpx.stream(
        "POST",
        f"{gateway.base}/v1/responses",
        headers={"authorization": f"Bearer {gateway.key}"},
        json=body,
        timeout=30,
    ) as response:
        assert response.status_code == 200
        text = response.read().decode()
    names = sse_events(text)
    assert names[-1] == "response.failed" and "response.completed" not in names


# --------------------------------------------------------------------------- client-chosen names in headers


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/responses", {"model": "anthropic", "input": "hi", "tools": [{"type": "a\r\nb"}], "fïeld": 1}),
        (
            "/v1/messages",
            {
                "model": "openai",
                "max_tokens": 20,
                "messages": [{"role": "user", "content": "hi"}],
                "tools": [{"type": "x\u0001y", "name": "n"}],
                "nouvé\u0007": True,
            },
        ),
    ],
)
def test_client_names_in_x_switchboard_dropped_never_break_the_answer(
    gateway: Served, path: str, body: dict[str, Any]
) -> None:
    headers = {"authorization": f"Bearer {gateway.key}", "x-api-key": gateway.key}
    for streamed in (False, True):
        response = httpx.post(
            f"{gateway.base}{path}", headers=headers, json={**body, "stream": streamed}, timeout=30
        )
        assert response.status_code == 200, response.text
        dropped = response.headers["x-switchboard-dropped"]
        assert dropped.isascii() and "\r" not in dropped and "\n" not in dropped
        assert "%" in dropped  # the control and non-ASCII characters, percent-encoded


def test_cache_control_is_not_named_dropped_when_bedrock_honours_it(
    gateway: Served, fake: FakeProviders
) -> None:
    system = [{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral"}}]
    body = {
        "model": "bedrock",
        "max_tokens": 20,
        "system": system,
        "messages": [{"role": "user", "content": "hi"}],
    }
    response = httpx.post(
        f"{gateway.base}/v1/messages", headers={"x-api-key": gateway.key}, json=body, timeout=30
    )
    assert response.status_code == 200
    assert "cache_control" not in response.headers.get("x-switchboard-dropped", "")
    assert {"cachePoint": {"type": "default"}} in fake.last().body["system"]
    response = httpx.post(
        f"{gateway.base}/v1/messages",
        headers={"x-api-key": gateway.key},
        json={**body, "model": "gemini"},
        timeout=30,
    )
    assert "cache_control" in response.headers["x-switchboard-dropped"]


# --------------------------------------------------------------------------- model list


def test_anthropic_clients_list_models_in_anthropics_shape(
    gateway: Served, oai: openai.OpenAI, claude: anthropic.Anthropic
) -> None:
    client = claude
    listed = [model.id for model in client.models.list(limit=3)]  # auto-paginated over has_more
    assert listed == list(MODELS)
    info = client.models.retrieve("anthropic")
    assert info.type == "model" and info.display_name == "anthropic" and info.created_at.year >= 2023
    raw = httpx.get(
        f"{gateway.base}/v1/models",
        headers={"anthropic-version": "2023-06-01", "authorization": f"Bearer {gateway.key}"},
        timeout=10,
    ).json()
    assert raw["first_id"] == "openai" and raw["has_more"] is False and raw["last_id"] == "bad-array"
    refused = httpx.get(f"{gateway.base}/v1/models", headers={"x-api-key": "sb-wrong"}, timeout=10)
    assert refused.status_code == 401 and refused.json()["type"] == "error"
    assert refused.json()["error"]["type"] == "authentication_error"
    missing = httpx.get(f"{gateway.base}/v1/models/nope", headers={"x-api-key": gateway.key}, timeout=10)
    assert missing.status_code == 404 and missing.json()["type"] == "error"
    openai_shape = oai.models.list()
    assert [m.id for m in openai_shape.data] == list(MODELS) and openai_shape.data[0].object == "model"
