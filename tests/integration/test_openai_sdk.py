"""The official `openai` SDK is the referee: its types parse our responses and stream chunks, and
its exception classes map from our statuses."""

from __future__ import annotations

import asyncio

import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from support import make_config, serve_in_thread
from switchboard.app import create_app
from switchboard.upstream.credentials import Credentials

pytestmark = pytest.mark.loopback

MODELS = {
    "echo": {"targets": ["mock/echo"]},
    "words": {"targets": ["mock/stream-5"]},
    "tools": {"targets": ["mock/tools"]},
    "fallback": {"targets": ["mock/error-503", "mock/echo"]},
    "limited": {"targets": ["mock/error-429"]},
    "down": {"targets": ["mock/error-503"]},
    "rejects": {"targets": ["mock/error-400"]},
    "cut": {"targets": ["mock/cut-3"]},
    "hang": {"targets": ["mock/hang"]},
}


@pytest.fixture(scope="module")
def base_url():
    config = make_config(
        {"providers": {"mock": {"type": "mock"}}, "models": MODELS}, routing={"retry_budget": 0}
    )
    with serve_in_thread(create_app(config, credentials=Credentials(env={}))) as base:
        yield f"{base}/v1"


@pytest.fixture
def client(base_url: str):
    with openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0) as sdk:
        yield sdk


MESSAGES = [{"role": "user", "content": "hello world"}]


def test_sync_completion(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="echo", messages=MESSAGES)
    completion = raw.parse()
    assert isinstance(completion, ChatCompletion)
    assert completion.choices[0].message.content == "echo: hello world"
    assert completion.usage is not None and completion.usage.total_tokens == 5
    assert raw.headers["x-switchboard-provider"] == "mock"
    assert float(raw.headers["x-switchboard-overhead-ms"]) >= 0


def test_async_completion(base_url: str) -> None:
    async def run() -> ChatCompletion:
        async with openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0) as aclient:
            return await aclient.chat.completions.create(model="fallback", messages=MESSAGES)

    completion = asyncio.run(run())
    assert completion.choices[0].message.content == "echo: hello world"


def test_streaming_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="words", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "w1 w2 w3 w4 w5"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5


def test_async_streaming(base_url: str) -> None:
    async def run() -> str:
        async with openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0) as aclient:
            stream = await aclient.chat.completions.create(model="words", messages=MESSAGES, stream=True)
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert asyncio.run(run()) == "w1 w2 w3 w4 w5"


def test_tool_calls_round_trip(client: openai.OpenAI) -> None:
    tools = [
        {
            "type": "function",
            "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
        }
    ]
    completion = client.chat.completions.create(model="tools", messages=MESSAGES, tools=tools)
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "lookup" and call.function.arguments == '{"echo":"hello world"}'
    stream = client.chat.completions.create(model="tools", messages=MESSAGES, tools=tools, stream=True)
    arguments = "".join(
        tc.function.arguments or "" for c in stream if c.choices for tc in c.choices[0].delta.tool_calls or []
    )
    assert arguments == '{"echo":"hello world"}'


def test_models_list(client: openai.OpenAI) -> None:
    assert {m.id for m in client.models.list()} == set(MODELS)
    assert client.models.retrieve("echo").id == "echo"


@pytest.mark.parametrize(
    ("model", "exception", "status"),
    [
        ("rejects", openai.BadRequestError, 400),
        ("nope", openai.NotFoundError, 404),
        ("limited", openai.RateLimitError, 429),
        ("down", openai.InternalServerError, 503),
    ],
)
def test_error_statuses_map_to_sdk_exceptions(
    client: openai.OpenAI, model: str, exception: type, status: int
) -> None:
    with pytest.raises(exception) as info:
        client.chat.completions.create(model=model, messages=MESSAGES)
    assert info.value.status_code == status  # type: ignore[attr-defined]
    if status == 429:
        assert info.value.response.headers["retry-after"]  # type: ignore[attr-defined]


def test_deadline_maps_to_sdk_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="hang", messages=MESSAGES, extra_body={"timeout": 0.2})
    assert info.value.status_code == 504


def test_mid_stream_failure_raises_in_sdk(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(model="cut", messages=MESSAGES, stream=True)
    received = []
    with pytest.raises(openai.APIError, match="stream"):
        for chunk in stream:
            received.append(chunk)
    assert "".join(c.choices[0].delta.content or "" for c in received) == "w1 w2 w3"


def test_cached_answers_and_replayed_streams_parse_in_the_sdk(client: openai.OpenAI) -> None:
    headers = {"Cache-Control": "max-age=60"}
    answers = []
    for _ in range(2):
        raw = client.chat.completions.with_raw_response.create(
            model="echo", messages=[{"role": "user", "content": "cache me"}], extra_headers=headers
        )
        answers.append((raw.headers["x-switchboard-cache"], raw.parse()))
    assert [state for state, _ in answers] == ["miss", "hit"]
    assert answers[0][1] == answers[1][1] and isinstance(answers[1][1], ChatCompletion)

    streams = []
    for _ in range(2):
        with client.chat.completions.with_streaming_response.create(
            model="words",
            messages=[{"role": "user", "content": "stream me"}],
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=headers,
        ) as response:
            state = response.headers["x-switchboard-cache"]
            chunks = list(response.parse())
        streams.append((state, chunks))
    assert [state for state, _ in streams] == ["miss", "hit"]
    first, second = streams[0][1], streams[1][1]
    assert all(isinstance(c, ChatCompletionChunk) for c in second)
    assert [c.model_dump() for c in first] == [c.model_dump() for c in second]
    assert second[-1].usage is not None  # the usage chunk the client asked for is replayed too
