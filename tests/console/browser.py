"""Debian's chromium driven by Playwright for Python (Playwright's own browser download is not
reachable from here): installed with apt-get when it is missing and apt is usable (CI runs as root
on a fresh machine); otherwise the browser tests are skipped, loudly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
"""Screenshots of every page (gitignored; the README's docs/console/*.png are copies of these)."""


def _skip_loudly(reason: str) -> None:
    print(f"\n*** BROWSER TESTS SKIPPED: {reason} ***\n", file=sys.stderr)
    pytest.skip(f"NO BROWSER: {reason}")


def chromium() -> str:
    """The path of a usable chromium, installing Debian's package when possible."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        _skip_loudly("/usr/bin/chromium is missing and apt-get is not usable (not root, or no apt)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900, check=False)
        if done.returncode != 0:
            _skip_loudly(f"`{' '.join(command[1:])}` failed: {done.stderr.strip()[-300:]}")
    if not os.path.exists(CHROMIUM):
        _skip_loudly("apt-get installed chromium but /usr/bin/chromium is missing")
    return CHROMIUM
