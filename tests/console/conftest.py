"""A real `switchboard serve` for the console tests: SQLite store, a fake OpenAI upstream in its own
process, an admin token in the environment, the access log on stderr (captured to a file)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import free_port

SWITCHBOARD = (sys.executable, "-m", "switchboard")
ADMIN_TOKEN = "console-admin-token-canary-0123456789"
UPSTREAM_KEY = "sk-fake-upstream-canary-0123456789"
ORIGIN = "origin-secret-name-canary"
PRICE = (1000.0, 2000.0)
"""USD per million prompt / completion tokens of the fake model: a request (5 + 1 tokens) costs $0.007."""


@dataclass
class Served:
    url: str
    config: Path
    log: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes]

    def cli(self, *args: str) -> Any:
        done = subprocess.run(
            [*SWITCHBOARD, *args, "--config", str(self.config), "--json"],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
            check=True,
        )
        return json.loads(done.stdout)

    def chat(self, key: str, model: str = "gpt-fake", **extra: Any) -> httpx.Response:
        body = {"model": model, "messages": [{"role": "user", "content": "secret prompt canary"}], **extra}
        return httpx.post(
            f"{self.url}/v1/chat/completions",
            json=body,
            headers={"authorization": f"Bearer {key}"},
            timeout=30,
        )

    def access_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
        return lines


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path, path: str = "/healthz") -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited: {log.read_text()[-2000:]}")
        try:
            httpx.get(url + path, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in 30 s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@contextlib.contextmanager
def serve(tmp: Path, *extra: str, seed: Any = None) -> Iterator[Served]:
    """`switchboard serve` over a fake upstream; `seed(store_path)` runs before the server starts."""
    upstream_port = free_port()
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "SWITCHBOARD_ADMIN_TOKEN": ADMIN_TOKEN,
        "FAKE_UPSTREAM_KEY": UPSTREAM_KEY,
    }
    env.pop("SWITCHBOARD_CONFIG", None)
    upstream_log = tmp / "upstream.log"
    with upstream_log.open("wb") as out:
        upstream = subprocess.Popen(
            [sys.executable, "-m", "switchboard.devtools.fake_upstream", "--port", str(upstream_port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    config = tmp / "switchboard.toml"
    store = tmp / "state.db"
    prompt, completion = PRICE
    config.write_text(
        f'[store]\nbackend = "sqlite"\npath = "{store}"\n'
        '[admin]\ntoken_env = "SWITCHBOARD_ADMIN_TOKEN"\n'
        f'[providers.fake]\ntype = "openai"\nbase_url = "http://127.0.0.1:{upstream_port}/v1"\n'
        'api_key_env = "FAKE_UPSTREAM_KEY"\nheaders = { "x-org" = "header-value-canary-0123" }\n'
        '[models.gpt-fake]\ntargets = ["fake/fake-model"]\n'
        '[models.fallback]\ntargets = ["fake/status-503", "fake/fake-model"]\n'
        f'[prices."fake/fake-model"]\nprompt = {prompt}\ncompletion = {completion}\n'
        f'[prices."fake/status-503"]\nprompt = {prompt}\ncompletion = {completion}\n'
    )
    if seed is not None:
        seed(store)
    port = free_port()
    log = tmp / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *SWITCHBOARD,
                "serve",
                "--config",
                str(config),
                "--port",
                str(port),
                "--log-level",
                "warning",
                *extra,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(f"http://127.0.0.1:{upstream_port}", upstream, upstream_log, "/")
        _wait(url, proc, log)
        yield Served(url, config, log, env, proc)
    finally:
        _stop(proc)
        _stop(upstream)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("console")) as running:
        yield running
