"""Each model's rules on the translation path, driven by the clients that send the refused settings:
the openai SDK (Chat Completions with temperature / top_p) reaching Claude Sonnet 5, the anthropic
SDK (Messages with temperature) reaching GPT-6.2 Sol. What the target model refuses is left out of
its request and named in `x-switchboard-dropped`; what the client sends to its own API is not."""

from __future__ import annotations

from pathlib import Path

import anthropic
import httpx
import httpx2
import openai
import orjson
import pytest

from support import build_app, completion, error_response, json_response, make_config, sse_response

pytestmark = pytest.mark.anyio
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers" / "anthropic"
PROVIDERS = {
    "claude": {"type": "anthropic", "base_url": "https://anthropic.example/v1", "api_key_env": "A_KEY"},
    "gpt": {"type": "openai", "base_url": "https://openai.example/v1", "api_key_env": "B_KEY"},
}
MODELS = {
    "sonnet": {"targets": ["claude/claude-sonnet-5"]},
    "sol": {"targets": ["gpt/gpt-6.2-sol"]},
    "sonnet-then-4o": {"targets": ["claude/claude-sonnet-5", "gpt/gpt-4o"]},
}


class Upstream:
    """Answers Anthropic's or OpenAI's API, keeping each request body."""

    def __init__(self, fail_anthropic: bool = False) -> None:
        self.bodies: list[tuple[str, dict]] = []  # type: ignore[type-arg]
        self.fail_anthropic = fail_anthropic

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.bodies.append((host, orjson.loads(request.content)))
        if host == "anthropic.example":
            if self.fail_anthropic:
                return error_response(503)
            if self.bodies[-1][1].get("stream"):
                return sse_response((FIXTURES / "stream_text.sse").read_bytes())
            return json_response(200, orjson.loads((FIXTURES / "completion.json").read_bytes()))
        return json_response(200, completion("hi"))


def app_with(upstream: Upstream):  # type: ignore[no-untyped-def]
    return build_app(make_config({"providers": PROVIDERS, "models": MODELS}), upstream)


def openai_client(app) -> openai.AsyncOpenAI:  # type: ignore[no-untyped-def]
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")
    return openai.AsyncOpenAI(base_url="http://gateway/v1", api_key="unused", http_client=http, max_retries=0)


async def test_openai_client_to_claude_sonnet_5_loses_the_sampling_settings() -> None:
    upstream = Upstream()
    client = openai_client(app_with(upstream))
    raw = await client.chat.completions.with_raw_response.create(
        model="sonnet", messages=[{"role": "user", "content": "hi"}], temperature=0.2, top_p=0.9
    )
    assert raw.parse().choices[0].message.content
    [(host, body)] = upstream.bodies
    assert host == "anthropic.example" and body["model"] == "claude-sonnet-5"
    assert "temperature" not in body and "top_p" not in body
    assert raw.headers["x-switchboard-dropped"] == "temperature, top_p"


async def test_a_stream_names_what_its_target_model_refused() -> None:
    upstream = Upstream()
    client = openai_client(app_with(upstream))
    raw = await client.chat.completions.with_raw_response.create(
        model="sonnet", messages=[{"role": "user", "content": "hi"}], temperature=0.2, stream=True
    )
    text = "".join([chunk.choices[0].delta.content or "" async for chunk in raw.parse() if chunk.choices])
    assert text.startswith("Hello")
    [(_, body)] = upstream.bodies
    assert body["stream"] is True and "temperature" not in body
    assert raw.headers["x-switchboard-dropped"] == "temperature"


async def test_openai_client_to_an_openai_model_is_untouched() -> None:
    upstream = Upstream()
    client = openai_client(app_with(upstream))
    raw = await client.chat.completions.with_raw_response.create(
        model="sol", messages=[{"role": "user", "content": "hi"}], temperature=0.2
    )
    [(_, body)] = upstream.bodies
    assert body["temperature"] == 0.2  # its own API: the client chose the field
    assert "x-switchboard-dropped" not in raw.headers


async def test_rules_apply_per_target_along_a_fallback_chain() -> None:
    upstream = Upstream(fail_anthropic=True)
    client = openai_client(app_with(upstream))
    raw = await client.chat.completions.with_raw_response.create(
        model="sonnet-then-4o", messages=[{"role": "user", "content": "hi"}], temperature=0.2
    )
    hosts = [host for host, _ in upstream.bodies]
    assert hosts[0] == "anthropic.example" and hosts[-1] == "openai.example"
    assert all("temperature" not in body for host, body in upstream.bodies if host == "anthropic.example")
    assert upstream.bodies[-1][1]["temperature"] == 0.2  # gpt-4o takes it
    assert raw.headers["x-switchboard-provider"] == "gpt"
    assert "x-switchboard-dropped" not in raw.headers  # the serving target got everything


async def test_anthropic_client_to_gpt_6_2_sol_loses_temperature_but_not_to_claude() -> None:
    upstream = Upstream()
    transport = httpx2.ASGITransport(app=app_with(upstream))  # the anthropic SDK runs on httpx2
    async with httpx2.AsyncClient(transport=transport, base_url="http://gateway") as http:
        client = anthropic.AsyncAnthropic(api_key="unused", base_url="http://gateway", http_client=http)
        # this SDK version has no `temperature` argument (current Claude models refuse it): sent as
        # older clients send it
        raw = await client.messages.with_raw_response.create(
            model="sol",
            max_tokens=100,
            extra_body={"temperature": 0.3},
            messages=[{"role": "user", "content": "hi"}],
        )
        assert (await raw.parse()).content
        own = await client.messages.with_raw_response.create(
            model="sonnet",
            max_tokens=100,
            extra_body={"temperature": 0.3},
            messages=[{"role": "user", "content": "hi"}],
        )
    (_, translated), (_, passed) = upstream.bodies
    assert "temperature" not in translated and translated["model"] == "gpt-6.2-sol"
    assert "temperature" in raw.headers["x-switchboard-dropped"].split(", ")
    assert passed["temperature"] == 0.3  # passed through in the client's own API: untouched
    assert "temperature" not in own.headers.get("x-switchboard-dropped", "")
