"""The multi-region rehearsal (scripts/rehearsal): production topology on one machine, 127.0.0.1 only.

- Three regions: three real `switchboard serve` processes (us-east-1, eu-west-1, ap-southeast-2),
  each behind the origin guard (its secret from a file), writing EMF records to its own file.
- A simulated global table: one DynamoDB replica per region (a moto server keeps regions apart),
  each gateway reaching its own through a TCP proxy that can be made to hang, and a replicator
  copying changed items between replicas every `--lag-s` with last-writer-wins per item.
- The edge: CloudFront's role is played here (the origin header added, the region's port chosen), but
  the region is chosen by the edge router's own code (infra/edge/router.js under node,
  scripts/rehearsal_router.mjs) reading the KeyValueStore the probers write.
- Two probers (voters us-east-1 and eu-west-1) run the prober's own decision code
  (infra/prober/health.py `plan`) every tick, fed by each region's deep health check through the
  origin header path and by alarms evaluated with the deployed rules (infra/thresholds.py) over the
  regions' own EMF records. A shadow store runs the former rule (any 5xx >= 5 %, shallow /healthz,
  one prober) to show what it would have done. One tick stands for one minute.
- Two fake providers (primary, fallback) count what they served, tokens included.
- Clients send steady traffic from the US, Germany and Australia, retrying 5xx and connection
  errors like the OpenAI SDK (`max_retries`, exponential backoff).

Scenarios: provider outage everywhere; one region crashing (SIGKILL) and coming back; one region's
store hanging; one region with a wrong origin secret; usage summed across regions against what the
fakes served. Prints one table (scenario, observed, expected, ok); exit 1 when an assertion fails.
`--quick` keeps the whole run around a minute and a half.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "infra" / "prober"), str(ROOT / "lambda_src")]
PY = (
    str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
)

import health  # noqa: E402  (infra/prober/health.py, imported as the Lambda does)

from infra.thresholds import (  # noqa: E402
    GATEWAY_ERROR_PERCENT,
    LEGACY_5XX_PERCENT,
    PROVIDER_ERROR_PERCENT,
    breaching,
)
from switchboard.devtools import serve_process  # noqa: E402

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
VOTERS = ("us-east-1", "eu-west-1")
COUNTRIES = {"US": "us-east-1", "DE": "eu-west-1", "AU": "ap-southeast-2"}
TABLE = "switchboard-rehearsal"
SECRET = "cloudfront-origin-secret-0123456789"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "rehearsal",
    "AWS_SECRET_ACCESS_KEY": "rehearsal",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------ fake providers


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # a gateway killed mid-request resets its connection: expected here


class FakeProvider:
    """An OpenAI-compatible provider: answers with a completion naming itself and varying usage, or
    503 while `down`; counts what it served."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.down = False
        self.lock = threading.Lock()
        self.served = self.prompt = self.completion = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                self.rfile.read(length)
                if provider.down:
                    body = json.dumps({"error": {"message": "overloaded", "type": "server_error"}}).encode()
                    status = 503
                else:
                    with provider.lock:
                        provider.served += 1
                        n = provider.served
                        prompt, completion = 7 + n % 5, 3 + n % 4
                        provider.prompt += prompt
                        provider.completion += completion
                    status = 200
                    body = json.dumps(
                        {
                            "id": f"chatcmpl-{provider.name}-{n}",
                            "object": "chat.completion",
                            "created": 1_700_000_000,
                            "model": "gpt-4o-mini",
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": f"from {provider.name}"},
                                    "finish_reason": "stop",
                                }
                            ],
                            "usage": {
                                "prompt_tokens": prompt,
                                "completion_tokens": completion,
                                "total_tokens": prompt + completion,
                            },
                        }
                    ).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def counts(self) -> tuple[int, int, int]:
        with self.lock:
            return self.served, self.prompt, self.completion

    def reset(self) -> None:
        with self.lock:
            self.served = self.prompt = self.completion = 0


# ------------------------------------------------------------------ the global table


class HangingProxy:
    """TCP proxy from a gateway to its DynamoDB replica; while `hung`, no byte moves (a store that
    stops answering, connections left open)."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.hung = False
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        ready.wait(5)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)

        async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    while self.hung:  # noqa: ASYNC110 - polled: the rehearsal flips a plain flag
                        await asyncio.sleep(0.05)
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                writer.close()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
            except OSError:
                writer.close()
                return
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

        async def main() -> None:
            server = await asyncio.start_server(handle, "127.0.0.1", self.port)
            ready.set()
            async with server:
                await server.serve_forever()

        self.loop.run_until_complete(main())


class GlobalTable:
    """One replica per region in a moto server; `sync` copies items changed since the last sync to
    the other replicas, last writer wins per item (the later region in `REGIONS` order when two
    changed the same item), every `lag_s`. A hung region neither sends nor receives."""

    def __init__(self, lag_s: float) -> None:
        import logging

        from moto.moto_server.threaded_moto_server import MotoRequestHandler
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        moto_app = DomainDispatcherApplication(create_backend_app)
        serialized = threading.Lock()

        def app(environ: Any, start_response: Any) -> list[bytes]:
            # moto's backends are not thread-safe (a transaction deep-copies a table another thread
            # is writing); DynamoDB applies each request atomically: one at a time here
            with serialized:
                return list(moto_app(environ, start_response))

        self.port = free_port()
        self.server = make_server("127.0.0.1", self.port, app, True, request_handler=MotoRequestHandler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        import boto3

        endpoint = f"http://127.0.0.1:{self.port}"
        self.clients = {
            r: boto3.client("dynamodb", region_name=r, endpoint_url=endpoint, **_boto_keys()) for r in REGIONS
        }
        for client in self.clients.values():
            client.create_table(
                TableName=TABLE,
                KeySchema=[
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        self.proxies = {r: HangingProxy(self.port) for r in REGIONS}
        self.lag_s = lag_s
        self.base: dict[tuple[str, str], Any] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.syncs = 0
        threading.Thread(target=self._loop, daemon=True).start()

    def _items(self, region: str) -> dict[tuple[str, str], Any]:
        client, items, start = self.clients[region], {}, None
        while True:
            page = client.scan(TableName=TABLE, **({"ExclusiveStartKey": start} if start else {}))
            for item in page["Items"]:
                items[(item["pk"]["S"], item["sk"]["S"])] = item
            start = page.get("LastEvaluatedKey")
            if not start:
                return items

    def sync(self) -> None:
        with self.lock:
            live = [r for r in REGIONS if not self.proxies[r].hung]
            views = {r: self._items(r) for r in live}
            keys = set().union(*views.values()) | set(self.base)
            for key in keys:
                base = self.base.get(key)
                changed = [r for r in live if views[r].get(key) != base]
                if not changed:
                    continue
                winner = views[changed[-1]].get(key)  # last writer wins; the others' writes are lost
                for region in live:
                    if views[region].get(key) != winner:
                        client = self.clients[region]
                        if winner is None:
                            client.delete_item(
                                TableName=TABLE, Key={"pk": {"S": key[0]}, "sk": {"S": key[1]}}
                            )
                        else:
                            client.put_item(TableName=TABLE, Item=winner)
                if winner is None:
                    self.base.pop(key, None)
                else:
                    self.base[key] = winner
            self.syncs += 1

    def _loop(self) -> None:
        while not self.stop.wait(self.lag_s):
            with contextlib.suppress(Exception):
                self.sync()


def _boto_keys() -> dict[str, str]:
    return {"aws_access_key_id": "rehearsal", "aws_secret_access_key": "rehearsal"}


# ------------------------------------------------------------------ regions


@dataclass
class Region:
    name: str
    port: int
    workdir: Path
    table: GlobalTable
    providers: tuple[FakeProvider, FakeProvider]
    proc: subprocess.Popen[bytes] | None = None
    emf_offset: int = 0

    @property
    def emf(self) -> Path:
        return self.workdir / f"{self.name}.emf"

    @property
    def secret_file(self) -> Path:
        return self.workdir / f"{self.name}.secret"

    def config(self, endpoint_port: int) -> str:
        primary, fallback = self.providers
        return f"""
[gateway]
region = "{self.name}"
metrics = "{self.emf}"
origin_secret = "file:{self.secret_file}"
regions = {len(REGIONS)}

[routing]
timeout_ms = 8000
backoff_base_ms = 20
backoff_cap_ms = 100
cooldown_failures = 3
cooldown_ms = 2000

[store]
backend = "dynamodb"
table = "{TABLE}"
region = "{self.name}"
endpoint_url = "http://127.0.0.1:{endpoint_port}"
timeout_ms = 1000

[providers.primary]
type = "openai"
base_url = "http://127.0.0.1:{primary.port}/v1"
api_key_env = "REHEARSAL_PROVIDER_KEY"

[providers.fallback]
type = "openai"
base_url = "http://127.0.0.1:{fallback.port}/v1"
api_key_env = "REHEARSAL_PROVIDER_KEY"

[models.chat]
targets = ["primary/gpt-4o-mini", "fallback/gpt-4o-mini"]
"""

    def start(self, secret: str = SECRET) -> None:
        self.secret_file.write_text(json.dumps({"current": secret, "previous": ""}))
        config = self.workdir / f"{self.name}.toml"
        config.write_text(self.config(self.table.proxies[self.name].port))
        env = {
            **os.environ,
            **AWS_ENV,
            "REHEARSAL_PROVIDER_KEY": "sk-rehearsal-provider-key",
            "SWITCHBOARD_USAGE_SPILL": str(self.workdir / f"{self.name}.spill.jsonl"),
        }
        log_path = self.workdir / f"{self.name}.log"
        with log_path.open("ab") as log:
            self.proc = serve_process.start(config, self.port, log, env, python=PY, cwd=self.workdir)
        serve_process.wait_ready(f"http://127.0.0.1:{self.port}", self.proc, log_path)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """Graceful (SIGTERM): usage is drained to the store first."""
        if self.proc is not None:
            serve_process.stop(self.proc, grace_s=20)


# ------------------------------------------------------------------ edge: router + "CloudFront"


class Router:
    def __init__(self) -> None:
        config = json.dumps({"regions": list(REGIONS), "defaultRegion": REGIONS[0]})
        self.proc = subprocess.Popen(
            ["node", str(ROOT / "scripts" / "rehearsal_router.mjs"), config],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lock = threading.Lock()

    def route(self, kvs: dict[str, str], headers: dict[str, str], uri: str) -> dict[str, Any]:
        line = json.dumps({"kvs": kvs, "headers": headers, "uri": uri})
        with self.lock:
            assert self.proc.stdin is not None
            assert self.proc.stdout is not None
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
            return dict(json.loads(self.proc.stdout.readline()))

    def close(self) -> None:
        self.proc.kill()


@dataclass
class Tally:
    sent: int = 0
    ok: int = 0
    fallback_answers: int = 0
    attempts_failed: int = 0
    lost: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    by_region: dict[str, int] = field(default_factory=dict)


class Edge:
    """What CloudFront does for the rehearsal: the router's choice, the origin header, connection
    timeout 2 s; the KeyValueStore (`kvs`) is what the probers write."""

    def __init__(self, regions: dict[str, Region], router: Router) -> None:
        self.regions = regions
        self.router = router
        self.kvs: dict[str, str] = {r: health.HEALTHY for r in REGIONS}
        self.secrets = {r: SECRET for r in REGIONS}
        """What CloudFront sends each origin (one value deployed; a region's stale secret replica is
        modelled as a different value here)."""
        self.lock = threading.Lock()

    def snapshot(self) -> dict[str, str]:
        with self.lock:
            return dict(self.kvs)

    def send(
        self, client: Any, method: str, uri: str, headers: dict[str, str], body: bytes | None, timeout: float
    ) -> tuple[int, bytes, str]:
        choice = self.router.route(self.snapshot(), headers, uri)
        region = self.regions[choice["origin"]]
        import httpx

        response = client.request(
            method,
            f"http://127.0.0.1:{region.port}{choice['uri']}",
            headers={**headers, "x-switchboard-origin": self.secrets[region.name]},
            content=body,
            timeout=httpx.Timeout(timeout, connect=2.0),
        )
        return response.status_code, response.content, region.name


# ------------------------------------------------------------------ monitoring: alarms + probers


class Monitor:
    """CloudWatch for the rehearsal: per tick and region, requests and failures by cause from the
    gateways' EMF files; alarms with the deployed rules."""

    def __init__(self, regions: dict[str, Region]) -> None:
        self.regions = regions
        self.series: dict[str, dict[str, list[float]]] = {
            r: {"gateway": [], "provider": [], "5xx": [], "requests": [], "provider_n": []} for r in REGIONS
        }

    def tick(self) -> None:
        for name, region in self.regions.items():
            requests = errors5xx = 0
            causes: dict[str, int] = {}
            if region.emf.exists():
                with region.emf.open("rb") as fh:
                    fh.seek(region.emf_offset)
                    data = fh.read()
                end = data.rfind(b"\n") + 1
                region.emf_offset += end
                for line in data[:end].splitlines():
                    with contextlib.suppress(ValueError):
                        doc = json.loads(line)
                        if "FailuresByCause" in doc:
                            causes[doc["cause"]] = causes.get(doc["cause"], 0) + 1
                        elif "Requests" in doc:
                            requests += 1
                            errors5xx += "Errors5xx" in doc
            s = self.series[name]
            s["requests"].append(requests)
            s["provider_n"].append(causes.get("provider", 0))
            for key, count in (
                ("gateway", causes.get("gateway", 0)),
                ("provider", causes.get("provider", 0)),
                ("5xx", errors5xx),
            ):
                s[key].append(100.0 * count / requests if requests else 0.0)

    def alarms(self, region: str) -> dict[str, bool]:
        s = self.series[region]
        return {
            "GatewayErrorRate": breaching(s["gateway"], GATEWAY_ERROR_PERCENT),
            "ProviderErrorRate": breaching(s["provider"], PROVIDER_ERROR_PERCENT),
            "Legacy5xx": breaching(s["5xx"], LEGACY_5XX_PERCENT),
        }

    def provider_pct(self, region: str) -> tuple[float | None, int]:
        s = self.series[region]
        requests = int(sum(s["requests"][-5:]))
        if not requests:
            return None, 0
        return 100.0 * sum(s["provider_n"][-5:]) / requests, requests


class Probers:
    """Both voters and the legacy shadow, every tick."""

    def __init__(self, edge: Edge, monitor: Monitor, tick_s: float) -> None:
        self.edge = edge
        self.monitor = monitor
        self.tick_s = tick_s
        self.timeout = 0.4 * tick_s
        self.legacy: dict[str, str] = {r: health.HEALTHY for r in REGIONS}
        self.events: list[tuple[float, str, str, str]] = []  # (time, store, region, value)
        self.stop = threading.Event()
        self.ticks = 0
        threading.Thread(target=self._loop, daemon=True).start()

    def _deep(self, client: Any, region: str) -> bool:
        try:
            status, _, _ = self.edge.send(
                client, "GET", f"/regions/{region}/healthz/deep", {}, None, self.timeout
            )
        except Exception:
            return False
        return status == 200

    def _shallow(self, client: Any, region: str) -> bool:
        try:
            r = client.get(f"http://127.0.0.1:{self.edge.regions[region].port}/healthz", timeout=self.timeout)
        except Exception:
            return False
        return r.status_code == 200

    def _loop(self) -> None:
        """Every tick on a fixed schedule (a slow probe never stretches a tick): each voter probes
        every region at once, with a timeout of 40 % of a tick (5 s of a minute deployed)."""
        from concurrent.futures import ThreadPoolExecutor

        import httpx

        with httpx.Client() as client, ThreadPoolExecutor(max_workers=12) as pool:
            next_tick = time.monotonic() + self.tick_s
            while not self.stop.wait(max(0.0, next_tick - time.monotonic())):
                next_tick += self.tick_s
                self.monitor.tick()
                deep = {
                    (voter, region): pool.submit(self._deep, client, region)
                    for voter in VOTERS
                    for region in REGIONS
                }
                shallow = {region: pool.submit(self._shallow, client, region) for region in REGIONS}
                for voter in VOTERS:
                    probes = []
                    for region in REGIONS:
                        pct, n = self.monitor.provider_pct(region)
                        alarms_ok = not self.monitor.alarms(region)["GatewayErrorRate"]
                        probes.append(
                            health.Probe(region, deep[(voter, region)].result(), alarms_ok, "", pct, n)
                        )
                    with self.edge.lock:
                        writes = health.plan(self.edge.kvs, probes, voter=voter, voters=VOTERS)
                        self.edge.kvs.update(writes)
                    for key, value in writes.items():
                        if key in REGIONS:
                            self.events.append((time.monotonic(), "new", key, value))
                legacy = [
                    health.Probe(r, shallow[r].result(), not self.monitor.alarms(r)["Legacy5xx"])
                    for r in REGIONS
                ]
                with self.edge.lock:
                    writes = health.plan(self.legacy, legacy)
                    self.legacy.update(writes)
                for key, value in writes.items():
                    if key in REGIONS:
                        self.events.append((time.monotonic(), "legacy", key, value))
                self.ticks += 1

    def evacuations(self, store: str, since: float, until: float | None = None) -> list[tuple[float, str]]:
        return [
            (t, r)
            for t, s, r, v in self.events
            if s == store and v == health.PROBE_UNHEALTHY and t >= since and (until is None or t <= until)
        ]

    def wait_for(self, region: str, value: str, timeout: float) -> float | None:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.edge.snapshot().get(region) == value:
                return time.monotonic() - start
            time.sleep(0.05)
        return None


# ------------------------------------------------------------------ clients


class Clients:
    """Steady traffic from each country; 5xx and connection errors retried like the OpenAI SDK
    (`max_retries`, backoff 0.25 s doubling, capped at 2 s)."""

    def __init__(self, edge: Edge, key: str, per_country: int, max_retries: int) -> None:
        self.edge = edge
        self.key = key
        self.max_retries = max_retries
        self.tally = Tally()
        self.lock = threading.Lock()
        self.running = threading.Event()
        self.running.set()
        self.stop = threading.Event()
        self.in_flight = 0
        self.threads = [
            threading.Thread(target=self._run, args=(country, i), daemon=True)
            for country in COUNTRIES
            for i in range(per_country)
        ]
        for t in self.threads:
            t.start()

    def reset(self) -> Tally:
        with self.lock:
            old, self.tally = self.tally, Tally()
        return old

    def _count(self, **changes: int) -> None:
        with self.lock:
            for name, delta in changes.items():
                setattr(self.tally, name, getattr(self.tally, name) + delta)

    def _status(self, label: str, region: str | None = None) -> None:
        with self.lock:
            self.tally.statuses[label] = self.tally.statuses.get(label, 0) + 1
            if region:
                self.tally.by_region[region] = self.tally.by_region.get(region, 0) + 1

    def _run(self, country: str, index: int) -> None:
        import httpx

        rng = random.Random(f"{country}-{index}")
        with httpx.Client() as client:
            while not self.stop.is_set():
                if not self.running.wait(0.1):
                    continue
                headers = {
                    "authorization": f"Bearer {self.key}",
                    "content-type": "application/json",
                    "cloudfront-viewer-country": country,
                }
                body = json.dumps({"model": "chat", "messages": [{"role": "user", "content": "hi"}]}).encode()
                with self.lock:
                    self.in_flight += 1
                done = False
                for attempt in range(self.max_retries + 1):
                    try:
                        status, content, region = self.edge.send(
                            client, "POST", "/v1/chat/completions", headers, body, 5.0
                        )
                    except Exception as exc:
                        self._status(type(exc).__name__)
                        status, content, region = 0, b"", ""
                    else:
                        self._status(str(status), region if status == 200 else None)
                    if status == 200:
                        self._count(ok=1, fallback_answers=int(b"from fallback" in content))
                        done = True
                        break
                    retryable = status == 0 or status >= 500 or status in (408, 409, 429)
                    self._count(attempts_failed=1)
                    if not retryable or attempt == self.max_retries:
                        break
                    time.sleep(min(2.0, 0.25 * 2**attempt) * (0.75 + rng.random() / 2))
                with self.lock:
                    self.in_flight -= 1
                self._count(sent=1)  # in the tally of the phase the request ended in
                if not done:
                    self._count(lost=1)
                time.sleep(0.05 + rng.random() * 0.05)


# ------------------------------------------------------------------ the run


@dataclass
class Row:
    scenario: str
    observed: str
    expected: str
    ok: bool


def usage_of(table: GlobalTable, region: str, key_id: str, workdir: Path) -> dict[str, Any]:
    """`switchboard usage --key` against one region's replica (the CLI every operator uses)."""
    config = workdir / f"reader-{region}.toml"
    config.write_text(
        f'[store]\nbackend = "dynamodb"\ntable = "{TABLE}"\nregion = "{region}"\n'
        f'endpoint_url = "http://127.0.0.1:{table.port}"\n\n[models.chat]\ntargets = ["mock/echo"]\n\n'
        '[providers.mock]\ntype = "mock"\n'
    )
    env = {**os.environ, **AWS_ENV, "SWITCHBOARD_USAGE_SPILL": str(workdir / "reader.spill.jsonl")}
    out = subprocess.run(
        [PY, "-m", "switchboard", "usage", "--config", str(config), "--key", key_id, "--json"],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout)["totals"])


def create_key(table: GlobalTable, region: str, name: str) -> tuple[str, str]:
    from switchboard.state import keys
    from switchboard.state.store.dynamodb import DynamoDBStore

    async def make() -> tuple[str, str]:
        store = DynamoDBStore(TABLE, region=region, endpoint_url=f"http://127.0.0.1:{table.port}")
        key, record = await keys.create_key(store, tenant="rehearsal", name=name)
        await store.close()
        return key, record.key_id

    return asyncio.run(make())


def run(args: argparse.Namespace) -> list[Row]:
    tick = args.tick_s
    rows: list[Row] = []
    for name, value in AWS_ENV.items():
        os.environ.setdefault(name, value)
    with tempfile.TemporaryDirectory(prefix="rehearsal-") as tmp:
        workdir = Path(tmp)
        primary, fallback = FakeProvider("primary"), FakeProvider("fallback")
        table = GlobalTable(args.lag_s)
        regions = {r: Region(r, free_port(), workdir, table, (primary, fallback)) for r in REGIONS}
        key, _ = create_key(table, "us-east-1", "traffic")
        table.sync()
        for region in regions.values():
            region.start()
        router = Router()
        edge = Edge(regions, router)
        monitor = Monitor(regions)
        probers = Probers(edge, monitor, tick)
        clients = Clients(edge, key, args.clients, args.max_retries)
        try:
            time.sleep(3 * tick)  # warm up: keys cached, every region serving

            # 1. provider outage in every region
            clients.reset()
            start = time.monotonic()
            primary.down = True
            time.sleep(args.outage_ticks * tick)
            a = clients.reset()
            fallback.down = True
            time.sleep(args.outage_ticks * tick)
            primary.down = fallback.down = False
            b = clients.reset()
            time.sleep(2 * tick)
            new = probers.evacuations("new", start)
            legacy = probers.evacuations("legacy", start)
            rows.append(
                Row(
                    "provider outage everywhere: primary down",
                    f"{a.ok}/{a.sent} answered, {a.fallback_answers} by the fallback, {a.lost} lost",
                    "all answered by the fallback",
                    # requests in flight when the phase began may still have been answered by the primary
                    a.sent > 0 and a.lost == 0 and a.fallback_answers >= a.ok - args.clients * len(COUNTRIES),
                )
            )
            rows.append(
                Row(
                    "provider outage everywhere: both providers down",
                    f"evacuations {len(new)}; "
                    f"former rule would evacuate {sorted({r for _, r in legacy}) or 'none'}; "
                    f"{b.statuses.get('502', 0) + b.statuses.get('503', 0)} provider 5xx seen by clients",
                    "0 evacuations",
                    not new,
                )
            )
            with edge.lock:  # the former rule's shadow starts the next scenario afresh
                probers.legacy.clear()

            # 2. one region crashes (SIGKILL), then comes back
            time.sleep(3 * tick)
            clients.reset()
            victim = regions["ap-southeast-2"]
            in_flight = clients.in_flight
            start = time.monotonic()
            victim.kill()
            took = probers.wait_for(victim.name, health.PROBE_UNHEALTHY, 12 * tick)
            time.sleep(2 * tick)
            crash = clients.reset()
            limit = (health.FAIL_AFTER + 2) * tick
            rows.append(
                Row(
                    "ap-southeast-2 crashes",
                    f"evacuated after {took / tick:.1f} ticks" if took is not None else "never evacuated",
                    f"evacuated within {health.FAIL_AFTER + 2} ticks (= minutes deployed)",
                    took is not None and took <= limit,
                )
            )
            rows.append(
                Row(
                    "ap-southeast-2 crashes: clients",
                    f"{crash.ok}/{crash.sent} answered, lost {crash.lost} "
                    f"(in flight at the crash: {in_flight}), failed attempts {crash.attempts_failed}",
                    "none lost beyond the in-flight ones",
                    crash.lost <= in_flight,
                )
            )
            victim.start()
            back = probers.wait_for(victim.name, health.HEALTHY, (health.RECOVER_AFTER + 6) * tick)
            rows.append(
                Row(
                    "ap-southeast-2 restarts",
                    f"restored after {back / tick:.1f} ticks" if back is not None else "not restored",
                    f"restored after {health.RECOVER_AFTER} good probes by both voters",
                    back is not None and back >= 2 * tick,  # hysteresis: not at the first good probe
                )
            )

            # 3. one region's store hangs
            time.sleep(2 * tick)
            clients.reset()
            hung = regions["eu-west-1"]
            fresh_key, _ = create_key(table, "eu-west-1", "fresh")  # written straight to eu-west-1's replica
            table.proxies[hung.name].hung = True
            fresh: dict[str, Any] = {}

            def fresh_call() -> None:
                import httpx

                t0 = time.monotonic()
                try:
                    r = httpx.post(
                        f"http://127.0.0.1:{hung.port}/v1/chat/completions",
                        headers={"authorization": f"Bearer {fresh_key}", "x-switchboard-origin": SECRET},
                        json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
                        timeout=args.hang_probe_s,
                    )
                    fresh["status"] = r.status_code
                except Exception as exc:
                    fresh["status"] = type(exc).__name__
                fresh["s"] = time.monotonic() - t0

            caller = threading.Thread(target=fresh_call, daemon=True)
            caller.start()
            took = probers.wait_for(hung.name, health.PROBE_UNHEALTHY, 12 * tick)
            caller.join(args.hang_probe_s + 1)
            table.proxies[hung.name].hung = False
            hang = clients.reset()
            rows.append(
                Row(
                    "eu-west-1 store hangs",
                    (f"evacuated after {took / tick:.1f} ticks" if took is not None else "never evacuated")
                    + f"; a key not yet cached there: {fresh.get('status')} after {fresh.get('s', 0):.1f} s; "
                    f"clients: {hang.ok}/{hang.sent} answered, lost {hang.lost}",
                    f"evacuated within {health.FAIL_AFTER + 2} ticks; a request needing the store: 503 there",
                    took is not None
                    and took <= (health.FAIL_AFTER + 2) * tick
                    and fresh.get("status") == 503,
                )
            )
            probers.wait_for(hung.name, health.HEALTHY, (health.RECOVER_AFTER + 6) * tick)

            # 4. a region whose origin secret is wrong: CloudFront sends the rotated value, the
            # region's secret replica still holds only the old one
            time.sleep(2 * tick)
            clients.reset()
            wrong = regions["ap-southeast-2"]
            edge.secrets[wrong.name] = "the-rotated-secret-this-region-never-got"
            took = probers.wait_for(wrong.name, health.PROBE_UNHEALTHY, 12 * tick)
            alarm_seen = False
            deadline = time.monotonic() + 8 * tick
            while time.monotonic() < deadline and not alarm_seen:
                alarm_seen = monitor.alarms(wrong.name)["GatewayErrorRate"]
                time.sleep(0.1)
            rejected = clients.reset()
            rows.append(Row(
                "ap-southeast-2 has a wrong origin secret",
                (f"evacuated after {took / tick:.1f} ticks" if took is not None else "never evacuated")
                + f"; GatewayErrorRate alarm: {'ALARM' if alarm_seen else 'OK'}; "
                f"403s answered to clients before: {rejected.statuses.get('403', 0)} (SDKs do not retry 403)",
                f"alarmed and evacuated within {health.FAIL_AFTER + 2} ticks",
                took is not None and took <= (health.FAIL_AFTER + 2) * tick and alarm_seen,
            ))  # fmt: skip
            edge.secrets[wrong.name] = SECRET
            probers.wait_for(wrong.name, health.HEALTHY, (health.RECOVER_AFTER + 6) * tick)

            # 5. usage summed across regions, exactly what the fakes served
            clients.running.clear()
            deadline = time.monotonic() + 20
            while clients.in_flight and time.monotonic() < deadline:
                time.sleep(0.1)
            usage_key, usage_id = create_key(table, "us-east-1", "usage")
            table.sync()
            primary.reset()
            fallback.reset()
            clients.key = usage_key
            clients.reset()
            clients.running.set()
            time.sleep(args.usage_s)
            clients.stop.set()
            for t in clients.threads:
                t.join(15)
            served = [p.counts() for p in (primary, fallback)]
            for region in regions.values():
                region.stop()  # drains usage to its replica
            table.sync()
            time.sleep(args.lag_s)
            table.sync()
            fakes = {
                "answers": sum(s[0] for s in served),
                "prompt_tokens": sum(s[1] for s in served),
                "completion_tokens": sum(s[2] for s in served),
            }
            per_region = {r: usage_of(table, r, usage_id, workdir) for r in REGIONS}
            got = per_region["us-east-1"]
            answered = got["requests"] - got["errors"]
            regions_seen = len(clients.tally.by_region)
            rows.append(
                Row(
                    "usage summed across regions",
                    f"usage: {answered} answered, {got['prompt_tokens']} + {got['completion_tokens']} tokens "
                    f"(same in all 3 replicas: {all(v == got for v in per_region.values())}); fakes served "
                    f"{fakes['answers']}, {fakes['prompt_tokens']} + {fakes['completion_tokens']}; "
                    f"traffic from {regions_seen} regions",
                    "equal, exactly",
                    answered == fakes["answers"]
                    and got["prompt_tokens"] == fakes["prompt_tokens"]
                    and got["completion_tokens"] == fakes["completion_tokens"]
                    and all(v == got for v in per_region.values())
                    and regions_seen == len(REGIONS)
                    and fakes["answers"] > 0,
                )
            )
        finally:
            clients.stop.set()
            probers.stop.set()
            table.stop.set()
            for region in regions.values():
                with contextlib.suppress(Exception):
                    region.stop()
            router.close()
            with contextlib.suppress(Exception):
                table.server.shutdown()
    return rows


def render(rows: list[Row]) -> str:
    lines = ["| scenario | observed | expected | ok |", "|---|---|---|---|"]
    lines += [f"| {r.scenario} | {r.observed} | {r.expected} | {'yes' if r.ok else 'NO'} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short phases (CI): about a minute and a half")
    parser.add_argument("--tick-s", type=float, default=None, help="seconds standing for one minute")
    parser.add_argument("--lag-s", type=float, default=0.5, help="replication lag of the global table")
    parser.add_argument("--clients", type=int, default=2, help="client threads per country")
    parser.add_argument("--max-retries", type=int, default=6)
    args = parser.parse_args(argv)
    args.tick_s = args.tick_s or (0.8 if args.quick else 1.2)
    args.outage_ticks = 7 if args.quick else 9
    args.usage_s = 4.0 if args.quick else 10.0
    args.hang_probe_s = 6.0 if args.quick else 12.0
    t0 = time.monotonic()
    rows = run(args)
    print(render(rows))
    print(f"\n(one tick = {args.tick_s} s standing for one minute; replication lag {args.lag_s} s; "
          f"{time.monotonic() - t0:.0f} s in all)")  # fmt: skip
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
