from __future__ import annotations

import httpx
import orjson
import pytest

from switchboard.config import ProviderConfig
from switchboard.providers.base import UpstreamCall
from switchboard.providers.mock import MockAdapter
from switchboard.providers.mock_upstream import MockUpstream
from switchboard.wire.sse import SSESplitter, event_data

pytestmark = pytest.mark.anyio
MOCK = ProviderConfig(name="mock", type="mock")


async def call(model: str, stream: bool = False, **body) -> httpx.Response:
    payload = {"messages": [{"role": "user", "content": "hello there"}], **body}
    if stream:
        payload["stream"] = True
    request = MockAdapter().build_request(UpstreamCall(MOCK, model, payload, stream, None))
    async with httpx.AsyncClient(transport=MockUpstream()) as client:
        response = await client.send(request.to_httpx())
        await response.aread()
        return response


def contents(response: httpx.Response) -> list[str]:
    out = []
    for event in SSESplitter().feed(response.content):
        data = event_data(event)
        if data and data != b"[DONE]":
            chunk = orjson.loads(data)
            if chunk["choices"]:
                out.append(chunk["choices"][0]["delta"].get("content") or "")
    return out


async def test_echo_is_deterministic() -> None:
    first, second = await call("echo"), await call("echo")
    assert first.content == second.content
    body = first.json()
    assert body["choices"][0]["message"]["content"] == "echo: hello there"
    assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}


async def test_stream_n() -> None:
    response = await call("stream-3", stream=True, stream_options={"include_usage": True})
    assert "".join(contents(response)) == "w1 w2 w3"
    assert response.text.rstrip().endswith("data: [DONE]")
    assert '"usage":{"prompt_tokens":2,"completion_tokens":3' in response.text


@pytest.mark.parametrize("status", [400, 401, 429, 500, 503])
async def test_error_status(status: int) -> None:
    response = await call(f"error-{status}")
    assert response.status_code == status
    assert response.json()["error"]["message"] == f"mock error {status}"
    if status == 429:
        assert response.headers["retry-after-ms"] == "100"


async def test_unknown_behaviour_is_404() -> None:
    assert (await call("nonsense")).status_code == 404


async def test_cut_drops_mid_stream() -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        await call("cut-2", stream=True)


async def test_tools() -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    message = (await call("tools", tools=tools)).json()["choices"][0]["message"]
    assert message["tool_calls"][0]["function"] == {"name": "lookup", "arguments": '{"echo":"hello there"}'}
