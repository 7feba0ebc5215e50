"""Switchboard benchmark (see scripts/bench). Loopback only, bounded in count and time.

The same OpenAI-compatible requests go to:
  direct   - the fake upstream itself (switchboard.devtools.fake_upstream), pinned to core 1
  floor    - a minimal FastAPI + aiohttp pass-through (scripts/floor_proxy.py), pinned to core 0
  bare     - a bare ASGI callable + aiohttp pass-through, GC tuned, served like Switchboard
             (scripts/bare_floor.py): the honest Python floor, pinned to core 0
  sb       - Switchboard from this checkout (`switchboard serve`, timing headers and EMF metrics
             on), pinned to core 0
  sb_base  - with `--baseline DIR`: Switchboard from another checkout (DIR/lambda_src first on
             PYTHONPATH, same venv), same config, pinned to core 0: before/after in one run
  store    - Switchboard with keys, limits, usage and the cache on a store with 5 ms latency
The load generator runs on core 1. "Added" is through-the-proxy minus direct, same percentile,
same run; CPU per request comes from the server process's own utime+stime (/proc), so it does not
depend on how fast the load generator is. Every phase runs in rounds interleaved across the
servers (the order rotated each round), so slow drift on a shared box hits every server alike.
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
from dataclasses import dataclass
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
JSON_HEADERS = {"content-type": "application/json"}
# the issue-9 targets, all relative to the bare floor
TARGET_CPU_RATIO = 1.5
TARGET_TTFT_MS = 0.3
TARGET_CHUNK_MS = 0.05
TARGET_P50_MS = 0.1
LABELS = {
    "floor": "floor FastAPI",
    "bare": "floor bare ASGI",
    "sb": "Switchboard",
    "sb_base": "sb-base",
}


@dataclass
class Server:
    name: str
    url: str
    body: bytes
    stream_body: bytes
    pid: int
    headers: dict[str, str]


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


def rotated(items: list[Any], shift: int) -> list[Any]:
    shift %= len(items)
    return items[shift:] + items[:shift]


def quiet(directory: Path) -> list[str]:
    """`--no-access-log` for a checkout that has the access log (on by default in `serve`; older
    checkouts have no such flag): benchmarks measure the gateway, not a terminal full of lines."""
    return (
        ["--no-access-log"]
        if (directory / "lambda_src/switchboard/telemetry/access_log.py").is_file()
        else []
    )


def checkout_of(env: dict[str, str]) -> Path:
    """The checkout an environment of `checkout_env` serves from (this one without PYTHONPATH)."""
    first = env.get("PYTHONPATH", "").split(os.pathsep)[0]
    return Path(first).parent if first.endswith("lambda_src") else ROOT


def serve_argv(config: Path, port: int, extra: list[str] | None = None) -> list[str]:
    # the venv's console script (`from switchboard.cli import main`): with --baseline, PYTHONPATH
    # puts the other checkout's package first, so the same command serves the other version
    return [
        str(Path(PY).parent / "switchboard"),
        "serve",
        "--config",
        str(config),
        "--port",
        str(port),
        "--log-level",
        "warning",
        *(extra if extra is not None else quiet(ROOT)),
    ]


def checkout_env(directory: Path, option: str) -> dict[str, str]:
    """The environment that serves Switchboard from `directory` (its lambda_src first on PYTHONPATH)."""
    src = directory / "lambda_src"
    if not (src / "switchboard" / "__init__.py").is_file():
        raise SystemExit(f"{option} {directory}: no lambda_src/switchboard package there")
    env = {**os.environ, "BENCH_KEY": "sk-bench", "SWITCHBOARD_AUTH": "open"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), os.environ.get("PYTHONPATH", "")) if p)
    found = subprocess.run(
        [PY, "-c", "import switchboard.cli, switchboard; print(switchboard.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    if not Path(found).resolve().is_relative_to(src.resolve()):
        raise SystemExit(f"{option} {directory}: switchboard imports from {found}, not from {src}")
    return env


def describe_checkout(directory: Path) -> str:
    def git(*argv: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(directory), *argv], capture_output=True, text=True, check=False, timeout=30
        )
        return done.stdout.strip()

    commit = git("rev-parse", "--show-toplevel") == str(directory) and git("rev-parse", "--short", "HEAD")
    if not commit:
        return str(directory)
    dirty = git("status", "--porcelain", "--", "lambda_src")
    return f"{directory} @ {commit}{' + uncommitted changes in lambda_src' if dirty else ''}"


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


async def streams(
    session: aiohttp.ClientSession, server: Server, count: int
) -> tuple[list[float], list[float], float]:
    """`count` streams one after the other: (TTFTs, per-stream median chunk delays, server CPU s)."""
    cpu0 = cpu_seconds(server.pid)
    ttfts, delays = [], []
    for _ in range(count):
        ttft, chunk_delays = await one_stream(session, server.url, server.stream_body, server.headers)
        ttfts.append(ttft)
        delays.append(statistics.median(chunk_delays))
    return ttfts, delays, cpu_seconds(server.pid) - cpu0


def start_to_first_response(
    config_path: Path, envs: dict[str, dict[str, str]], repeats: int
) -> dict[str, list[float]]:
    """Process start -> first served completion, the versions interleaved."""
    out: dict[str, list[float]] = {name: [] for name in envs}
    for _ in range(repeats):
        for name, env in envs.items():
            port = free_port()
            started = time.perf_counter()
            argv = serve_argv(config_path, port, quiet(checkout_of(env)))
            proc = subprocess.Popen(pinned(0, argv), env=env)
            try:
                asyncio.run(wait_ready(f"http://127.0.0.1:{port}/v1/chat/completions", body_for("bench")))
                out[name].append(time.perf_counter() - started)
            finally:
                proc.terminate()
                proc.wait(10)
    return out


def translation_cost(repeats: int = 3000) -> dict[str, float]:
    """In-process: splitting + checking recorded stream events, passed through (OpenAI) vs translated
    (Anthropic -> OpenAI chunks), microseconds per upstream event (median of 5)."""
    from switchboard.providers.anthropic import AnthropicStream
    from switchboard.wire.openai import error_payload, is_done
    from switchboard.wire.sse import SSESplitter

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


def emf_overhead(path: Path) -> tuple[float | None, int]:
    if not path.exists():
        return None, 0
    records = [orjson.loads(line) for line in path.read_text().splitlines() if line]
    overheads = [
        r["OverheadMs"][0] if isinstance(r["OverheadMs"], list) else r["OverheadMs"]
        for r in records
        if "OverheadMs" in r
    ]
    return (statistics.median(overheads) if overheads else None), len(records)


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
    parser.add_argument(
        "--baseline",
        metavar="DIR",
        default=None,
        help="also run Switchboard from another checkout (e.g. a git worktree of an older commit) "
        "as column sb-base: DIR/lambda_src goes first on PYTHONPATH, same venv",
    )
    parser.add_argument(
        "--sb",
        metavar="DIR",
        default=None,
        help="serve the sb column (and the store server) from DIR instead of this working tree, e.g. an "
        "export of HEAD while lambda_src/ here is mid-edit (git archive HEAD lambda_src | tar -x -C DIR)",
    )
    parser.add_argument("--no-store", action="store_true", help="skip the keys/limits/store server")
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="serve the sb column with the access log on (to a file); compare with --baseline pointing "
        "at the same code, whose access log stays off",
    )
    parser.add_argument(
        "--no-console",
        action="store_true",
        help="serve the sb column with [admin] enabled = false (no request ring, no per-minute "
        "aggregates); compare with --baseline pointing at the same code, where they are on",
    )
    parser.add_argument(
        "--otlp",
        default=None,
        help="serve the sb column with tracing on, exporting to this OTLP/HTTP endpoint (e.g. a closed "
        "port: a dead collector); compare with --baseline pointing at the same code",
    )
    args = parser.parse_args()
    # c=1: rounds x requests per server; c=50: rounds x seconds; streams: total, in rounds
    n_c1, rounds, seconds, n_stream = (100, 3, 2.0, 20) if args.quick else (200, 10, 2.0, 60)
    c50_rounds = 1 if args.quick else 5
    stream_rounds = 2 if args.quick else 6

    sb_dir = Path(args.sb).resolve() if args.sb else ROOT
    env = (
        checkout_env(sb_dir, "--sb")
        if args.sb
        else {**os.environ, "BENCH_KEY": "sk-bench", "SWITCHBOARD_AUTH": "open"}
    )
    if args.sb:
        sys.path.insert(0, str(sb_dir / "lambda_src"))  # the in-process translation measurement
    base_env = checkout_env(Path(args.baseline).resolve(), "--baseline") if args.baseline else None

    tmp = Path(tempfile.mkdtemp(prefix="sb-bench-"))
    up_port, floor_port, bare_port, sb_port = free_port(), free_port(), free_port(), free_port()
    base_port, store_port = free_port(), free_port()
    common = upstream_models(up_port, "stream-20-5")

    def open_config(tag: str, telemetry: str = "") -> Path:
        path = tmp / f"bench{tag}.toml"
        path.write_text(
            f"""
[gateway]
region = "bench"
metrics = "{tmp / f"emf{tag}.jsonl"}"
transport = "{args.transport}"

[store]
path = "{tmp / f"open{tag}.db"}"
{telemetry}{common}"""
        )
        return path

    telemetry = f'[telemetry]\notlp_endpoint = "{args.otlp}"\n' if args.otlp else ""
    config = open_config("", telemetry + ("[admin]\nenabled = false\n" if args.no_console else ""))
    base_config = open_config("-base")
    key_headers: dict[str, str] = {}
    store_config = tmp / "bench-store.toml"
    if not args.no_store:
        # "store": keys, rpm/tpm limits, usage accounting and the cache on, against a store that
        # answers every call after 5 ms (a local SQLite file behind a simulated network round-trip)
        store_config.write_text(
            f"""
[gateway]
region = "bench"
metrics = "{tmp / "emf-store.jsonl"}"
transport = "{args.transport}"

[store]
backend = "sqlite"
path = "{tmp / "state.db"}"
simulated_latency_ms = {STORE_LATENCY_MS}
{common}"""
        )
        created = subprocess.run(
            [
                str(Path(PY).parent / "switchboard"),
                *("keys", "create", "--tenant", "bench", "--name", "bench"),
                *("--rpm", "100000000", "--tpm", "100000000000"),
                *("--budget-tokens-per-day", "100000000000"),
                *("--config", str(store_config), "--json"),
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        key_headers = {**JSON_HEADERS, "authorization": f"Bearer {json.loads(created.stdout)['key']}"}
    cached_headers = {**key_headers, "cache-control": "max-age=600"}
    upstream_v1 = f"http://127.0.0.1:{up_port}/v1"
    sb_extra = [] if args.access_log else quiet(sb_dir)
    launches: list[tuple[str, int, list[str], dict[str, str]]] = [
        (
            "direct",
            up_port,
            pinned(1, [PY, "-m", "switchboard.devtools.fake_upstream", "--port", str(up_port)]),
            env,
        ),
        (
            "floor",
            floor_port,
            pinned(0, [PY, str(ROOT / "scripts" / "floor_proxy.py"), upstream_v1, str(floor_port)]),
            env,
        ),
        (
            "bare",
            bare_port,
            pinned(0, [PY, str(ROOT / "scripts" / "bare_floor.py"), upstream_v1, str(bare_port)]),
            env,
        ),
        (
            "sb",
            sb_port,
            pinned(0, serve_argv(config, sb_port, sb_extra)),
            env,
        ),
    ]
    if base_env is not None:
        base_quiet = quiet(Path(args.baseline).resolve())
        launches.append(
            ("sb_base", base_port, pinned(0, serve_argv(base_config, base_port, base_quiet)), base_env)
        )
    if not args.no_store:
        launches.append(("store", store_port, pinned(0, serve_argv(store_config, store_port)), env))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for name, _, argv, proc_env in launches:
        access_log = (tmp / "access.log").open("ab") if name == "sb" and args.access_log else None
        procs[name] = subprocess.Popen(
            argv, env=proc_env, stdout=subprocess.DEVNULL if name == "direct" else None, stderr=access_log
        )
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the load generator shares core 1 with the upstream
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "transport": args.transport,
        "store_latency_ms": STORE_LATENCY_MS,
        "concurrency": args.concurrency,
        "quick": args.quick,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "unknown",
        ),
        "sb_checkout": describe_checkout(sb_dir),
        "sb_base_checkout": describe_checkout(Path(args.baseline).resolve()) if args.baseline else None,
        "servers": [name for name, *_ in launches],
        "loadavg_before": Path("/proc/loadavg").read_text().split()[:3],
    }
    bench_model = {"direct": "fake", "floor": "fake", "bare": "fake"}
    servers = {
        name: Server(
            name=name,
            url=f"http://127.0.0.1:{port}/v1/chat/completions",
            body=body_for(bench_model.get(name, "bench")),
            stream_body=body_for("stream-20-5" if name in bench_model else "bench-stream", True),
            pid=procs[name].pid,
            headers=key_headers if name == "store" else JSON_HEADERS,
        )
        for name, port, _, _ in launches
    }
    order = list(servers.values())
    try:

        async def run_all() -> None:
            for server in order:
                await wait_ready(server.url, server.body, headers=server.headers)
            # c=1 latency: short rounds interleaved (order rotated) so drift and bursts of other
            # load hit every server alike; the figures compared are medians over the rounds of
            # per-round differences (each server against direct and against the bare floor)
            lat: dict[str, list[list[float]]] = {name: [] for name in servers}
            lat["cache_hit"] = []
            async with aiohttp.ClientSession() as session:
                for server in order:
                    await latency_c1(session, server.url, server.body, 100, server.headers)  # warm-up
                if "store" in servers:
                    store = servers["store"]
                    await latency_c1(session, store.url, store.body, 10, cached_headers)
                for round_no in range(rounds):
                    for server in rotated(order, round_no):
                        lat[server.name].append(
                            await latency_c1(session, server.url, server.body, n_c1, server.headers)
                        )
                    if "store" in servers:
                        lat["cache_hit"].append(
                            await latency_c1(session, store.url, store.body, n_c1, cached_headers)
                        )
            for name, per_round in lat.items():
                if per_round:
                    pooled = [v for values in per_round for v in values]
                    results[f"{name}_c1"] = {
                        "p50_ms": statistics.median(pct(values, 0.5) for values in per_round),
                        "p99_ms": pct(pooled, 0.99),
                        "n": len(pooled),
                        "p50_rounds": [pct(values, 0.5) for values in per_round],
                    }
            # c=50: rounds interleaved too; each figure is the median over the rounds
            per_round: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
            for round_no in range(c50_rounds):
                for server in rotated(order, round_no):
                    per_round[server.name].append(
                        await throughput(
                            server.url, server.body, server.pid, args.concurrency, seconds, server.headers
                        )
                    )
            for name, measured in per_round.items():
                results[f"{name}_c50"] = {
                    field: statistics.median(m[field] for m in measured) for field in measured[0]
                }
                results[f"{name}_c50"]["cpu_us_per_request_rounds"] = [
                    m["cpu_us_per_request"] for m in measured
                ]
            # streaming: sequential streams, rounds interleaved; per-round medians kept
            ttfts: dict[str, list[float]] = {name: [] for name in servers}
            delays: dict[str, list[float]] = {name: [] for name in servers}
            cpu: dict[str, float] = dict.fromkeys(servers, 0.0)
            ttft_rounds: dict[str, list[float]] = {name: [] for name in servers}
            delay_rounds: dict[str, list[float]] = {name: [] for name in servers}
            async with aiohttp.ClientSession() as session:
                for server in order:
                    await one_stream(session, server.url, server.stream_body, server.headers)  # warm-up
                for round_no in range(stream_rounds):
                    for server in rotated(order, round_no):
                        t, d, c = await streams(session, server, n_stream // stream_rounds)
                        ttfts[server.name] += t
                        delays[server.name] += d
                        cpu[server.name] += c
                        ttft_rounds[server.name].append(statistics.median(t))
                        delay_rounds[server.name].append(statistics.median(d))
            for name in servers:
                results[f"{name}_stream"] = {
                    "ttft_p50_ms": statistics.median(ttfts[name]),
                    "chunk_delay_p50_ms": statistics.median(delays[name]),
                    "cpu_us_per_stream": cpu[name] / len(ttfts[name]) * 1e6,
                    "streams": len(ttfts[name]),
                    "ttft_p50_rounds": ttft_rounds[name],
                    "chunk_delay_p50_rounds": delay_rounds[name],
                }

        asyncio.run(run_all())
        # overhead as Switchboard itself reports it, from the EMF records it wrote
        results["sb_reported_overhead_p50_ms"], results["emf_records"] = emf_overhead(tmp / "emf.jsonl")
        if base_env is not None:
            results["sb_base_reported_overhead_p50_ms"], _ = emf_overhead(tmp / "emf-base.jsonl")
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(10)
    # process start -> first served chat completion (upstream up, gateway started cold each time)
    up = subprocess.Popen(
        pinned(1, [PY, "-m", "switchboard.devtools.fake_upstream", "--port", str(up_port)]),
        stdout=subprocess.DEVNULL,
        env=env,
    )
    try:
        asyncio.run(wait_ready(f"http://127.0.0.1:{up_port}/v1/chat/completions", body_for("fake")))
        envs = {"sb": env, **({"sb_base": base_env} if base_env is not None else {})}
        starts = start_to_first_response(config, envs, 3 if not args.quick else 1)
        for name, values in starts.items():
            results[f"{name}_start_to_first_response_s"] = statistics.median(values)
        results["start_to_first_response_s"] = results["sb_start_to_first_response_s"]
    finally:
        up.terminate()
        up.wait(10)
    results["translation"] = translation_cost()
    results["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
    report(results, args.out)
    shutil.rmtree(tmp, ignore_errors=True)


def rounds_of(r: dict[str, Any], name: str, metric: str) -> list[float]:
    """Per-round values of one server (round i of every server ran in the same interleaved round)."""
    if metric == "p50":
        return r[f"{name}_c1"]["p50_rounds"]
    if metric == "ttft":
        return r[f"{name}_stream"]["ttft_p50_rounds"]
    if metric == "chunk":
        return r[f"{name}_stream"]["chunk_delay_p50_rounds"]
    if metric == "cpu":
        return r[f"{name}_c50"]["cpu_us_per_request_rounds"]
    raise KeyError(metric)


def paired(r: dict[str, Any], a: str, b: str, metric: str, ratio: bool = False) -> tuple[float, list[float]]:
    """Median over the rounds of a's value minus (or over) b's in the same round, and every round's
    figure: pairs within a round cancel drift and bursts of other load that span both."""
    per_round = [
        x / y if ratio else x - y
        for x, y in zip(rounds_of(r, a, metric), rounds_of(r, b, metric), strict=True)
    ]
    return statistics.median(per_round), per_round


def report(r: dict[str, Any], out: str | None) -> None:
    d = r["direct_c1"]
    ds = r["direct_stream"]
    columns = [name for name in ("floor", "bare", "sb", "sb_base") if f"{name}_c1" in r]
    added: dict[str, float] = {}
    for name in columns:
        added[f"{name}_p50_ms"] = paired(r, name, "direct", "p50")[0]
        added[f"{name}_p99_ms"] = r[f"{name}_c1"]["p99_ms"] - d["p99_ms"]  # pooled over the rounds
        added[f"{name}_ttft_ms"] = paired(r, name, "direct", "ttft")[0]
        added[f"{name}_chunk_ms"] = paired(r, name, "direct", "chunk")[0]
    r["added"] = added
    r["cpu_ratio_sb_vs_floor"] = r["sb_c50"]["cpu_us_per_request"] / r["floor_c50"]["cpu_us_per_request"]
    c = r["concurrency"]

    def cell(name: str, metric: str) -> str:
        c50, stream = r[f"{name}_c50"], r[f"{name}_stream"]
        if metric == "p50":
            return f"{added[f'{name}_p50_ms']:.3f}"
        if metric == "p99":
            return f"{added[f'{name}_p99_ms']:.3f}"
        if metric == "rps":
            return f"{c50['rps']:.0f}"
        if metric == "lat":
            return f"{c50['p50_ms']:.2f} / {c50['p99_ms']:.2f}"
        if metric == "cpu":
            return f"{c50['cpu_us_per_request']:.0f}"
        if metric == "cpu_rounds":
            return "/".join(f"{v:.0f}" for v in c50["cpu_us_per_request_rounds"])
        if metric == "ttft":
            return f"{added[f'{name}_ttft_ms']:.3f}"
        if metric == "chunk":
            return f"{added[f'{name}_chunk_ms']:.3f}"
        if metric == "cpu_stream":
            return f"{stream['cpu_us_per_stream']:.0f}"
        if metric == "start":
            value = r.get(f"{name}_start_to_first_response_s")
            return "" if value is None else f"{value:.3f}"
        if metric == "reported":
            value = r.get(f"{name}_reported_overhead_p50_ms")
            return "" if value is None else f"{value:.3f}"
        if metric == "translation":
            return f"{r['translation']['added_us'] / 1000:.4f}" if name == "sb" else ""
        raise KeyError(metric)

    rows = [
        ("added latency p50, c=1 (ms)", "p50", "<= 0.5"),
        ("added latency p99, c=1 (ms)", "p99", "<= 1.0"),
        (f"req/s, c={c} (client-bound)", "rps", ""),
        (
            f"latency p50 / p99, c={c} (ms)",
            "lat",
            f"direct {r['direct_c50']['p50_ms']:.2f} / {r['direct_c50']['p99_ms']:.2f}",
        ),
        (f"CPU us / request, c={c} (median)", "cpu", "<= 1.5x bare floor"),
        (f"CPU us / request, c={c}, each round", "cpu_rounds", ""),
        ("stream TTFT added (ms)", "ttft", "<= 1.2"),
        ("per-chunk relay added (ms)", "chunk", "<= 0.25"),
        ("CPU us / stream (20 chunks, c=1)", "cpu_stream", ""),
        ("own reported overhead p50 (ms)", "reported", ""),
        ("process start -> first response (s)", "start", "<= 0.6"),
        ("Anthropic translation added / event (ms)", "translation", "<= 0.1"),
    ]
    print(f"\nSwitchboard benchmark - {r['date']} - {r['machine']} - {r['cpu']} - transport {r['transport']}")
    print(f"sb:      {r['sb_checkout']}")
    if r.get("sb_base_checkout"):
        print(f"sb-base: {r['sb_base_checkout']}")
    print(
        f"direct upstream c=1: p50 {d['p50_ms']:.3f} ms, p99 {d['p99_ms']:.3f} ms; direct stream TTFT "
        f"{ds['ttft_p50_ms']:.3f} ms, chunk delay {ds['chunk_delay_p50_ms']:.3f} ms; "
        f"{r['emf_records']} EMF records; load average before/after "
        f"{' '.join(r['loadavg_before'])} / {' '.join(r['loadavg_after'])}\n"
    )
    width = 40
    header = " | ".join(f"{LABELS[name]:>15}" for name in columns)
    print(f"| {'metric':<{width}} | {header} | target |")
    print(f"|{'-' * (width + 2)}|" + "|".join("-" * 17 for _ in columns) + "|--------|")
    for label, metric, target in rows:
        cells = " | ".join(f"{cell(name, metric):>15}" for name in columns)
        print(f"| {label:<{width}} | {cells} | {target} |")

    # the issue-9 targets: Switchboard relative to the bare floor
    versus: dict[str, dict[str, float]] = {}
    spread: dict[str, dict[str, list[float]]] = {}
    for name in columns:
        if name == "bare":
            continue
        versus[name], spread[name] = {}, {}
        for key, metric, ratio in (
            ("cpu_ratio", "cpu", True),
            ("ttft_ms", "ttft", False),
            ("chunk_ms", "chunk", False),
            ("p50_ms", "p50", False),
        ):
            versus[name][key], spread[name][key] = paired(r, name, "bare", metric, ratio)
        versus[name]["p99_ms"] = added[f"{name}_p99_ms"] - added["bare_p99_ms"]
    r["vs_bare"] = versus
    r["vs_bare_rounds"] = spread
    vs_rows = [
        (f"CPU / request, c={c}, x bare floor", "cpu_ratio", "{:.2f}x", TARGET_CPU_RATIO, "<= 1.5x"),
        ("TTFT added - bare floor's (ms)", "ttft_ms", "{:+.3f}", TARGET_TTFT_MS, "<= 0.3"),
        ("per-chunk relay added - bare's (ms)", "chunk_ms", "{:+.3f}", TARGET_CHUNK_MS, "<= 0.05"),
        ("c=1 p50 added - bare floor's (ms)", "p50_ms", "{:+.3f}", TARGET_P50_MS, "<= 0.1"),
        ("c=1 p99 added - bare's (ms, pooled)", "p99_ms", "{:+.3f}", None, ""),
    ]
    others = list(versus)
    print("\nAgainst the bare floor (issue 9 targets; * = target missed):\n")
    header = " | ".join(f"{LABELS[name]:>15}" for name in others)
    print(f"| {'metric':<{width}} | {header} | target |")
    print(f"|{'-' * (width + 2)}|" + "|".join("-" * 17 for _ in others) + "|--------|")
    for label, key, fmt, limit, target in vs_rows:
        cells = []
        for name in others:
            value = versus[name][key]
            mark = "*" if limit is not None and name != "floor" and value > limit else " "
            cells.append(f"{fmt.format(value) + mark:>15}")
        print(f"| {label:<{width}} | {' | '.join(cells)} | {target} |")

    for name in spread:
        rounds = spread[name]
        print(
            f"  {LABELS[name]} vs bare, per round: CPU x "
            + "/".join(f"{v:.2f}" for v in rounds["cpu_ratio"])
            + "; c=1 p50 ms "
            + "/".join(f"{v:+.2f}" for v in rounds["p50_ms"])
            + "; TTFT ms "
            + "/".join(f"{v:+.2f}" for v in rounds["ttft_ms"])
        )

    if "sb_base" in columns:
        # two versions side by side, paired per round; with identical code this is the bench's noise
        diff: dict[str, Any] = {}
        for key, metric, ratio in (
            ("cpu_ratio", "cpu", True),
            ("p50_ms", "p50", False),
            ("ttft_ms", "ttft", False),
            ("chunk_ms", "chunk", False),
        ):
            diff[key], diff[f"{key}_rounds"] = paired(r, "sb", "sb_base", metric, ratio)
        diff["p99_ms"] = added["sb_p99_ms"] - added["sb_base_p99_ms"]
        diff["cpu_us_per_stream"] = (
            r["sb_stream"]["cpu_us_per_stream"] - r["sb_base_stream"]["cpu_us_per_stream"]
        )
        diff["c50_p99_ms"] = r["sb_c50"]["p99_ms"] - r["sb_base_c50"]["p99_ms"]
        diff["start_s"] = r["sb_start_to_first_response_s"] - r["sb_base_start_to_first_response_s"]
        r["sb_minus_sb_base"] = diff

        def span(values: list[float], fmt: str) -> str:
            return f"[{fmt.format(min(values))} .. {fmt.format(max(values))}]"

        print(
            "\nSwitchboard vs sb-base (median of per-round pairs [range over rounds]):\n"
            f"  CPU/request x {diff['cpu_ratio']:.3f} {span(diff['cpu_ratio_rounds'], '{:.2f}')}; "
            f"c=1 p50 added {diff['p50_ms']:+.3f} ms {span(diff['p50_ms_rounds'], '{:+.2f}')}; "
            f"TTFT {diff['ttft_ms']:+.3f} ms {span(diff['ttft_ms_rounds'], '{:+.2f}')}; "
            f"relay {diff['chunk_ms']:+.3f} ms {span(diff['chunk_ms_rounds'], '{:+.3f}')}\n"
            f"  c=1 p99 (pooled) {diff['p99_ms']:+.3f} ms; c={c} p99 {diff['c50_p99_ms']:+.2f} ms; "
            f"CPU/stream {diff['cpu_us_per_stream']:+.0f} us; start {diff['start_s']:+.3f} s"
        )

    if "store_c1" in r:
        s = r["sb_c1"]
        st, stc = r["store_c1"], r["store_c50"]
        r["store_added"] = {
            "p50_ms": st["p50_ms"] - d["p50_ms"],
            "p99_ms": st["p99_ms"] - d["p99_ms"],
            "p50_vs_sb_ms": st["p50_ms"] - s["p50_ms"],
            "p99_vs_sb_ms": st["p99_ms"] - s["p99_ms"],
            "ttft_ms": r["store_stream"]["ttft_p50_ms"] - ds["ttft_p50_ms"],
        }
        sa = r["store_added"]
        store_rows = [
            ("added latency p50, c=1 (ms)", added["sb_p50_ms"], sa["p50_ms"], sa["p50_vs_sb_ms"], "<= +0.3"),
            ("added latency p99, c=1 (ms)", added["sb_p99_ms"], sa["p99_ms"], sa["p99_vs_sb_ms"], ""),
            (
                f"CPU us / request, c={c}",
                r["sb_c50"]["cpu_us_per_request"],
                stc["cpu_us_per_request"],
                stc["cpu_us_per_request"] - r["sb_c50"]["cpu_us_per_request"],
                "",
            ),
            (
                f"latency p99, c={c} (ms)",
                r["sb_c50"]["p99_ms"],
                stc["p99_ms"],
                stc["p99_ms"] - r["sb_c50"]["p99_ms"],
                "",
            ),
            (
                "stream TTFT added (ms)",
                added["sb_ttft_ms"],
                sa["ttft_ms"],
                sa["ttft_ms"] - added["sb_ttft_ms"],
                "",
            ),
        ]
        print(
            f"\nWith keys, rpm/tpm/daily limits, usage accounting and the cache on, against a store that "
            f"answers every call after {r['store_latency_ms']} ms:\n"
        )
        print(f"| {'metric':<{width}} | {'no store':>9} | {'+ store':>9} | {'difference':>10} | target |")
        print(f"|{'-' * (width + 2)}|{'-' * 11}|{'-' * 11}|{'-' * 12}|--------|")
        for name, plain, with_store, delta, target in store_rows:
            print(f"| {name:<{width}} | {plain:>9.3f} | {with_store:>9.3f} | {delta:>+10.3f} | {target} |")
        hit = r["cache_hit_c1"]
        print(
            f"\nCache hit (in-process tier), c=1: p50 {hit['p50_ms']:.3f} ms, p99 {hit['p99_ms']:.3f} ms "
            f"(direct upstream call: p50 {d['p50_ms']:.3f} ms)"
        )
    out_path = Path(out) if out else ROOT / "bench-results" / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(r, indent=2))
    print(f"\nJSON: {out_path}")


# ---------------------------------------------------------------------------------------- profile


PROFILE_GROUPS = (
    ("switchboard", ("switchboard/",)),
    ("httpx", ("httpx/", "httpcore/")),
    ("aiohttp", ("aiohttp/", "yarl/", "multidict/", "propcache/", "aiohappyeyeballs/")),
    ("uvicorn", ("uvicorn/", "httptools/")),
    ("asyncio", ("asyncio/", "uvloop/", "contextvars")),
    ("orjson", ("orjson",)),
)


EVENT_LOOP_FRAME = "Runner.run (asyncio/runners.py"


def frame_group(frame: str) -> str:
    if frame.startswith(EVENT_LOOP_FRAME):
        return "loop-native"
    for group, needles in PROFILE_GROUPS:
        if any(needle in frame for needle in needles):
            return group
    return "other"


def read_folded(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        folded, _, count = line.rpartition(" ")
        if folded and count.isdigit():
            # py-spy puts the outermost frame first; a leading "process ..." / "thread ..." is not a frame
            frames = [f for f in folded.split(";") if not f.startswith(("process ", "thread "))]
            stacks.append((frames, int(count)))
    return stacks


def summarize_profile(path: Path, top: int) -> dict[str, Any]:
    """Own and cumulative shares of the event-loop thread's samples. Stacks of other threads (the
    store's and usage writer's thread pools, which py-spy often samples while they wait on a queue)
    are counted apart. Own time of `Runner.run` is the event loop's native code (uvloop: polling,
    socket reads and writes, callback dispatch), which py-spy shows only with --native."""
    every = read_folded(path)
    stacks = [(f, c) for f, c in every if f and not f[0].startswith("Thread._bootstrap")]
    other_threads = sum(c for f, c in every if f and f[0].startswith("Thread._bootstrap"))
    total = sum(count for _, count in stacks) or 1
    own: dict[str, int] = {}
    cumulative: dict[str, int] = {}
    groups_own: dict[str, int] = {}
    groups_cum: dict[str, int] = {}
    for frames, count in stacks:
        if not frames:
            continue
        leaf = frames[-1]
        own[leaf] = own.get(leaf, 0) + count
        groups_own[frame_group(leaf)] = groups_own.get(frame_group(leaf), 0) + count
        for frame in set(frames):
            cumulative[frame] = cumulative.get(frame, 0) + count
        # by package: only the frames the event loop runs (not uvicorn.run / the CLI that started it)
        loop_at = next((i for i, f in enumerate(frames) if f.startswith(EVENT_LOOP_FRAME)), -1)
        for group in {frame_group(f) for f in frames[loop_at + 1 :]}:
            groups_cum[group] = groups_cum.get(group, 0) + count

    def share(table: dict[str, int], where: Any = None) -> list[tuple[str, float]]:
        rows = sorted(((k, v) for k, v in table.items() if where is None or where(k)), key=lambda kv: -kv[1])
        return [(k, v / total * 100) for k, v in rows[:top]]

    return {
        "samples": total,
        "other_thread_samples": other_threads,
        "groups_own_pct": dict(share(groups_own)),
        "groups_cumulative_pct": dict(share(groups_cum)),
        "top_own": share(own),
        "top_cumulative": share(cumulative),
        "top_cumulative_switchboard": share(cumulative, lambda f: "switchboard/" in f),
        "top_cumulative_libraries": share(
            cumulative, lambda f: frame_group(f) in ("httpx", "aiohttp", "orjson")
        ),
    }


def print_profile(name: str, summary: dict[str, Any], cpu_us: float) -> None:
    """Shares of the loop thread's samples, and that share of the CPU time per request (or stream)
    measured while sampling (an estimate: samples are wall-clock, the box is shared)."""
    print(
        f"\n=== {name}: {summary['samples']} samples of the event-loop thread holding the GIL "
        f"({summary['other_thread_samples']} more in other threads, not counted) ===\n"
        f"columns: % of the loop's samples, ~us of the {cpu_us:.0f} us CPU per item"
    )
    for title, key in (
        ("own time by package", "groups_own_pct"),
        ("cumulative by package", "groups_cumulative_pct"),
    ):
        shares = ", ".join(f"{k} {v:.1f} % ~{v * cpu_us / 100:.0f} us" for k, v in summary[key].items())
        print(f"{title + ':':<24}{shares}")
    for title, key in (
        ("top frames by own time", "top_own"),
        ("top frames by cumulative time", "top_cumulative"),
        ("Switchboard frames by cumulative time", "top_cumulative_switchboard"),
        ("httpx / aiohttp / orjson frames by cumulative time", "top_cumulative_libraries"),
    ):
        print(f"\n{title}:")
        for frame, percent in summary[key]:
            print(f"  {percent:5.1f} {percent * cpu_us / 100:6.1f}  {frame}")


async def stream_load(url: str, body: bytes, concurrency: int, seconds: float) -> int:
    stop_at = time.perf_counter() + seconds
    done = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop_at:
                async with session.post(url, data=body, headers=JSON_HEADERS) as response:
                    async for _ in response.content.iter_any():
                        pass
                done += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


def open_gateway_config(tmp: Path, up_port: int, stream_model: str = "stream-100-1") -> Path:
    """The `sb` column's configuration for scripts/profile and scripts/icount: an open gateway, EMF
    metrics to a file, the console on, models `bench` and `bench-stream` on the fake upstream."""
    config = tmp / "open.toml"
    config.write_text(
        f"""
[gateway]
region = "bench"
metrics = "{tmp / "emf.jsonl"}"

[store]
path = "{tmp / "open.db"}"
{upstream_models(up_port, stream_model)}"""
    )
    return config


def upstream_models(up_port: int, stream_model: str) -> str:
    """The fake upstream as provider `up`, model `bench` on it and `bench-stream` on `stream_model`."""
    return f"""
[providers.up]
type = "openai"
base_url = "http://127.0.0.1:{up_port}/v1"
api_key_env = "BENCH_KEY"

[models.bench]
targets = ["up/fake"]

[models.bench-stream]
targets = ["up/{stream_model}"]
"""


def profile_main(argv: list[str]) -> None:
    """`scripts/profile`: py-spy on Switchboard (and optionally the bare floor) under c=50
    non-streaming load and under concurrent streaming load; folded stacks + a summary."""
    parser = argparse.ArgumentParser(prog="scripts/profile")
    parser.add_argument(
        "--sb", metavar="DIR", default=None, help="profile Switchboard from DIR (see bench --sb)"
    )
    parser.add_argument("--seconds", type=float, default=12.0, help="sampling time per scenario")
    parser.add_argument("--rate", type=int, default=1000, help="py-spy samples per second")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--streams", type=int, default=20, help="concurrent streams in the streaming scenario"
    )
    parser.add_argument("--stream-model", default="stream-100-1", help="fake upstream stream-<chunks>-<ms>")
    parser.add_argument("--bare", action="store_true", help="also profile the bare floor")
    parser.add_argument("--native", action="store_true", help="py-spy --native (C/Cython frames)")
    parser.add_argument(
        "--all-samples",
        action="store_true",
        help="count samples without the GIL too (py-spy without --gil: waiting in epoll then shows as "
        "own time of Runner.run)",
    )
    parser.add_argument(
        "--blocking", action="store_true", help="pause the server for every sample (default: --nonblocking)"
    )
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--out", default=None, help="directory (default bench-results/profile-<time>)")
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy", path=str(Path(PY).parent)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy not found: .venv/bin/python -m pip install py-spy")
    out = Path(args.out) if args.out else ROOT / "bench-results" / f"profile-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    sb_dir = Path(args.sb).resolve() if args.sb else ROOT
    env = (
        checkout_env(sb_dir, "--sb")
        if args.sb
        else {**os.environ, "BENCH_KEY": "sk-bench", "SWITCHBOARD_AUTH": "open"}
    )
    tmp = Path(tempfile.mkdtemp(prefix="sb-profile-"))
    up_port, sb_port, bare_port = free_port(), free_port(), free_port()
    config = open_gateway_config(tmp, up_port, args.stream_model)
    upstream_v1 = f"http://127.0.0.1:{up_port}/v1"
    procs = {
        "direct": subprocess.Popen(
            pinned(1, [PY, "-m", "switchboard.devtools.fake_upstream", "--port", str(up_port)]),
            stdout=subprocess.DEVNULL,
            env=env,
        ),
        "sb": subprocess.Popen(pinned(0, serve_argv(config, sb_port, quiet(sb_dir))), env=env),
    }
    targets = {"sb": (f"http://127.0.0.1:{sb_port}/v1/chat/completions", "bench", "bench-stream")}
    if args.bare:
        procs["bare"] = subprocess.Popen(
            pinned(0, [PY, str(ROOT / "scripts" / "bare_floor.py"), upstream_v1, str(bare_port)]), env=env
        )
        targets["bare"] = (f"http://127.0.0.1:{bare_port}/v1/chat/completions", "fake", args.stream_model)
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # load generator and py-spy on core 1, the server alone on core 0
    summaries: dict[str, Any] = {"sb_checkout": describe_checkout(sb_dir), "args": vars(args)}
    try:
        for name, (url, model, stream_model) in targets.items():
            asyncio.run(wait_ready(url, body_for(model)))
            for scenario in ("nonstream", "stream"):
                folded = out / f"{name}-{scenario}.txt"
                spy_argv = [spy, "record", "--pid", str(procs[name].pid), "--rate", str(args.rate)]
                spy_argv += ["--duration", str(int(args.seconds)), "--format", "raw", "--function"]
                spy_argv += ["--output", str(folded), *(["--native"] if args.native else [])]
                spy_argv += [] if args.blocking else ["--nonblocking"]
                spy_argv += [] if args.all_samples else ["--gil"]
                if scenario == "nonstream":
                    asyncio.run(throughput(url, body_for(model), None, args.concurrency, 1.0))  # warm
                else:
                    asyncio.run(stream_load(url, body_for(stream_model, True), args.streams, 1.0))
                spy_proc = subprocess.Popen(spy_argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                time.sleep(0.5)  # attached
                cpu0 = cpu_seconds(procs[name].pid)
                if scenario == "nonstream":
                    load = asyncio.run(
                        throughput(url, body_for(model), None, args.concurrency, args.seconds - 1.0)
                    )
                    served = load["requests"]
                else:
                    served = asyncio.run(
                        stream_load(url, body_for(stream_model, True), args.streams, args.seconds - 1.0)
                    )
                cpu = cpu_seconds(procs[name].pid) - cpu0
                _, err = spy_proc.communicate(timeout=args.seconds + 30)
                if spy_proc.returncode != 0 or not folded.exists():
                    raise SystemExit(f"py-spy failed ({spy_proc.returncode}): {err.decode()[-2000:]}")
                summary = summarize_profile(folded, args.top)
                summary["served"] = served
                summary["cpu_us_per_item_while_sampled"] = cpu / max(served, 1) * 1e6
                summaries[f"{name}_{scenario}"] = summary
                unit = "request" if scenario == "nonstream" else "stream"
                print_profile(
                    f"{name} {scenario} ({served} {unit}s served while sampled, "
                    f"{summary['cpu_us_per_item_while_sampled']:.0f} us CPU per {unit} with py-spy attached)",
                    summary,
                    summary["cpu_us_per_item_while_sampled"],
                )
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    (out / "summary.json").write_text(json.dumps(summaries, indent=2))
    print(f"\nfolded stacks and summary.json in {out}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["profile"]:
        profile_main(sys.argv[2:])
    else:
        main()
