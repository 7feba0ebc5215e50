"""`scripts/reliability --quick` (two real `switchboard serve` processes, a hostile fake upstream, all
on 127.0.0.1; about a minute) finds no failure of any invariant: the shared ones (P1, P2, P4-P6,
P9, P10) and issue 16's (I1-I13), each of which must have run cases."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.loopback

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from reliability import INVARIANTS  # noqa: E402


def test_quick_reliability_run_has_no_failures_in_any_invariant() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "reliability.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    for invariant in INVARIANTS:  # every invariant ran cases and none failed
        row = re.search(rf"^\| {invariant} \| [^|]* \| (\d+) \| (\d+) \|$", run.stdout, re.MULTILINE)
        assert row is not None, f"{invariant} missing from the table"
        assert int(row.group(1)) > 0 and int(row.group(2)) == 0, row.group(0)
