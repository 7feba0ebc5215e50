"""Key lifecycle through the CLI against the configured store; only hashes are stored."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from switchboard.cli.main import main
from switchboard.state import keys
from switchboard.state.store import StoreSettings, open_store


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "switchboard.toml"
    path.write_text(
        f"""
[store]
backend = "sqlite"
path = "{tmp_path / "state.db"}"

[providers.mock]
type = "mock"

[models.echo]
targets = ["mock/echo"]
"""
    )
    return path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


def lookup(config: Path, key: str) -> keys.KeyRecord | None:
    async def run() -> keys.KeyRecord | None:
        store = open_store(StoreSettings(backend="sqlite", path=str(config.parent / "state.db")))
        try:
            return await keys.lookup(store, key)
        finally:
            await store.close()

    return asyncio.run(run())


def test_lifecycle(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = cli(
        capsys,
        "keys",
        "create",
        "--config",
        str(config),
        "--tenant",
        "acme",
        "--name",
        "ci",
        "--rpm",
        "600",
        "--tpm",
        "200000",
        "--models",
        "gpt-4o*,claude-*",
        "--expires",
        "30d",
        "--budget-tokens-per-day",
        "1000000",
        "--json",
    )
    assert code == 0
    created = json.loads(out)
    key, key_id = created["key"], created["key_id"]
    assert key.startswith("sb-") and len(key) == 46 and keys.well_formed(key)
    record = lookup(config, key)
    assert record is not None and record.usable() and record.tenant == "acme"
    assert (
        record.allows("gpt-4o-mini")
        and record.allows("claude-sonnet-4-5")
        and not record.allows("gemini-2.5")
    )
    assert record.valid_until and record.valid_until - time.time() > 29 * 86400
    # only the hash is stored: the key appears nowhere in the database file
    db = b"".join(p.read_bytes() for p in config.parent.glob("state.db*"))
    assert key.encode() not in db and key[3:].encode() not in db
    assert keys.key_hash(key).encode() in db

    code, out = cli(capsys, "keys", "list", "--config", str(config), "--json")
    listed = json.loads(out)
    assert [k["key_id"] for k in listed] == [key_id] and key not in out
    assert listed[0]["key"] == f"sb-...{key[-4:]}" and listed[0]["status"] == "active"

    code, out = cli(capsys, "keys", "rotate", key_id, "--config", str(config), "--json")
    rotated = json.loads(out)
    assert rotated["key"] != key and rotated["tenant"] == "acme" and rotated["rpm"] == 600
    assert lookup(config, key).status() == "revoked"
    assert lookup(config, rotated["key"]).usable()

    code, _ = cli(capsys, "keys", "revoke", rotated["key_id"], "--config", str(config))
    assert code == 0 and not lookup(config, rotated["key"]).usable()
    code, out = cli(capsys, "keys", "show", key_id, "--config", str(config), "--json")
    assert json.loads(out)["replaced_by"] == rotated["key_id"]
    assert cli(capsys, "keys", "show", "nope", "--config", str(config))[0] == 1


def test_bad_and_expired_keys(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert lookup(config, "sb-short") is None
    assert lookup(config, "Bearer sb-" + "x" * 43) is None
    assert lookup(config, "sb-" + "x" * 43) is None  # well formed, unknown
    _, out = cli(
        capsys,
        "keys",
        "create",
        "--config",
        str(config),
        "--tenant",
        "t",
        "--name",
        "n",
        "--expires",
        "1s",
        "--json",
    )
    key = json.loads(out)["key"]
    record = lookup(config, key)
    assert record is not None
    assert record.status(at=time.time() + 1.1) == "expired"  # the clock injected, not slept through
    assert (
        cli(
            capsys,
            "keys",
            "create",
            "--config",
            str(config),
            "--tenant",
            "t",
            "--name",
            "n",
            "--expires",
            "soon",
        )[0]
        == 2
    )


def test_commands_accept_the_key_itself(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = cli(
        capsys, "keys", "create", "--config", str(config), "--tenant", "acme", "--name", "ci", "--json"
    )
    created = json.loads(out)
    key, key_id = created["key"], created["key_id"]
    code, out = cli(capsys, "keys", "show", key, "--config", str(config), "--json")
    assert code == 0 and json.loads(out)["key_id"] == key_id and key not in out
    code, out = cli(capsys, "keys", "rotate", key, "--config", str(config), "--json")
    rotated = json.loads(out)
    assert code == 0 and lookup(config, key).status() == "revoked"
    assert cli(capsys, "keys", "revoke", rotated["key"], "--config", str(config))[0] == 0
    assert not lookup(config, rotated["key"]).usable()
    # unknown ones (a key id, a well-formed key never issued, a malformed one) are errors, and the
    # error never repeats a presented key
    never_issued = keys.generate_key()
    for ident in ("0123456789abcdef", never_issued, "sb-short"):
        for action in ("show", "revoke", "rotate"):
            assert cli(capsys, "keys", action, ident, "--config", str(config))[0] == 1
    assert never_issued not in capsys.readouterr().err


def test_budgets_in_dollars_are_kept_in_nano_usd(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = cli(
        capsys,
        "keys",
        "create",
        "--config",
        str(config),
        "--tenant",
        "acme",
        "--name",
        "ci",
        "--budget-usd-per-day",
        "2.5",
        "--budget-usd-per-month",
        "40",
        "--json",
    )
    created = json.loads(out)
    assert (created["budget_usd_per_day"], created["budget_usd_per_month"]) == (2.5, 40.0)
    record = lookup(config, created["key"])
    assert record is not None
    assert (record.budget_nano_usd_per_day, record.budget_nano_usd_per_month) == (2_500_000_000, 40 * 10**9)
    code, out = cli(capsys, "keys", "rotate", created["key_id"], "--config", str(config), "--json")
    assert code == 0 and json.loads(out)["budget_usd_per_month"] == 40.0  # rotation keeps the budgets
    with pytest.raises(SystemExit):
        main(
            [
                "keys",
                "create",
                "--config",
                str(config),
                "--tenant",
                "a",
                "--name",
                "n",
                "--budget-usd-per-day",
                "-1",
            ]
        )


def test_keys_follow_switchboard_config_like_serve(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --config the CLI opens the store of $SWITCHBOARD_CONFIG, the file `serve` uses (the
    container sets it): a key created there is the gateway's, not the demo store's."""
    monkeypatch.setenv("SWITCHBOARD_CONFIG", str(config))
    code, out = cli(capsys, "keys", "create", "--tenant", "acme", "--name", "env", "--json")
    assert code == 0
    assert lookup(config, json.loads(out)["key"]) is not None


@pytest.mark.parametrize(
    "tenant", ["open", "OPEN", "", " ", "a b", "team/x", "-x", "x" * 65, "t\r\nx", "é", "a;b"]
)
def test_invalid_or_reserved_tenants_are_refused(
    config: Path, capsys: pytest.CaptureFixture[str], tenant: str
) -> None:
    """Issue 16, item 10: `--tenant open` made a key sharing the anonymous callers' cache and
    stored conversations; tenant names were not validated at all."""
    code = main(["keys", "create", "--config", str(config), f"--tenant={tenant}", "--name", "k", "--json"])
    captured = capsys.readouterr()
    assert code == 2 and "tenant" in captured.err and captured.out == ""
    with pytest.raises(ValueError, match="tenant"):
        asyncio.run(keys.create_key(open_store(StoreSettings(backend="memory")), tenant=tenant, name="k"))


@pytest.mark.parametrize("tenant", ["t", "team-a", "acme.prod_2", "x" * 64, "0pen"])
def test_valid_tenants_are_accepted(config: Path, capsys: pytest.CaptureFixture[str], tenant: str) -> None:
    code, out = cli(
        capsys, "keys", "create", "--config", str(config), "--tenant", tenant, "--name", "k", "--json"
    )
    assert code == 0 and json.loads(out)["tenant"] == tenant
