"""The multi-region rehearsal (`scripts/rehearsal --quick`): three real `switchboard serve` regions, a
simulated global table with lagged last-writer-wins replication, the edge router's own JavaScript
under node, the prober's own decision code, fake providers and steady clients, all on 127.0.0.1;
about a minute and a half. Every scenario's assertion holds (the script exits 1 otherwise)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.loopback,
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
]

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = (
    "provider outage everywhere: primary down",
    "provider outage everywhere: both providers down",
    "ap-southeast-2 crashes",
    "ap-southeast-2 crashes: clients",
    "ap-southeast-2 restarts",
    "eu-west-1 store hangs",
    "ap-southeast-2 has a wrong origin secret",
    "usage summed across regions",
)


def test_quick_rehearsal_every_scenario_holds() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "rehearsal.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    table = [line for line in run.stdout.splitlines() if line.startswith("| ")]
    print("\n".join(table))
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in table[1:]}
    assert set(SCENARIOS) <= set(rows)
    assert all(line.endswith("| yes |") for line in table[2:])
    assert "evacuations 0" in rows["provider outage everywhere: both providers down"]
    assert "equal, exactly" in rows["usage summed across regions"]
