"""Hostile upstreams (issue 11): provider keys echoed in any form never reach the client, and a
malformed event in a translated stream ends it with an error event, never a crash or a silent end."""

from __future__ import annotations

import base64
from urllib.parse import quote

import httpx
import pytest

from support import KEYS, build_app, chat, client_for, error_response, make_config, sse_response

pytestmark = pytest.mark.anyio
KEY = KEYS["A_KEY"]
FORMS = {
    "raw": KEY,
    "upper": KEY.upper(),
    "base64": base64.b64encode(KEY.encode()).decode(),
    "url": quote(KEY, safe=""),
    "split": f"{KEY[:10]}...{KEY[10:]}",
}


def leaked(text: str) -> list[str]:
    found = [name for name, form in FORMS.items() if name != "split" and form in text]
    if KEY[:10] in text and KEY[10:] in text:
        found.append("split")
    return found


@pytest.mark.parametrize("form", list(FORMS))
async def test_a_stream_error_before_output_is_masked(form: str) -> None:
    """The first event is a validation error quoting the key (was copied into the 400 unmasked)."""
    event = (
        b'data: {"error": {"type": "invalid_request_error", "message": "Incorrect API key provided: '
        + FORMS[form].encode()
        + b'"}}\n\n'
    )
    app = build_app(make_config(), lambda r: sse_response(event))
    async with client_for(app) as client:
        response = await client.post("/v1/chat/completions", json=chat("solo", stream=True))
        messages = await client.post(
            "/v1/messages",
            json={
                "model": "solo",
                "max_tokens": 5,
                "stream": True,
                "messages": [{"role": "user", "content": "x"}],
            },
        )
    assert response.status_code == messages.status_code == 400
    assert leaked(response.text) == [] and leaked(messages.text) == []
    assert "Incorrect API key provided" in response.text


@pytest.mark.parametrize("form", list(FORMS))
async def test_a_json_error_is_masked_in_every_form(form: str) -> None:
    answer = error_response(400, f"Incorrect API key provided: {FORMS[form]}")
    async with client_for(build_app(make_config(), lambda r: answer)) as client:
        response = await client.post("/v1/chat/completions", json=chat("solo"))
    assert response.status_code == 400 and leaked(response.text) == []


@pytest.mark.parametrize("bad", [b"data: [1, 2]\n\n", b"data: 5\n\n", b"data: {nope\n\n", b'data: "x"\n\n'])
async def test_a_malformed_event_in_a_translated_stream_is_an_error_event(bad: bytes) -> None:
    start = (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message",'
        b'"role":"assistant","model":"c","content":[],"usage":{"input_tokens":1,"output_tokens":1}}}\n\n'
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"text","text":""}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"hi"}}\n\n'
    )
    config = make_config(
        providers={
            "claude": {"type": "anthropic", "base_url": "https://claude.example/v1", "api_key_env": "A_KEY"}
        },
        models={"claude": {"targets": ["claude/claude-x"]}},
    )

    def upstream(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            content=start + b"event: content_block_delta\n" + bad,
            headers={"content-type": "text/event-stream"},
        )

    async with client_for(build_app(config, upstream)) as client:
        response = await client.post("/v1/chat/completions", json=chat("claude", stream=True))
    assert response.status_code == 200
    assert '"hi"' in response.text
    assert "data: [DONE]" not in response.text
    assert '"error"' in response.text.split(": switchboard-timing")[0].rsplit("\n\n", 2)[-2]


@pytest.mark.parametrize("cap", [-10_000_000, 0, 1.5, "100", True])
async def test_max_tokens_must_be_a_positive_integer(cap: object) -> None:
    """A negative max_tokens used to credit the key's token limits (issue 11, item 16)."""
    async with client_for(build_app(make_config())) as client:  # no upstream call may happen
        response = await client.post("/v1/chat/completions", json=chat("solo", max_tokens=cap))
    assert response.status_code == 400 and response.json()["error"]["param"] == "max_tokens"


@pytest.mark.parametrize("usage", [b'"usage": 5', b'"usage": [1]', b'"usage": {"prompt_tokens": "x"}'])
async def test_a_malformed_usage_chunk_does_not_abort_the_stream(usage: bytes) -> None:
    events = [
        b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n',
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
        b'data: {"choices":[], ' + usage + b"}\n\n",
        b"data: [DONE]\n\n",
    ]
    async with client_for(build_app(make_config(), lambda r: sse_response(*events))) as client:
        response = await client.post("/v1/chat/completions", json=chat("solo", stream=True))
    assert response.status_code == 200 and response.text.rstrip().endswith("data: [DONE]")
