"""`scripts/reliability --quick` (two real `switchboard serve` processes, a hostile fake upstream, all
on 127.0.0.1; < 60 s) finds no failure of the invariants that hold today.

P9 is left out of the assertion while a 48 MiB upstream answer is still relayed whole (no cap on
upstream response size: see docs/reliability.md); the suite still runs and reports it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.loopback

ROOT = Path(__file__).resolve().parents[2]
HOLDING = "P1,P2,P4,P5,P6,P10"


def test_quick_reliability_run_has_no_failures_in_the_invariants_that_hold() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "reliability.py"), "--quick", "--assert", HOLDING],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert "| P1 |" in run.stdout
