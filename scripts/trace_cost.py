"""What tracing costs per request, in process: the gateway's ASGI app called directly (no server,
no client library) over an in-memory upstream, sequential requests, tracing off / on with a live
collector on 127.0.0.1 / on with a dead collector (a closed port) / on with sample_ratio 0.

Prints, per scenario, the median and mean time of one request through the app (the request path)
and the process CPU per request over the whole run (the exporter's encoding and POSTs included).
Usage: .venv/bin/python scripts/trace_cost.py [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import threading
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lambda_src"))

import orjson

from switchboard.app import create_app
from switchboard.config import Config, parse_config
from switchboard.upstream.credentials import Credentials
from switchboard.upstream.http import UpstreamRequest

ANSWER = orjson.dumps(
    {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
)
BODY = orjson.dumps({"model": "gpt", "messages": [{"role": "user", "content": "hello"}]})


class _Response:
    status = 200
    headers: Mapping[str, str] = {"content-type": "application/json"}

    async def chunks(self) -> AsyncIterator[bytes]:
        yield ANSWER

    async def read(self) -> bytes:
        return ANSWER

    async def aclose(self) -> None:
        return None


class _Upstream:
    async def send(self, request: UpstreamRequest) -> _Response:
        return _Response()

    async def aclose(self) -> None:
        return None


def config(telemetry: dict[str, Any]) -> Config:
    return parse_config(
        {
            "gateway": {"region": "bench", "auth": "open"},
            "store": {"backend": "memory"},
            "cache": {"enabled": False},
            "providers": {"a": {"type": "openai", "base_url": "https://a.example/v1", "api_key_env": "K"}},
            "models": {"gpt": {"targets": ["a/gpt-4o"]}},
            "telemetry": telemetry,
        },
        env={},
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def collector() -> tuple[str, list[int]]:
    """A live OTLP/HTTP receiver in its own thread; returns its URL and a list of posted sizes."""
    from aiohttp import web

    sizes: list[int] = []
    port = free_port()
    ready = threading.Event()

    async def traces(request: web.Request) -> web.Response:
        sizes.append(len(await request.read()))
        return web.json_response({})

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/v1/traces", traces)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()

    threading.Thread(target=asyncio.run, args=(main(),), daemon=True).start()
    ready.wait(5)
    return f"http://127.0.0.1:{port}", sizes


async def run(telemetry: dict[str, Any], requests: int) -> dict[str, float]:
    app = create_app(config(telemetry), transport=_Upstream(), credentials=Credentials(env={"K": "sk-x"}))
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))],
    }
    forever: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def one() -> float:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": BODY, "more_body": False}
            await forever
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            return None

        started = time.perf_counter()
        await app(scope, receive, send)
        return time.perf_counter() - started

    for _ in range(min(2000, requests)):  # warm-up
        await one()
    cpu = time.process_time()
    times = []
    for index in range(requests):
        times.append(await one())
        if index % 64 == 63:
            await asyncio.sleep(0)  # let the exporter's task run, as idle moments between requests do
    await asyncio.sleep(0)
    cpu = time.process_time() - cpu
    tracer = app.services.tracer
    sink = getattr(tracer, "sink", None)
    await app.aclose()
    return {
        "median_us": statistics.median(times) * 1e6,
        "mean_us": statistics.fmean(times) * 1e6,
        "cpu_us_per_request": cpu / requests * 1e6,
        "exported": getattr(sink, "exported", 0),
        "failed": getattr(sink, "failed", 0),
        "dropped": getattr(sink, "dropped", 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    live, sizes = collector()
    scenarios = {
        "off": {},
        "on, live collector": {"otlp_endpoint": live},
        "on, dead collector": {"otlp_endpoint": f"http://127.0.0.1:{free_port()}"},
        "on, sample_ratio 0": {"otlp_endpoint": live, "sample_ratio": 0.0},
    }
    for name, telemetry in scenarios.items():
        figures = asyncio.run(run(telemetry, args.requests))
        print(
            f"{name:22s} median {figures['median_us']:6.1f} us  mean {figures['mean_us']:6.1f} us  "
            f"cpu/request {figures['cpu_us_per_request']:6.1f} us  exported {figures['exported']:.0f}  "
            f"failed {figures['failed']:.0f}  dropped {figures['dropped']:.0f}"
        )
    print(f"collector received {len(sizes)} posts, {sum(sizes) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
