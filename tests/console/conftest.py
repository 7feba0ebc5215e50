"""A real `switchboard serve` for the console tests: SQLite store, a fake OpenAI upstream in its own
process, an admin token in the environment, the access log on stderr (captured to a file)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import free_port
from switchboard.devtools import serve_process

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
        proc = serve_process.start(config, port, out, env, *extra)
    url = f"http://127.0.0.1:{port}"
    try:
        serve_process.wait_ready(f"http://127.0.0.1:{upstream_port}", upstream, upstream_log, path="/")
        serve_process.wait_ready(url, proc, log)
        yield Served(url, config, log, env, proc)
    finally:
        serve_process.stop(proc)
        serve_process.stop(upstream)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("console")) as running:
        yield running
