"""Gemini-dialect streams on a real uvicorn (loopback): both stream forms arrive incrementally (the
first chunk long before the last), the JSON-array form is one valid array with application/json,
and the SSE form carries only `data:` lines (what the google-genai SDKs can read)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from support import build_app, make_config, serve_in_thread

pytestmark = pytest.mark.loopback
BODY = {"contents": [{"role": "user", "parts": [{"text": "count"}]}]}
CHUNK_DELAY_S = 0.15


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    config = make_config({"models": {"slow": {"targets": ["mock/stream-4-150"]}}})
    with serve_in_thread(build_app(config)) as url:
        yield url


def _arrivals(base: str, path: str) -> tuple[httpx.Response, list[tuple[float, bytes]]]:
    started = time.monotonic()
    arrivals: list[tuple[float, bytes]] = []
    with (
        httpx.Client(base_url=base, timeout=20) as client,
        client.stream("POST", path, json=BODY) as response,
    ):
        for piece in response.iter_raw():
            if piece.strip():
                arrivals.append((time.monotonic() - started, piece))
    return response, arrivals


def test_json_array_stream_arrives_incrementally_and_parses(base: str) -> None:
    response, arrivals = _arrivals(base, "/v1beta/models/slow:streamGenerateContent")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    whole = b"".join(piece for _, piece in arrivals)
    chunks = json.loads(whole)
    assert isinstance(chunks, list)
    text = "".join(p.get("text", "") for c in chunks for p in c["candidates"][0]["content"]["parts"])
    assert text.split() == ["w1", "w2", "w3", "w4"]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert arrivals[-1][0] - arrivals[0][0] >= 2 * CHUNK_DELAY_S  # not buffered to the end


def test_sse_stream_arrives_incrementally_with_data_lines_only(base: str) -> None:
    response, arrivals = _arrivals(base, "/v1beta/models/slow:streamGenerateContent?alt=sse")
    assert response.headers["content-type"].startswith("text/event-stream")
    text = b"".join(piece for _, piece in arrivals).decode()
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines and all(line.startswith("data: ") for line in lines)
    assert json.loads(lines[-1][6:])["usageMetadata"]["candidatesTokenCount"] > 0
    assert arrivals[-1][0] - arrivals[0][0] >= 2 * CHUNK_DELAY_S
