"""Request bodies with a `Content-Encoding`, on a real `switchboard serve` (issue 16, item 6): a gzip
body got `400 invalid JSON body` and `Content-Encoding: br` on a plain body was served as if absent.
gzip and deflate are decoded under the body cap (a zip bomb is a 413), other codings are a 415, bad
compressed data a 400, all in the route's error shape and without an upstream call."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator

import httpx
import pytest

from real_serve import Serve, create_key, serve

pytestmark = pytest.mark.loopback
CAP = 1024 * 1024
CHAT = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {"model": "echo", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Serve, str]]:
    tmp = tmp_path_factory.mktemp("encoding")
    config = (
        f'[gateway]\nmax_body_bytes = {CAP}\n[store]\nbackend = "sqlite"\npath = "{tmp / "store.db"}"\n'
        '[providers.mock]\ntype = "mock"\n[models.echo]\ntargets = ["mock/echo"]\n'
    )
    with serve(tmp, config) as (server, path):
        yield server, create_key(path)


def _post(gateway: tuple[Serve, str], path: str, body: bytes, encoding: str) -> httpx.Response:
    server, key = gateway
    headers = {
        "authorization": f"Bearer {key}",
        "content-type": "application/json",
        "content-encoding": encoding,
    }
    return httpx.post(server.url + path, content=body, headers=headers, timeout=10)


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", _raw_deflate),
        ("GZIP", gzip.compress),
        ("identity", lambda data: data),
    ],
)
@pytest.mark.parametrize(("path", "body"), [("/v1/chat/completions", CHAT), ("/v1/messages", MESSAGES)])
def test_gzip_and_deflate_bodies_are_decoded(gateway, encoding, encode, path, body) -> None:
    answer = _post(gateway, path, encode(json.dumps(body).encode()), encoding)
    assert answer.status_code == 200, answer.text


def _assert_error(answer: httpx.Response, status: int, path: str) -> str:
    assert answer.status_code == status, answer.text
    payload = answer.json()
    if path == "/v1/messages":
        assert payload["type"] == "error" and set(payload["error"]) == {"type", "message"}
    else:
        assert set(payload["error"]) == {"message", "type", "param", "code"}
    return str(payload["error"]["message"])


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, br", "gzip, gzip"])
def test_other_codings_are_415(gateway, path: str, encoding: str) -> None:
    body = json.dumps(CHAT if path != "/v1/messages" else MESSAGES).encode()
    message = _assert_error(_post(gateway, path, body, encoding), 415, path)
    assert "gzip" in message


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_a_zip_bomb_is_413_and_bad_data_400(gateway, path: str) -> None:
    bomb = gzip.compress(b'{"model": "echo", "x": "' + b"0" * (64 * CAP) + b'"}')
    assert len(bomb) < CAP // 4
    _assert_error(_post(gateway, path, bomb, "gzip"), 413, path)
    _assert_error(_post(gateway, path, b'{"model": "echo"}', "gzip"), 400, path)
    _assert_error(_post(gateway, path, gzip.compress(b'{"model": "echo"')[:-6], "gzip"), 400, path)
    server, _ = gateway
    assert server.proc.poll() is None
