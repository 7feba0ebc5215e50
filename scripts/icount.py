"""Instructions per request under callgrind: a measure of CPU per request that does not move with
the load of a shared box (see scripts/icount).

Each server (Switchboard, the bare floor, and with `--baseline DIR` Switchboard from another
checkout) runs alone under `valgrind --tool=callgrind` on 127.0.0.1 with the same fake upstream and
configuration as scripts/bench's `sb` column (open gateway, EMF metrics to a file, the console on);
after a warm-up its counters are zeroed, N requests are sent at concurrency C, and the counters are
dumped: instructions executed in the server process (user space, every thread) divided by N.
Instructions are not time (no cache misses, no system calls), but a change that removes work shows
here on a machine where timings are noise. Bounded: N requests per server, ~1 minute each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench import body_for, free_port, open_gateway_config

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
HEADERS = {"content-type": "application/json"}


async def load(url: str, body: bytes, count: int, concurrency: int) -> None:
    async with aiohttp.ClientSession() as session:
        left = [count]

        async def worker() -> None:
            while left[0] > 0:
                left[0] -= 1
                async with session.post(url, data=body, headers=HEADERS) as response:
                    await response.read()
                    if response.status != 200:
                        raise SystemExit(f"{url}: HTTP {response.status}")

        await asyncio.gather(*[worker() for _ in range(concurrency)])


async def ready(url: str, body: bytes) -> None:
    for _ in range(300):  # valgrind starts Python slowly: up to a minute
        try:
            async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=HEADERS) as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


def instructions(dump: Path) -> int:
    found = re.search(r"^(?:summary|totals): (\d+)", dump.read_text(errors="replace"), re.M)
    if found is None:
        raise SystemExit(f"no totals in {dump}")
    return int(found.group(1))


def measure(
    name: str,
    argv: list[str],
    port: int,
    model: str,
    args: argparse.Namespace,
    tmp: Path,
    env: dict[str, str],
) -> float:
    url, body = f"http://127.0.0.1:{port}/v1/chat/completions", body_for(model)
    out = tmp / f"callgrind.{name}"
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        asyncio.run(ready(url, body))
        asyncio.run(load(url, body, args.warmup, args.concurrency))
        subprocess.run(["callgrind_control", "-z", str(server.pid)], check=True, capture_output=True)
        started = time.monotonic()
        asyncio.run(load(url, body, args.requests, args.concurrency))
        elapsed = time.monotonic() - started
        subprocess.run(["callgrind_control", "-d", str(server.pid)], check=True, capture_output=True)
        time.sleep(1.0)
        dumps = sorted(tmp.glob(f"callgrind.{name}.{server.pid}*"), key=lambda p: p.stat().st_mtime)
        per_request = instructions(dumps[-1]) / int(args.requests)
    finally:
        server.terminate()
        server.wait(30)
    thousands = per_request / 1000
    print(
        f"{name:>8}: {thousands:8.1f} k instructions / request ({args.requests} in {elapsed:.0f} s)",
        flush=True,
    )
    return per_request


def main() -> None:
    parser = argparse.ArgumentParser(prog="scripts/icount")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--baseline", metavar="DIR", help="also measure Switchboard from another checkout")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("valgrind not found: apt-get install valgrind")
    tmp = Path(tempfile.mkdtemp(prefix="sb-icount-"))
    up = free_port()
    env = {**os.environ, "BENCH_KEY": "sk-bench", "SWITCHBOARD_AUTH": "open"}
    config = open_gateway_config(tmp, up)
    upstream = subprocess.Popen(
        [PY, "-m", "switchboard.devtools.fake_upstream", "--port", str(up)],
        stdout=subprocess.DEVNULL,
        env=env,
    )
    serve = [
        str(Path(PY).parent / "switchboard"),
        "serve",
        "--config",
        str(config),
        "--log-level",
        "warning",
        "--port",
    ]
    results: dict[str, float] = {}
    try:
        port = free_port()
        results["sb"] = measure("sb", [*serve, str(port)], port, "bench", args, tmp, env)
        if args.baseline:
            port = free_port()
            base_env = {**env, "PYTHONPATH": str(Path(args.baseline).resolve() / "lambda_src")}
            results["sb-base"] = measure("sb-base", [*serve, str(port)], port, "bench", args, tmp, base_env)
        port = free_port()
        bare = [PY, str(ROOT / "scripts" / "bare_floor.py"), f"http://127.0.0.1:{up}/v1", str(port)]
        results["bare"] = measure("bare", bare, port, "fake", args, tmp, env)
    finally:
        upstream.terminate()
        shutil.rmtree(tmp, ignore_errors=True)
    for name in ("sb", "sb-base"):
        if name in results:
            print(f"{name} / bare floor: {results[name] / results['bare']:.2f}x")
    if "sb-base" in results:
        print(f"sb / sb-base: {results['sb'] / results['sb-base']:.3f}")


if __name__ == "__main__":
    main()
