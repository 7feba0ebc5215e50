"""P1: malformed input never yields a 5xx or a hang, is OpenAI-shaped, and makes no upstream call."""

from __future__ import annotations

import httpx
import pytest

from support import build_app, client_for, make_config

pytestmark = pytest.mark.anyio

GOOD = b'{"model": "chain", "messages": [{"role": "user", "content": "hi"}]}'

CORPUS: list[tuple[str, bytes, int]] = [
    ("empty body", b"", 400),
    ("not json", b"hello", 400),
    ("truncated", GOOD[:-5], 400),
    ("array", b"[1, 2]", 400),
    ("string", b'"x"', 400),
    ("lone surrogate", b'{"model": "chain", "messages": [{"role": "user", "content": "\\ud800"}]}', 400),
    ("invalid utf-8", b'{"model": "chain", "messages": [{"role": "user", "content": "\xff\xfe"}]}', 400),
    ("NaN", b'{"model": "chain", "temperature": NaN, "messages": [{"role": "user", "content": "x"}]}', 400),
    (
        "Infinity",
        b'{"model": "chain", "temperature": Infinity, "messages": [{"role": "user", "content": "x"}]}',
        400,
    ),
    (
        "huge exponent",
        b'{"model": "chain", "temperature": 1e999, "messages": [{"role": "user", "content": "x"}]}',
        400,
    ),
    (
        "duplicate keys",
        b'{"model": "chain", "model": "solo", "messages": [{"role": "user", "content": "x"}]}',
        400,
    ),
    (
        "nested duplicate",
        b'{"model": "chain", "messages": [{"role": "user", "role": "system", "content": "x"}]}',
        400,
    ),
    (
        "deep nesting",
        b'{"model": "chain", "messages": [{"role": "user", "content": "x"}], "x": '
        + b"[" * 5000
        + b"]" * 5000
        + b"}",
        400,
    ),
    ("missing messages", b'{"model": "chain"}', 400),
    ("empty messages", b'{"model": "chain", "messages": []}', 400),
    ("messages wrong type", b'{"model": "chain", "messages": "hi"}', 400),
    ("message not object", b'{"model": "chain", "messages": ["hi"]}', 400),
    ("message without role", b'{"model": "chain", "messages": [{"content": "hi"}]}', 400),
    ("missing model", b'{"messages": [{"role": "user", "content": "x"}]}', 400),
    ("model wrong type", b'{"model": 5, "messages": [{"role": "user", "content": "x"}]}', 400),
    ("unknown model", b'{"model": "nope", "messages": [{"role": "user", "content": "x"}]}', 404),
    (
        "stream wrong type",
        b'{"model": "chain", "stream": "yes", "messages": [{"role": "user", "content": "x"}]}',
        400,
    ),
    (
        "stream_options wrong",
        b'{"model": "chain", "stream": true, "stream_options": 3, "messages": [{"role": "user", "content": "x"}]}',
        400,
    ),
    (
        "api_base",
        b'{"model": "chain", "api_base": "http://169.254.169.254", "messages": [{"role": "user", "content": "x"}]}',
        400,
    ),
    (
        "base_url",
        b'{"model": "chain", "base_url": "http://evil", "messages": [{"role": "user", "content": "x"}]}',
        400,
    ),
    (
        "api_key",
        b'{"model": "chain", "api_key": "sk-x", "messages": [{"role": "user", "content": "x"}]}',
        400,
    ),
    (
        "extra_headers",
        b'{"model": "chain", "extra_headers": {"host": "evil"}, "messages": [{"role": "user", "content": "x"}]}',
        400,
    ),
    (
        "models wrong type",
        b'{"model": "chain", "models": "solo", "messages": [{"role": "user", "content": "x"}]}',
        400,
    ),
    (
        "models unknown",
        b'{"model": "chain", "models": ["nope"], "messages": [{"role": "user", "content": "x"}]}',
        404,
    ),
    (
        "models too many",
        b'{"model": "chain", "models": ["solo","solo","solo","solo","solo","solo","solo","solo","solo","solo","solo"], "messages": [{"role": "user", "content": "x"}]}',
        400,
    ),
    (
        "prefs wrong",
        b'{"model": "chain", "provider_preferences": {"url": "x"}, "messages": [{"role": "user", "content": "x"}]}',
        400,
    ),
    (
        "prefs unknown provider",
        b'{"model": "chain", "provider_preferences": {"primary": "zzz"}, "messages": [{"role": "user", "content": "x"}]}',
        400,
    ),
    (
        "prefs no target",
        b'{"model": "chain", "provider_preferences": {"primary": "c", "fallback": []}, "messages": [{"role": "user", "content": "x"}]}',
        400,
    ),
    (
        "timeout negative",
        b'{"model": "chain", "timeout": -1, "messages": [{"role": "user", "content": "x"}]}',
        400,
    ),
    (
        "timeout string",
        b'{"model": "chain", "timeout": "5", "messages": [{"role": "user", "content": "x"}]}',
        400,
    ),
    (
        "timeout bool",
        b'{"model": "chain", "timeout": true, "messages": [{"role": "user", "content": "x"}]}',
        400,
    ),
]


def _never(request: httpx.Request) -> httpx.Response:
    raise AssertionError("bad input must not reach an upstream")


@pytest.mark.parametrize(("name", "body", "status"), CORPUS, ids=[c[0] for c in CORPUS])
async def test_bad_body_is_a_clean_4xx(name: str, body: bytes, status: int) -> None:
    app = build_app(make_config(), _never)
    async with client_for(app) as client:
        response = await client.post(
            "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    assert "x-request-id" in response.headers and "x-switchboard-overhead-ms" in response.headers


async def test_body_over_cap_is_413() -> None:
    app = build_app(make_config(gateway={"max_body_bytes": 2048}), _never)
    body = b'{"model": "chain", "messages": [{"role": "user", "content": "' + b"x" * 4096 + b'"}]}'
    async with client_for(app) as client:
        response = await client.post("/v1/chat/completions", content=body)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"

        async def chunks():
            for _ in range(10):
                yield b"x" * 1024

        # no content-length (chunked upload): the cap still holds
        response = await client.post("/v1/chat/completions", content=chunks())
        assert response.status_code == 413


async def test_wrong_content_type_is_415() -> None:
    app = build_app(make_config(), _never)
    async with client_for(app) as client:
        response = await client.post(
            "/v1/chat/completions", content=GOOD, headers={"content-type": "multipart/form-data"}
        )
    assert response.status_code == 415


async def test_bad_content_length_is_400() -> None:
    app = build_app(make_config(), _never)
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": GOOD, "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [(b"content-length", b"-1")],
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 400


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/chat/completions", 405),
        ("PUT", "/v1/models", 405),
        ("GET", "/nope", 404),
        ("GET", "/v1/models/nope", 404),
        ("POST", "/v1/../etc/passwd", 404),
        ("DELETE", "/healthz", 405),
    ],
)
async def test_odd_routes_and_methods_are_openai_shaped(method: str, path: str, status: int) -> None:
    app = build_app(make_config(), _never)
    async with client_for(app) as client:
        response = await client.request(method, path)
    assert response.status_code == status
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


async def test_hostile_request_id_is_replaced() -> None:
    app = build_app(make_config(), _never)
    async with client_for(app) as client:
        response = await client.post(
            "/v1/chat/completions", content=b"{}", headers={"x-request-id": "a" * 500}
        )
    assert response.headers["x-request-id"] != "a" * 500
