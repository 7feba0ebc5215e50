"""A store that hangs, seen from a real `switchboard serve` (issue 16, item 3): every store call is
bounded by `[store] timeout_ms`, so a request that needs the store gets its 503 in the route's
dialect within that bound (not 40 s or never), and SQLite reads do not queue behind a write waiting
for a lock another process holds.

DynamoDB: moto's server in its own process, stopped with SIGSTOP (connections are accepted by the
kernel, nothing answers). SQLite: the test holds the file's write lock (`BEGIN IMMEDIATE`)."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from real_serve import Serve, create_key, serve
from support import free_port, make_table

pytestmark = pytest.mark.loopback
TIMEOUT_MS = 1000
BOUND_S = 3.0  # the store bound, plus the request's own work, on a busy machine
MODELS = '[providers.mock]\ntype = "mock"\n[models.echo]\ntargets = ["mock/echo"]\n'
CHAT = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {"model": "echo", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _call(server: Serve, key: str, method: str, path: str, body: Any = None) -> tuple[int, dict, float]:
    started = time.monotonic()
    try:
        answer = httpx.request(
            method, server.url + path, json=body, headers={"authorization": f"Bearer {key}"}, timeout=15
        )
    except httpx.TimeoutException:
        return 0, {}, time.monotonic() - started
    return answer.status_code, answer.json(), time.monotonic() - started


def _until_refused(server: Serve, key: str) -> tuple[int, dict, float]:
    """Requests on a key with rpm 10 (leases of one request; one is prefetched in the background)
    until one needs a lease from the store: that answer."""
    for _ in range(3):
        answer = _call(server, key, "POST", "/v1/chat/completions", CHAT)
        if answer[0] != 200:
            break
    return answer


def _is_error(payload: dict, code: str, anthropic: bool = False) -> bool:
    if anthropic:
        return payload.get("type") == "error" and set(payload["error"]) == {"type", "message"}
    return payload.get("error", {}).get("code") == code


@pytest.fixture
def moto_endpoint() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **AWS_ENV},
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.TransportError):
                httpx.get(endpoint, timeout=1)
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("moto server did not start")
            time.sleep(0.1)
        yield endpoint, proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(10)


def test_a_stopped_dynamodb_gives_503s_within_the_bound(tmp_path: Path, moto_endpoint, capsys) -> None:
    import boto3

    endpoint, moto = moto_endpoint
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    make_table(client, "sb-hang")
    config_text = (
        f'[store]\nbackend = "dynamodb"\ntable = "sb-hang"\nregion = "us-east-1"\nendpoint_url = "{endpoint}"\n'
        f"timeout_ms = {TIMEOUT_MS}\n{MODELS}"
    )
    config = tmp_path / "switchboard.toml"
    config.write_text(config_text)
    warm, limited, unseen = (
        create_key(config, env=AWS_ENV),
        create_key(config, "--rpm", "10", env=AWS_ENV),
        create_key(config, env=AWS_ENV),
    )
    with serve(tmp_path, config_text, AWS_ENV) as (server, _):
        assert _call(server, warm, "POST", "/v1/chat/completions", CHAT)[0] == 200
        assert _call(server, limited, "POST", "/v1/chat/completions", CHAT)[0] == 200  # its first lease
        status, stored, _ = _call(server, warm, "POST", "/v1/responses", {"model": "echo", "input": "hi"})
        assert status == 200 and stored["id"]
        time.sleep(0.3)  # the background lease refill is done
        os.kill(moto.pid, signal.SIGSTOP)
        try:
            cases = {
                "unseen key, chat": (
                    _call(server, unseen, "POST", "/v1/chat/completions", CHAT),
                    "auth_unavailable",
                ),
                "unseen key, messages": (
                    _call(server, unseen, "POST", "/v1/messages", MESSAGES),
                    "anthropic",
                ),
                "new rate-limit lease": (_until_refused(server, limited), "store_unavailable"),
                "GET stored response": (
                    _call(server, warm, "GET", f"/v1/responses/{stored['id']}"),
                    "store_unavailable",
                ),
                "previous_response_id": (
                    _call(
                        server,
                        warm,
                        "POST",
                        "/v1/responses",
                        {"model": "echo", "input": "more", "previous_response_id": stored["id"]},
                    ),
                    "store_unavailable",
                ),
                "DELETE stored response": (
                    _call(server, warm, "DELETE", f"/v1/responses/{stored['id']}"),
                    "store_unavailable",
                ),
            }
            storing = _call(server, warm, "POST", "/v1/responses", {"model": "echo", "input": "new"})
        finally:
            os.kill(moto.pid, signal.SIGCONT)
        with capsys.disabled():
            for name, ((status, _, elapsed), _code) in cases.items():
                print(f"\n  dynamodb stopped: {name}: {status} in {elapsed:.2f} s", end="")
            print(f"\n  dynamodb stopped: storing a new response: {storing[0]} in {storing[2]:.2f} s")
        for name, ((status, payload, elapsed), code) in cases.items():
            assert status == 503, (name, status, payload)
            assert _is_error(payload, code, anthropic=code == "anthropic"), (name, payload)
            assert elapsed < BOUND_S, (name, elapsed)
        assert storing[0] == 200 and storing[2] < BOUND_S  # the answer is served; only keeping it failed
        assert _call(server, limited, "POST", "/v1/chat/completions", CHAT)[0] == 200  # recovered


def test_sqlite_reads_do_not_queue_behind_a_blocked_write(tmp_path: Path, capsys) -> None:
    db = tmp_path / "store.db"
    config_text = f'[store]\nbackend = "sqlite"\npath = "{db}"\ntimeout_ms = {TIMEOUT_MS}\n{MODELS}'
    config = tmp_path / "switchboard.toml"
    config.write_text(config_text)
    warm, limited, unseen = create_key(config), create_key(config, "--rpm", "10"), create_key(config)
    with serve(tmp_path, config_text) as (server, _):
        assert _call(server, limited, "POST", "/v1/chat/completions", CHAT)[0] == 200  # its first lease
        status, stored, _ = _call(server, warm, "POST", "/v1/responses", {"model": "echo", "input": "hi"})
        assert status == 200
        time.sleep(0.3)  # the background lease refill is done
        lock = sqlite3.connect(db, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            with ThreadPoolExecutor(4) as pool:
                write = pool.submit(_until_refused, server, limited)
                time.sleep(0.1)  # the lease write is now waiting for the lock
                read = pool.submit(_call, server, warm, "GET", f"/v1/responses/{stored['id']}")
                auth = pool.submit(_call, server, unseen, "POST", "/v1/chat/completions", CHAT)
                results = {"lease write": write.result(), "read": read.result(), "unseen key": auth.result()}
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        with capsys.disabled():
            for name, (status, _, elapsed) in results.items():
                print(f"\n  sqlite write-locked: {name}: {status} in {elapsed:.2f} s", end="")
            print()
        status, payload, elapsed = results["lease write"]
        assert status == 503 and payload["error"]["code"] == "store_unavailable" and elapsed < BOUND_S
        status, payload, elapsed = results["read"]
        assert status == 200 and payload["id"] == stored["id"] and elapsed < 1.0, results["read"]
        status, _, elapsed = results["unseen key"]
        assert status == 200 and elapsed < BOUND_S, results["unseen key"]
        assert _call(server, limited, "POST", "/v1/chat/completions", CHAT)[0] == 200  # recovered
