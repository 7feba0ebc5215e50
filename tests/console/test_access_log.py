"""The access log of a real `switchboard serve`: one JSON line per request on stderr, on by default,
never a key, a prompt or an upstream secret; `--no-access-log` turns it off."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from console.conftest import ADMIN_TOKEN, UPSTREAM_KEY, Served, serve

pytestmark = pytest.mark.loopback
FIELDS = {
    "time",
    "request_id",
    "route",
    "status",
    "outcome",
    "model",
    "provider",
    "target",
    "attempts",
    "overhead_ms",
    "upstream_ms",
    "total_ms",
    "stream",
    "cache",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "cost_usd",
    "key_id",
    "tenant",
    "cause",
}


def _wait_lines(served: Served, count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = served.access_lines()
        if len(lines) >= count:
            return lines
        time.sleep(0.1)
    return served.access_lines()


def test_one_json_line_per_request_without_secrets(served: Served) -> None:
    before = len(served.access_lines())
    key = served.cli("keys", "create", "--tenant", "logs", "--name", "k")
    ok = served.chat(key["key"])
    assert ok.status_code == 200
    assert served.chat(key["key"], model="fallback").status_code == 200
    assert served.chat(key["key"], stream=True).status_code == 200
    assert served.chat("sb-" + "x" * 43).status_code == 401
    bad = httpx.post(
        f"{served.url}/v1/chat/completions", content=b"{", headers={"authorization": f"Bearer {key['key']}"}
    )
    assert bad.status_code == 400
    lines = _wait_lines(served, before + 5)[before:]
    assert len(lines) == 5, lines
    first, fallback, streamed, unknown, refused = lines
    assert set(first) == FIELDS
    assert first["request_id"] == ok.headers["x-request-id"]
    assert (first["status"], first["outcome"], first["model"], first["target"]) == (
        200,
        "ok",
        "gpt-fake",
        "fake/fake-model",
    )
    assert (first["prompt_tokens"], first["completion_tokens"], first["key_id"], first["tenant"]) == (
        5,
        1,
        key["key_id"],
        "logs",
    )
    assert first["cost_usd"] == pytest.approx(0.007)
    assert str(first["time"]).endswith("Z")
    assert int(str(fallback["attempts"])) >= 2 and fallback["provider"] == "fake"
    assert streamed["stream"] is True and streamed["outcome"] == "done"
    assert (unknown["status"], unknown["outcome"], unknown["key_id"]) == (401, "refused", None)
    assert refused["status"] == 400 and refused["outcome"] == "refused" and refused["key_id"] == key["key_id"]
    text = served.log.read_text()
    for secret in (
        key["key"],
        key["key"][3:],
        ADMIN_TOKEN,
        UPSTREAM_KEY,
        "secret prompt canary",
        "header-value-canary",
    ):
        assert secret not in text


def test_no_access_log_flag(tmp_path: Path) -> None:
    with serve(tmp_path, "--no-access-log") as quiet:
        key = quiet.cli("keys", "create", "--tenant", "t", "--name", "k")
        assert quiet.chat(key["key"]).status_code == 200
        time.sleep(0.5)
        assert quiet.access_lines() == []
