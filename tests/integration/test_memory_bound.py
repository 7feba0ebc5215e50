"""Memory of a real `switchboard serve` stays bounded under sustained answers larger than
`max_response_bytes` (issue 16, item 2).

Each such answer is refused with a 502. The failed attempt's error used to keep the chain's frames
(the capped body read so far, the upstream response and its buffers) in a reference cycle; with the
collector tuned for latency (`tune_gc`) those cycles were collected rarely, and RSS grew by about
twice the cap per request (48 -> 1,522 MB after 300 requests at concurrency 50 with a 2 MiB cap).
The bound: baseline + cap x concurrency + a margin for allocator slack."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from real_serve import serve
from support import loop_thread

pytestmark = pytest.mark.loopback

CAP = 1024 * 1024
ANSWER = b'{"id": "' + b"x" * (CAP + CAP // 2) + b'"}'
CONCURRENCY, REQUESTS = 16, 192
MARGIN_MIB = 48


async def _oversized_upstream() -> asyncio.AbstractServer:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                await reader.readexactly(length)
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
                    % len(ANSWER)
                )
                for start in range(0, len(ANSWER), 65536):
                    writer.write(ANSWER[start : start + 65536])
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def test_rss_returns_within_the_bound_after_sustained_oversized_answers(tmp_path: Path) -> None:
    with loop_thread() as loop:
        upstream = asyncio.run_coroutine_threadsafe(_oversized_upstream(), loop).result(5)
        port = upstream.sockets[0].getsockname()[1]
        config = (
            f'[gateway]\nauth = "open"\nmax_response_bytes = {CAP}\n[store]\nbackend = "memory"\n'
            "[routing]\nbackoff_base_ms = 1\nbackoff_cap_ms = 5\n"
            f'[providers.up]\ntype = "openai"\nbase_url = "http://127.0.0.1:{port}/v1"\napi_key_env = "UP_KEY"\n'
            '[models.big]\ntargets = ["up/big"]\n'
        )
        with serve(tmp_path, config, {"UP_KEY": "sk-test"}) as (server, _):
            body = {"model": "big", "messages": [{"role": "user", "content": "hi"}]}
            with httpx.Client(base_url=server.url, timeout=30) as client:
                assert client.post("/v1/chat/completions", json=body).status_code == 502  # warm
                baseline = server.rss_mib()

                def one(_: int) -> int:
                    return client.post("/v1/chat/completions", json=body).status_code

                curve = []
                with ThreadPoolExecutor(CONCURRENCY) as pool:
                    for _ in range(4):
                        statuses = list(pool.map(one, range(REQUESTS // 4)))
                        assert set(statuses) == {502}
                        curve.append(round(server.rss_mib()))
            bound = baseline + CAP * CONCURRENCY / 2**20 + MARGIN_MIB
            assert max(curve) < bound, f"RSS {baseline:.0f} MiB -> {curve} MiB (bound {bound:.0f})"
        asyncio.run_coroutine_threadsafe(_close(upstream), loop).result(5)


async def _close(server: asyncio.AbstractServer) -> None:
    server.close()
    await server.wait_closed()
