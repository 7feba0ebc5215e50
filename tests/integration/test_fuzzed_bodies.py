"""Fuzzed request bodies on every route, through every provider type, never get a 500 (issue 16,
item 4): field types are validated where each dialect parses its body, so no translator sees a type
it does not expect. A deterministic slice of scripts/reliability_fuzz.py's corpus (the suite runs
>= 4,000 bodies per provider type through a real serve); the upstreams answer with the providers'
recorded fixtures."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import httpx
import pytest

from support import build_app, client_for, make_config

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import reliability_fuzz as fuzz

pytestmark = pytest.mark.anyio
BODIES = 600


def _upstream(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    native = fuzz.upstream_answer(path, False)
    if native is not None:
        return httpx.Response(native[0], content=native[2], headers={"content-type": native[1]})
    if path.endswith("/count_tokens"):
        return httpx.Response(200, json={"input_tokens": 5})
    stream = b'"stream":true' in request.content
    if path.endswith("/messages"):
        name = "stream_text.sse" if stream else "completion.json"
        ctype = "text/event-stream" if stream else "application/json"
        return httpx.Response(200, content=fuzz.fixture("anthropic", name), headers={"content-type": ctype})
    if path.endswith("/embeddings"):
        return httpx.Response(200, content=fuzz.fixture("openai", "embeddings.json"))
    name = "stream_text.sse" if stream else "completion.json"
    ctype = "text/event-stream" if stream else "application/json"
    return httpx.Response(200, content=fuzz.fixture("openai", name), headers={"content-type": ctype})


def _config():
    providers = {
        "fz-openai": {
            "type": "openai",
            "base_url": "https://o.example/v1",
            "api_key_env": "A_KEY",
            "responses_api": False,
        },
        "fz-anthropic": {"type": "anthropic", "base_url": "https://a.example/v1", "api_key_env": "A_KEY"},
        "fz-gemini": {"type": "gemini", "base_url": "https://g.example/v1beta", "api_key_env": "A_KEY"},
        "fz-bedrock": {"type": "bedrock", "region": "us-east-1", "base_url": "https://b.example"},
        "fz-mock": {"type": "mock"},
    }
    models = {
        "fz-openai": {"targets": ["fz-openai/ok"]},
        "fz-anthropic": {"targets": ["fz-anthropic/ok"]},
        "fz-gemini": {"targets": ["fz-gemini/gemini-x"]},
        "fz-bedrock": {"targets": ["fz-bedrock/anthropic.claude-x"]},
        "fz-mock": {"targets": ["fz-mock/echo"]},
    }
    return make_config(providers=providers, models=models)


def _where(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return type(exc).__name__
    code = tb.tb_frame.f_code
    return f"{type(exc).__name__} in {Path(code.co_filename).name}:{code.co_name}:{tb.tb_lineno}"


@pytest.mark.parametrize("ptype", fuzz.PROVIDER_TYPES)
async def test_fuzzed_bodies_never_get_a_500(ptype: str, caplog: pytest.LogCaptureFixture) -> None:
    app = build_app(_config(), _upstream)
    failures = []
    async with client_for(app) as client:
        for route, body in fuzz.bodies(BODIES, seed=1604):
            caplog.clear()
            raised = None
            with caplog.at_level(logging.ERROR, logger="switchboard"):
                try:
                    answer = await client.post(route, content=json.dumps({**body, "model": f"fz-{ptype}"}))
                    why = fuzz.failure(route, answer.status_code, answer.content)
                except Exception as exc:  # an exception out of the app: the client's connection drops
                    raised, why = exc, "no answer"
            if why is not None:
                found = [r.exc_info[1] for r in caplog.records if r.exc_info] + [raised]
                where = "; ".join(_where(e) for e in found if e is not None)
                failures.append(f"{route} -> {why} ({where}): {json.dumps(body)[:300]}")
    assert not failures, "\n".join(failures)
