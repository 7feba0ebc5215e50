"""Switchboard benchmark (see scripts/bench). Loopback only, bounded in count and time.

Three servers answer the same OpenAI-compatible requests:
  direct  - the fake upstream itself (switchboard.devtools.fake_upstream), pinned to core 1
  floor   - a minimal FastAPI + aiohttp pass-through (scripts/floor_proxy.py), pinned to core 0
  sb      - Switchboard (`switchboard serve`, timing headers and EMF metrics on), pinned to core 0
The load generator runs on core 1. "Added" is through-the-proxy minus direct, same percentile,
same run; CPU per request comes from the server process's own utime+stime (/proc), so it does not
depend on how fast the load generator is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
TICK = os.sysconf("SC_CLK_TCK")
STORE_LATENCY_MS = 5
BODY = {
    "messages": [{"role": "user", "content": "Say hello in one short sentence, please."}],
    "max_tokens": 50,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(core: int, argv: list[str]) -> list[str]:
    return (
        ["taskset", "-c", str(core), *argv]
        if shutil.which("taskset") and os.cpu_count() and os.cpu_count() > 1
        else argv
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


JSON_HEADERS = {"content-type": "application/json"}


async def wait_ready(
    url: str, body: bytes | None = None, limit_s: float = 20.0, headers: dict[str, str] = JSON_HEADERS
) -> float:
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                if body is None:
                    async with session.get(url) as response:
                        if response.status < 500:
                            return time.perf_counter() - started
                else:
                    async with session.post(url, data=body, headers=headers) as response:
                        if response.status == 200:
                            await response.read()
                            return time.perf_counter() - started
            except aiohttp.ClientError:
                pass
            if time.perf_counter() - started > limit_s:
                raise RuntimeError(f"{url} did not come up")
            await asyncio.sleep(0.005)


def body_for(model: str, stream: bool = False) -> bytes:
    return orjson.dumps({**BODY, "model": model, **({"stream": True} if stream else {})})


async def latency_c1(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    count: int,
    headers: dict[str, str] = JSON_HEADERS,
) -> list[float]:
    out = []
    for _ in range(count):
        started = time.perf_counter()
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            assert response.status == 200, response.status
        out.append((time.perf_counter() - started) * 1000)
    return out


async def throughput(
    url: str,
    body: bytes,
    pid: int | None,
    concurrency: int,
    seconds: float,
    headers: dict[str, str] = JSON_HEADERS,
) -> dict[str, float]:
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    assert response.status == 200, response.status
                latencies.append((time.perf_counter() - started) * 1000)

        await latency_c1(session, url, body, 50, headers)  # warm connections
        cpu0 = cpu_seconds(pid) if pid else 0.0
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu = (cpu_seconds(pid) - cpu0) if pid else 0.0
    done = len(latencies)
    return {
        "rps": done / elapsed,
        "cpu_us_per_request": cpu / done * 1e6 if pid else 0.0,
        "requests": done,
        "p50_ms": pct(latencies, 0.5),
        "p99_ms": pct(latencies, 0.99),
    }


async def one_stream(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str] = JSON_HEADERS
) -> tuple[float, list[float]]:
    """(time to first content chunk in ms, per-chunk delays upstream-send -> client-receive in ms)."""
    started = time.perf_counter()
    ttft = None
    delays: list[float] = []
    buffer = b""
    async with session.post(url, data=body, headers=headers) as response:
        async for data in response.content.iter_any():
            now_ns = time.time_ns()
            buffer += data
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                if not event.startswith(b"data: {"):
                    continue
                content = orjson.loads(event[6:])["choices"][0]["delta"].get("content")
                if content and content.isdigit():
                    if ttft is None:
                        ttft = (time.perf_counter() - started) * 1000
                    delays.append((now_ns - int(content)) / 1e6)
    assert ttft is not None
    return ttft, delays


async def streaming(
    url: str, body: bytes, count: int, headers: dict[str, str] = JSON_HEADERS
) -> dict[str, float]:
    async with aiohttp.ClientSession() as session:
        await one_stream(session, url, body, headers)
        ttfts, delays = [], []
        for _ in range(count):
            ttft, chunk_delays = await one_stream(session, url, body, headers)
            ttfts.append(ttft)
            delays.append(statistics.median(chunk_delays))
    return {"ttft_p50_ms": statistics.median(ttfts), "chunk_delay_p50_ms": statistics.median(delays)}


def start_to_first_response(config_path: Path, upstream_port: int, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        port = free_port()
        started = time.perf_counter()
        proc = subprocess.Popen(
            pinned(
                0,
                [
                    str(Path(PY).parent / "switchboard"),
                    "serve",
                    "--config",
                    str(config_path),
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                ],
            ),
            env={**os.environ, "BENCH_KEY": "sk-bench"},
        )
        try:
            elapsed = asyncio.run(
                wait_ready(f"http://127.0.0.1:{port}/v1/chat/completions", body_for("bench"))
            )
            out.append((time.perf_counter() - started) if elapsed else 0.0)
        finally:
            proc.terminate()
            proc.wait(10)
    return out


def translation_cost(repeats: int = 3000) -> dict[str, float]:
    """In-process: splitting + checking recorded stream events, passed through (OpenAI) vs translated
    (Anthropic -> OpenAI chunks), microseconds per upstream event (median of 5)."""
    from switchboard.providers.anthropic import AnthropicStream
    from switchboard.wire.sse import SSESplitter, error_payload, is_done

    fixtures = ROOT / "tests" / "fixtures" / "providers"
    anthropic = (fixtures / "anthropic" / "stream_text.sse").read_bytes()
    openai = (fixtures / "openai" / "stream_text.sse").read_bytes()

    def per_event(data: bytes, translate: bool) -> float:
        started, events = time.perf_counter(), 0
        for _ in range(repeats):
            translator = AnthropicStream(True, 1) if translate else None
            for event in SSESplitter().feed(data):
                for out in translator.feed(event) if translator else (event,):
                    is_done(out)
                    error_payload(out)
                events += 1
        return (time.perf_counter() - started) / events * 1e6

    passthrough = statistics.median(per_event(openai, False) for _ in range(5))
    translated = statistics.median(per_event(anthropic, True) for _ in range(5))
    return {"passthrough_us": passthrough, "anthropic_us": translated, "added_us": translated - passthrough}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    parser.add_argument("--out", default=None)
    parser.add_argument("--concurrency", type=int, default=50, help="concurrency of the throughput phase")
    parser.add_argument(
        "--transport",
        default="aiohttp",
        choices=["aiohttp", "httpx"],
        help="Switchboard's connection layer under httpx (to compare the two)",
    )
    args = parser.parse_args()
    n_c1, rounds, seconds, n_stream = (200, 2, 2.0, 20) if args.quick else (500, 4, 3.0, 60)
    c50_rounds = 1 if args.quick else 3

    tmp = Path(tempfile.mkdtemp(prefix="sb-bench-"))
    up_port, floor_port, sb_port, store_port = free_port(), free_port(), free_port(), free_port()
    config = tmp / "bench.toml"
    common = f"""
[providers.up]
type = "openai"
base_url = "http://127.0.0.1:{up_port}/v1"
api_key_env = "BENCH_KEY"

[models.bench]
targets = ["up/fake"]

[models.bench-stream]
targets = ["up/stream-20-5"]
"""
    # "sb+store": keys, rpm/tpm limits, usage accounting and the cache on, against a store that
    # answers every call after 5 ms (a local SQLite file behind a simulated network round-trip)
    store_config = tmp / "bench-store.toml"
    store_config.write_text(
        f"""
[gateway]
region = "bench"
metrics = "{tmp / "emf-store.jsonl"}"

[store]
backend = "sqlite"
path = "{tmp / "state.db"}"
simulated_latency_ms = {STORE_LATENCY_MS}
{common}"""
    )
    created = subprocess.run(
        [
            str(Path(PY).parent / "switchboard"),
            "keys",
            "create",
            "--tenant",
            "bench",
            "--name",
            "bench",
            "--rpm",
            "100000000",
            "--tpm",
            "100000000000",
            "--budget-tokens-per-day",
            "100000000000",
            "--config",
            str(store_config),
            "--json",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    key_headers = {**JSON_HEADERS, "authorization": f"Bearer {json.loads(created.stdout)['key']}"}
    cached_headers = {**key_headers, "cache-control": "max-age=600"}
    config.write_text(
        f"""
[gateway]
region = "bench"
metrics = "{tmp / "emf.jsonl"}"

[store]
path = "{tmp / "open.db"}"

{common}"""
    )
    env = {**os.environ, "BENCH_KEY": "sk-bench"}
    procs = [
        subprocess.Popen(
            pinned(1, [PY, "-m", "switchboard.devtools.fake_upstream", "--port", str(up_port)]),
            stdout=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            pinned(
                0,
                [
                    PY,
                    str(ROOT / "scripts" / "floor_proxy.py"),
                    f"http://127.0.0.1:{up_port}/v1",
                    str(floor_port),
                ],
            )
        ),
        subprocess.Popen(
            pinned(
                0,
                [
                    str(Path(PY).parent / "switchboard"),
                    "serve",
                    "--config",
                    str(config),
                    "--port",
                    str(sb_port),
                    "--log-level",
                    "warning",
                ],
            ),
            env=env,
        ),
        subprocess.Popen(
            pinned(
                0,
                [
                    str(Path(PY).parent / "switchboard"),
                    "serve",
                    "--config",
                    str(store_config),
                    "--port",
                    str(store_port),
                    "--log-level",
                    "warning",
                ],
            ),
            env=env,
        ),
    ]
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the load generator shares core 1 with the upstream
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "transport": args.transport,
        "store_latency_ms": STORE_LATENCY_MS,
        "concurrency": args.concurrency,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "unknown",
        ),
    }
    try:
        targets = {
            "direct": (
                f"http://127.0.0.1:{up_port}/v1/chat/completions",
                body_for("fake"),
                body_for("stream-20-5", True),
                procs[0].pid,
                JSON_HEADERS,
            ),
            "floor": (
                f"http://127.0.0.1:{floor_port}/v1/chat/completions",
                body_for("fake"),
                body_for("stream-20-5", True),
                procs[1].pid,
                JSON_HEADERS,
            ),
            "sb": (
                f"http://127.0.0.1:{sb_port}/v1/chat/completions",
                body_for("bench"),
                body_for("bench-stream", True),
                procs[2].pid,
                JSON_HEADERS,
            ),
            "store": (
                f"http://127.0.0.1:{store_port}/v1/chat/completions",
                body_for("bench"),
                body_for("bench-stream", True),
                procs[3].pid,
                key_headers,
            ),
        }

        async def run_all() -> None:
            for url, body, _, _, headers in targets.values():
                await wait_ready(url, body, headers=headers)
            # c=1 latency: rounds interleaved so drift hits every target alike
            lat: dict[str, list[float]] = {name: [] for name in (*targets, "cache_hit")}
            store_url, store_body = targets["store"][0], targets["store"][1]
            async with aiohttp.ClientSession() as session:
                for url, body, _, _, headers in targets.values():
                    await latency_c1(session, url, body, 100, headers)  # warm-up
                await latency_c1(session, store_url, store_body, 10, cached_headers)
                for _ in range(rounds):
                    for name, (url, body, _, _, headers) in targets.items():
                        lat[name] += await latency_c1(session, url, body, n_c1, headers)
                    lat["cache_hit"] += await latency_c1(session, store_url, store_body, n_c1, cached_headers)
            for name, values in lat.items():
                results[f"{name}_c1"] = {
                    "p50_ms": pct(values, 0.5),
                    "p99_ms": pct(values, 0.99),
                    "n": len(values),
                }
            # c=50: rounds interleaved too; each figure is the median over the rounds
            per_round: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
            for _ in range(c50_rounds):
                for name, (url, body, _, pid, headers) in targets.items():
                    per_round[name].append(
                        await throughput(url, body, pid, args.concurrency, seconds, headers)
                    )
            for name, measured in per_round.items():
                results[f"{name}_c50"] = {
                    field: statistics.median(m[field] for m in measured) for field in measured[0]
                }
            for name, (url, _, sbody, _, headers) in targets.items():
                results[f"{name}_stream"] = await streaming(url, sbody, n_stream, headers)

        asyncio.run(run_all())
        # overhead as Switchboard itself reports it, from the EMF records it wrote
        records = [orjson.loads(line) for line in (tmp / "emf.jsonl").read_text().splitlines() if line]
        overheads = [
            r["OverheadMs"][0] if isinstance(r["OverheadMs"], list) else r["OverheadMs"] for r in records
        ]
        results["sb_reported_overhead_p50_ms"] = statistics.median(overheads) if overheads else None
        results["emf_records"] = len(records)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)
    # process start -> first served chat completion (upstream up, gateway started cold each time)
    up = subprocess.Popen(
        pinned(1, [PY, "-m", "switchboard.devtools.fake_upstream", "--port", str(up_port)]),
        stdout=subprocess.DEVNULL,
    )
    try:
        asyncio.run(wait_ready(f"http://127.0.0.1:{up_port}/v1/chat/completions", body_for("fake")))
        starts = start_to_first_response(config, up_port, 3 if not args.quick else 1)
        results["start_to_first_response_s"] = statistics.median(starts)
    finally:
        up.terminate()
        up.wait(10)
    results["translation"] = translation_cost()
    report(results, args.out)
    shutil.rmtree(tmp, ignore_errors=True)


def report(r: dict[str, Any], out: str | None) -> None:
    d, f, s = r["direct_c1"], r["floor_c1"], r["sb_c1"]
    r["added"] = {
        "sb_p50_ms": s["p50_ms"] - d["p50_ms"],
        "sb_p99_ms": s["p99_ms"] - d["p99_ms"],
        "floor_p50_ms": f["p50_ms"] - d["p50_ms"],
        "floor_p99_ms": f["p99_ms"] - d["p99_ms"],
        "sb_ttft_ms": r["sb_stream"]["ttft_p50_ms"] - r["direct_stream"]["ttft_p50_ms"],
        "floor_ttft_ms": r["floor_stream"]["ttft_p50_ms"] - r["direct_stream"]["ttft_p50_ms"],
        "sb_chunk_ms": r["sb_stream"]["chunk_delay_p50_ms"] - r["direct_stream"]["chunk_delay_p50_ms"],
        "floor_chunk_ms": r["floor_stream"]["chunk_delay_p50_ms"] - r["direct_stream"]["chunk_delay_p50_ms"],
    }
    a = r["added"]
    cpu_ratio = r["sb_c50"]["cpu_us_per_request"] / r["floor_c50"]["cpu_us_per_request"]
    r["cpu_ratio_sb_vs_floor"] = cpu_ratio
    rows = [
        ("added latency p50, c=1 (ms)", f"{a['floor_p50_ms']:.3f}", f"{a['sb_p50_ms']:.3f}", "<= 0.5"),
        ("added latency p99, c=1 (ms)", f"{a['floor_p99_ms']:.3f}", f"{a['sb_p99_ms']:.3f}", "<= 1.0"),
        (
            f"req/s, c={r['concurrency']} (client-bound)",
            f"{r['floor_c50']['rps']:.0f}",
            f"{r['sb_c50']['rps']:.0f}",
            "",
        ),
        (
            f"latency p50 / p99, c={r['concurrency']} (ms)",
            f"{r['floor_c50']['p50_ms']:.2f} / {r['floor_c50']['p99_ms']:.2f}",
            f"{r['sb_c50']['p50_ms']:.2f} / {r['sb_c50']['p99_ms']:.2f}",
            f"direct {r['direct_c50']['p50_ms']:.2f} / {r['direct_c50']['p99_ms']:.2f}",
        ),
        (
            f"CPU us / request, c={r['concurrency']}",
            f"{r['floor_c50']['cpu_us_per_request']:.0f}",
            f"{r['sb_c50']['cpu_us_per_request']:.0f}",
            f"<= 1.5x floor (is {cpu_ratio:.2f}x)",
        ),
        ("stream TTFT added (ms)", f"{a['floor_ttft_ms']:.3f}", f"{a['sb_ttft_ms']:.3f}", "<= 1.2"),
        ("per-chunk relay added (ms)", f"{a['floor_chunk_ms']:.3f}", f"{a['sb_chunk_ms']:.3f}", "<= 0.25"),
        ("process start -> first response (s)", "", f"{r['start_to_first_response_s']:.3f}", "<= 0.6"),
        (
            "Anthropic stream translation added / event (ms)",
            "",
            f"{r['translation']['added_us'] / 1000:.4f}",
            "<= 0.1",
        ),
    ]
    print(f"\nSwitchboard benchmark - {r['date']} - {r['machine']} - {r['cpu']} - transport {r['transport']}")
    print(
        f"direct upstream c=1: p50 {r['direct_c1']['p50_ms']:.3f} ms, p99 {r['direct_c1']['p99_ms']:.3f} ms; "
        f"Switchboard's own reported overhead p50 {r['sb_reported_overhead_p50_ms']:.3f} ms "
        f"over {r['emf_records']} EMF records\n"
    )
    print(f"| {'metric':<38} | {'floor (FastAPI+aiohttp)':>23} | {'Switchboard':>11} | target |")
    print(f"|{'-' * 40}|{'-' * 25}|{'-' * 13}|--------|")
    for name, floor, sb, target in rows:
        print(f"| {name:<38} | {floor:>23} | {sb:>11} | {target} |")
    st, stc = r["store_c1"], r["store_c50"]
    r["store_added"] = {
        "p50_ms": st["p50_ms"] - d["p50_ms"],
        "p99_ms": st["p99_ms"] - d["p99_ms"],
        "p50_vs_sb_ms": st["p50_ms"] - s["p50_ms"],
        "p99_vs_sb_ms": st["p99_ms"] - s["p99_ms"],
        "ttft_ms": r["store_stream"]["ttft_p50_ms"] - r["direct_stream"]["ttft_p50_ms"],
    }
    sa = r["store_added"]
    store_rows = [
        ("added latency p50, c=1 (ms)", a["sb_p50_ms"], sa["p50_ms"], sa["p50_vs_sb_ms"], "<= +0.3"),
        ("added latency p99, c=1 (ms)", a["sb_p99_ms"], sa["p99_ms"], sa["p99_vs_sb_ms"], ""),
        (
            f"CPU us / request, c={r['concurrency']}",
            r["sb_c50"]["cpu_us_per_request"],
            stc["cpu_us_per_request"],
            stc["cpu_us_per_request"] - r["sb_c50"]["cpu_us_per_request"],
            "",
        ),
        (
            f"latency p99, c={r['concurrency']} (ms)",
            r["sb_c50"]["p99_ms"],
            stc["p99_ms"],
            stc["p99_ms"] - r["sb_c50"]["p99_ms"],
            "",
        ),
        ("stream TTFT added (ms)", a["sb_ttft_ms"], sa["ttft_ms"], sa["ttft_ms"] - a["sb_ttft_ms"], ""),
    ]
    print(
        f"\nWith keys, rpm/tpm/daily limits, usage accounting and the cache on, against a store that "
        f"answers every call after {r['store_latency_ms']} ms:\n"
    )
    print(f"| {'metric':<38} | {'no store':>9} | {'+ store':>9} | {'difference':>10} | target |")
    print(f"|{'-' * 40}|{'-' * 11}|{'-' * 11}|{'-' * 12}|--------|")
    for name, plain, with_store, diff, target in store_rows:
        print(f"| {name:<38} | {plain:>9.3f} | {with_store:>9.3f} | {diff:>+10.3f} | {target} |")
    hit = r["cache_hit_c1"]
    print(
        f"\nCache hit (in-process tier), c=1: p50 {hit['p50_ms']:.3f} ms, p99 {hit['p99_ms']:.3f} ms "
        f"(direct upstream call: p50 {d['p50_ms']:.3f} ms)"
    )
    out_path = Path(out) if out else ROOT / "bench-results" / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(r, indent=2))
    print(f"\nJSON: {out_path}")


if __name__ == "__main__":
    main()
