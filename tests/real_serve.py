"""A real `switchboard serve` process on 127.0.0.1 for tests of what only a real server shows
(memory, store faults, routing of raw paths, fuzzing through the whole stack): the config is written
from TOML text, keys are created with the CLI, and the process is stopped when the block ends."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from support import free_port
from switchboard.devtools import serve_process

SWITCHBOARD = (sys.executable, "-m", "switchboard")


class Serve:
    def __init__(self, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.port, self.proc, self.log = port, proc, log
        self.url = f"http://127.0.0.1:{port}"

    def rss_mib(self) -> float:
        return serve_process.rss_kib(self.proc) / 1024

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
    proc = serve_process.start(
        config, port, log, {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}, *args
    )
    try:
        serve_process.wait_ready(f"http://127.0.0.1:{port}", proc, log_path)
        yield Serve(port, proc, log_path), config
    finally:
        serve_process.stop(proc)
        log.close()
