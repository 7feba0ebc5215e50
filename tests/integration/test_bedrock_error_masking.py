"""Bedrock's error messages echo the caller's AWS access key id and SigV4 signature (signature
mismatch, invalid token); neither reaches a client, on any route, answer or stream (issue 16, item 8:
12 of 12 routes kept them)."""

from __future__ import annotations

import httpx
import orjson
import pytest

from support import build_app, client_for, make_config

pytestmark = pytest.mark.anyio

KEY_ID = "AKIAZ7EXAMPLEKEY1234"
TEMP_KEY_ID = "ASIAZ7EXAMPLETEMP567"
SIGNATURE = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    f"Credential={KEY_ID}/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, "
    f"Signature={SIGNATURE}; session {TEMP_KEY_ID}; canonical request hash {SIGNATURE[::-1]}"
)
KINDS = ("ValidationException", "InvalidSignatureException", "AccessDeniedException")
ROUTES = [
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
    ("/v1/messages", {"max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}),
    ("/v1/responses", {"input": "hi"}),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("path", "body"), ROUTES, ids=[r[0] for r in ROUTES])
async def test_bedrock_errors_never_show_the_access_key_id_or_signature(
    kind: str, stream: bool, path: str, body: dict
) -> None:
    def bedrock(request: httpx.Request) -> httpx.Response:
        status = 400 if kind == "ValidationException" else 403
        return httpx.Response(
            status,
            content=orjson.dumps({"message": MESSAGE}),
            headers={"content-type": "application/json", "x-amzn-errortype": f"{kind}:http://internal"},
        )

    config = make_config(
        providers={"br": {"type": "bedrock", "region": "us-east-1"}},
        models={"m": {"targets": ["br/anthropic.claude-3-haiku-20240307-v1:0"]}},
    )
    async with client_for(build_app(config, bedrock)) as client:
        answer = await client.post(path, json={"model": "m", "stream": stream, **body})
    assert answer.status_code >= 400
    seen = answer.text + "".join(f"{k}: {v}\n" for k, v in answer.headers.items())
    for secret in (KEY_ID, TEMP_KEY_ID, SIGNATURE, SIGNATURE[::-1], KEY_ID.lower()):
        assert secret not in seen, (answer.status_code, answer.text)
