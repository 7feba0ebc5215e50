"""`switchboard serve` as a child process on 127.0.0.1, for the tests and scripts that need a real
server (memory, disconnects, store faults, the console, the reliability suite, the multi-region
rehearsal): one way to start it, wait for it and stop it. Standard library only."""

from __future__ import annotations

import contextlib
import signal
import subprocess  # nosec B404 (starts switchboard itself)
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO


def serve_argv(
    config: Path, port: int, *extra: str, python: str = sys.executable, log_level: str = "warning"
) -> list[str]:
    return [
        python,
        "-m",
        "switchboard",
        "serve",
        "--config",
        str(config),
        "--port",
        str(port),
        "--log-level",
        log_level,
        *extra,
    ]


def start(
    config: Path,
    port: int,
    log: IO[bytes],
    env: Mapping[str, str],
    *extra: str,
    python: str = sys.executable,
    log_level: str = "warning",
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start `switchboard serve` (stdout and stderr to `log`); see `wait_ready`."""
    return subprocess.Popen(  # noqa: S603  # nosec B603 (our own command line, no shell)
        serve_argv(config, port, *extra, python=python, log_level=log_level),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(env),
        cwd=cwd,
    )


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""Never through an HTTP proxy from the environment: the server is on this machine."""


def wait_ready(
    url: str, proc: subprocess.Popen[bytes], log: Path, *, path: str = "/healthz", timeout_s: float = 30.0
) -> None:
    """Until `url + path` answers at all (any status); RuntimeError with the log's end if the process
    exits first or nothing answers in `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with _DIRECT.open(url + path, timeout=1):  # nosec B310 (a loopback URL)
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in {timeout_s:.0f} s")


def stop(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """SIGTERM (a graceful shutdown: usage and aggregates are drained), then SIGKILL after `grace_s`."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)


def rss_kib(proc: subprocess.Popen[bytes]) -> int:
    """The process's resident memory (Linux /proc), 0 when it cannot be read."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
