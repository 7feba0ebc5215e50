"""POST /v1/embeddings: OpenAI format in and out, routed and fallen back like chat, translated for
Gemini (batchEmbedContents) and Bedrock (Titan, Cohere); the openai SDK as the referee."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import httpx
import openai
import orjson
import pytest
from openai.types import CreateEmbeddingResponse

from support import build_app, client_for, make_config, serve_in_thread
from switchboard.app import create_app
from switchboard.upstream.credentials import Credentials

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
INPUT = ["hello world", "bye"]


def provider_config(**extra):
    providers = {
        "gpt": {"type": "openai", "base_url": "https://openai.example/v1", "api_key_env": "A_KEY"},
        "gem": {"type": "gemini", "base_url": "https://gemini.example/v1beta", "api_key_env": "B_KEY"},
        "br": {"type": "bedrock", "region": "us-east-1", "base_url": "https://bedrock.example"},
        "claude": {"type": "anthropic", "base_url": "https://anthropic.example/v1", "api_key_env": "C_KEY"},
    }
    return make_config(providers=providers, models=extra, routing={"retry_budget": 0})


class Recorder:
    def __init__(self, answers: dict[str, httpx.Response]) -> None:
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers[request.url.host.split(".")[0]]


def ok(provider: str, name: str = "embeddings.json") -> httpx.Response:
    return httpx.Response(200, content=(FIXTURES / provider / name).read_bytes())


async def post(app, body) -> httpx.Response:
    async with client_for(app) as client:
        return await client.post("/v1/embeddings", json=body)


@pytest.mark.anyio
async def test_openai_passthrough_with_headers() -> None:
    upstream = Recorder({"openai": ok("openai")})
    response = await post(
        build_app(provider_config(emb={"targets": ["gpt/text-embedding-3-small"]}), upstream),
        {"model": "emb", "input": INPUT, "dimensions": 3},
    )
    parsed = CreateEmbeddingResponse.model_validate(response.json())
    assert [d.embedding for d in parsed.data] == [[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]]
    sent = orjson.loads(upstream.requests[0].content)
    assert upstream.requests[0].url.path == "/v1/embeddings"
    assert sent == {"model": "text-embedding-3-small", "input": INPUT, "dimensions": 3}
    assert response.headers["x-switchboard-provider"] == "gpt"
    assert float(response.headers["x-switchboard-overhead-ms"]) >= 0


@pytest.mark.anyio
async def test_gemini_translation_and_base64() -> None:
    upstream = Recorder({"gemini": ok("gemini")})
    body = {"model": "emb", "input": INPUT, "dimensions": 3, "encoding_format": "base64"}
    response = await post(
        build_app(provider_config(emb={"targets": ["gem/text-embedding-004"]}), upstream), body
    )
    request = upstream.requests[0]
    assert request.url.path == "/v1beta/models/text-embedding-004:batchEmbedContents"
    assert request.headers["x-goog-api-key"] and "key=" not in str(request.url)
    assert orjson.loads(request.content)["requests"][1] == {
        "model": "models/text-embedding-004",
        "outputDimensionality": 3,
        "content": {"parts": [{"text": "bye"}]},
    }
    data = response.json()["data"]  # base64 strings (the SDK decodes them before its types see them)
    decoded = struct.unpack("<3f", base64.b64decode(data[1]["embedding"]))
    assert decoded == pytest.approx((0.4, 0.5, -0.6))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "fixture", "expected_body"),
    [
        ("amazon.titan-embed-text-v2:0", "embeddings_titan.json", {"inputText": "hello world"}),
        (
            "cohere.embed-english-v3",
            "embeddings_cohere.json",
            {"texts": ["hello world"], "input_type": "search_document"},
        ),
    ],
)
async def test_bedrock_titan_and_cohere(model: str, fixture: str, expected_body: dict) -> None:
    upstream = Recorder({"bedrock": ok("bedrock", fixture)})
    response = await post(
        build_app(provider_config(emb={"targets": [f"br/{model}"]}), upstream),
        {"model": "emb", "input": "hello world"},
    )
    request = upstream.requests[0]
    assert request.url.raw_path.decode().endswith("/invoke")
    assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 ")
    assert orjson.loads(request.content) == expected_body
    parsed = CreateEmbeddingResponse.model_validate(response.json())
    assert parsed.data[0].embedding == pytest.approx([0.1, -0.2, 0.3])


@pytest.mark.anyio
async def test_fallback_and_unsupported_targets() -> None:
    upstream = Recorder(
        {
            "gemini": httpx.Response(503, content=(FIXTURES / "gemini" / "error_500.json").read_bytes()),
            "openai": ok("openai"),
        }
    )
    config = provider_config(
        emb={"targets": ["claude/claude-sonnet-4-5", "gem/text-embedding-004", "gpt/text-embedding-3-small"]}
    )
    response = await post(build_app(config, upstream), {"model": "emb", "input": INPUT})
    assert response.status_code == 200
    assert response.headers["x-switchboard-provider"] == "gpt"
    assert [r.url.host.split(".")[0] for r in upstream.requests] == [
        "gemini",
        "openai",
    ]  # Claude skipped, no call


@pytest.mark.anyio
async def test_token_arrays_only_go_to_openai_compatible_targets() -> None:
    config = provider_config(emb={"targets": ["gem/text-embedding-004"]})
    response = await post(build_app(config, Recorder({})), {"model": "emb", "input": [[1, 2, 3]]})
    assert response.status_code == 400 and response.json()["error"]["param"] == "input"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body",
    [
        {"model": "emb"},
        {"model": "emb", "input": []},
        {"model": "emb", "input": [1, "a"]},
        {"model": "emb", "input": "x", "encoding_format": "hex"},
        {"input": "x"},
    ],
)
async def test_bad_embedding_requests(body: dict) -> None:
    response = await post(build_app(provider_config(emb={"targets": ["gpt/x"]}), Recorder({})), body)
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_openai_sdk_embeddings_over_the_wire() -> None:
    config = make_config(
        {"providers": {"mock": {"type": "mock"}}, "models": {"emb": {"targets": ["mock/embed"]}}}
    )
    with (
        serve_in_thread(create_app(config, credentials=Credentials(env={}))) as base,
        openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0) as client,
    ):
        result = client.embeddings.create(model="emb", input=INPUT)  # the SDK asks for base64 and decodes it
        floats = client.embeddings.create(model="emb", input="hello world", encoding_format="float")
    assert len(result.data) == 2 and len(result.data[0].embedding) == 8
    assert result.data[0].embedding == pytest.approx(floats.data[0].embedding, abs=1e-6)
    assert result.usage.prompt_tokens == 3
