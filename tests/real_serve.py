"""A real `switchboard serve` process on 127.0.0.1 for tests of what only a real server shows
(memory, store faults, routing of raw paths, fuzzing through the whole stack): the config is written
from TOML text, keys are created with the CLI, and the process is stopped when the block ends."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from support import free_port

SWITCHBOARD = (sys.executable, "-m", "switchboard")


class Serve:
    def __init__(self, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.port, self.proc, self.log = port, proc, log
        self.url = f"http://127.0.0.1:{port}"

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def create_key(config: Path, *limits: str, tenant: str = "t", env: dict[str, str] | None = None) -> str:
    """A key made with `switchboard keys create` (`limits`: e.g. "--rpm", "10")."""
    created = subprocess.run(
        [
            *SWITCHBOARD,
            *("keys", "create", "--config", str(config)),
            *("--tenant", tenant, "--name", "k"),
            "--json",
            *limits,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=True,
    )
    return str(json.loads(created.stdout)["key"])


@contextlib.contextmanager
def serve(
    tmp: Path, config_text: str, env: dict[str, str] | None = None, *args: str
) -> Iterator[tuple[Serve, Path]]:
    """`switchboard serve` on `config_text` (written to tmp/switchboard.toml); yields it and the
    config path once /healthz answers."""
    config = tmp / "switchboard.toml"
    config.write_text(config_text)
    port = free_port()
    log_path = tmp / f"serve-{port}.log"
    log = log_path.open("wb")
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
            *args,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"switchboard serve exited: {log_path.read_text()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("switchboard serve did not become ready in 30 s")
            time.sleep(0.1)
        yield Serve(port, proc, log_path), config
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        log.close()
