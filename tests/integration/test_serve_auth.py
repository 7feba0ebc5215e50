"""`switchboard serve` and `gateway.auth`: an open configuration is refused on a non-loopback
address without --allow-open; a required one starts and says how to create the first key."""

from __future__ import annotations

import logging
import types
from pathlib import Path

import pytest

from switchboard.cli.main import _open_is_allowed
from switchboard.config import load_config

CONFIG = """
[gateway]
auth = "{auth}"
[store]
path = "{path}"
[providers.mock]
type = "mock"
[models.m]
targets = ["mock/echo"]
"""


def config(tmp_path: Path, auth: str):
    path = tmp_path / "c.toml"
    path.write_text(CONFIG.format(auth=auth, path=tmp_path / "state.db"))
    return load_config(path, env={})


def args(host: str, allow_open: bool = False) -> types.SimpleNamespace:
    return types.SimpleNamespace(host=host, port=8080, allow_open=allow_open)


def test_open_is_refused_off_loopback_without_allow_open(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    log = logging.getLogger("test")
    assert not _open_is_allowed(config(tmp_path, "open"), args("0.0.0.0"), log)
    assert "refusing to serve" in capsys.readouterr().err
    assert _open_is_allowed(config(tmp_path, "open"), args("0.0.0.0", allow_open=True), log)
    assert _open_is_allowed(config(tmp_path, "open"), args("127.0.0.1"), log)


def test_required_starts_anywhere_and_names_the_first_step(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    assert _open_is_allowed(config(tmp_path, "required"), args("0.0.0.0"), logging.getLogger("t"))
    assert "switchboard keys create" in caplog.text
