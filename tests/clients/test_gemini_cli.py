"""Gemini CLI (`gemini -p`, headless, Gemini API, streaming) against the fake Gemini API directly,
and through a real `switchboard serve` with a Switchboard key to the fake Gemini API (same format:
pass-through) and to the fake OpenAI chat API (translated), with a tool loop each.

Before issue 18 every run through Switchboard failed: `POST /v1beta/models/...` was a 404 in
OpenAI's shape, answered without checking the key, and `x-goog-api-key` was no key header."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clients.fakes import GEMINI_ANSWER, OPENAI_ANSWER, FakeGemini, FakeOpenAI
from clients.harness import UPSTREAM_KEY, Gateway, Run, run_gemini, work_dir
from clients.wire import chat_tool_messages, masked, texts

pytestmark = pytest.mark.loopback

NOTE = "NOTE-CONTENT-42"
STREAM_PATH = "/v1beta/models/{}:streamGenerateContent"
# What Gemini CLI 0.61.0 sends on every turn (a new release may add fields: that is fine).
SEEN_FIELDS = {"contents", "systemInstruction", "tools", "generationConfig"}


def _succeeded(run: Run, answer: str) -> dict[str, Any]:
    assert run.returncode == 0, (
        f"exit {run.returncode}\nstdout: {run.stdout[-2000:]}\nstderr: {run.stderr[-3000:]}"
    )
    result = run.json()
    assert result["response"].strip() == answer, result
    return result


def _note(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A file in the client's cwd and the read_file call that the fake asks for (read-only tools
    run without approval in headless mode)."""
    work = work_dir(tmp_path)
    work.mkdir(parents=True, exist_ok=True)
    (work / "note.txt").write_text(NOTE + "\n")
    return "read_file", {"file_path": str(work / "note.txt")}


def _function_responses(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        part["functionResponse"]
        for turn in body.get("contents") or []
        for part in turn.get("parts") or []
        if "functionResponse" in part
    ]


# --------------------------------------------------------------------------- direct (the harness)


def test_direct_to_fake_gemini(gemini_bin: Path, fake_gemini: FakeGemini, tmp_path: Path) -> None:
    run = run_gemini(gemini_bin, fake_gemini.root, "sk-direct-key", "direct-model", tmp_path)
    _succeeded(run, GEMINI_ANSWER)
    (call,) = fake_gemini.posts(STREAM_PATH.format("direct-model"))
    assert call.query == {"alt": ["sse"]}
    assert set(call.body) >= SEEN_FIELDS
    assert call.headers["x-goog-api-key"] == "sk-direct-key"
    assert call.headers["x-goog-api-client"].startswith("google-genai-sdk/")
    assert "say hi" in texts(call.body["contents"])


# --------------------------------------------------------------------------- through Switchboard


def test_through_switchboard_to_gemini_is_pass_through(
    gemini_bin: Path, fake_gemini: FakeGemini, gateway: Gateway, tmp_path: Path
) -> None:
    # GIVEN what Gemini CLI sends straight to the fake with the same HOME, cwd and model name
    reference = run_gemini(gemini_bin, fake_gemini.root, "sk-direct-key", "to-gemini", tmp_path)
    _succeeded(reference, GEMINI_ANSWER)
    (sent,) = fake_gemini.posts(STREAM_PATH.format("to-gemini"))
    fake_gemini.reset()
    # WHEN it goes through Switchboard with a gateway key (in x-goog-api-key)
    run = run_gemini(gemini_bin, gateway.base, gateway.key, "to-gemini", tmp_path)
    # THEN it gets the fake's answer and usage, and the fake saw the same body, the upstream model
    # in the path and the provider's key
    result = _succeeded(run, GEMINI_ANSWER)
    (stats,) = result["stats"]["models"].values()
    tokens = stats["tokens"]
    assert (tokens["prompt"], tokens["candidates"]) == (21, 9)
    (seen,) = fake_gemini.posts(STREAM_PATH.format("gemini-upstream"))
    assert seen.query == {"alt": ["sse"]}
    assert masked(seen.body) == masked(sent.body)
    assert seen.headers["x-goog-api-key"] == UPSTREAM_KEY
    assert gateway.key not in str(seen.headers)


def test_through_switchboard_to_openai_is_translated(
    gemini_bin: Path, fake_openai: FakeOpenAI, gateway: Gateway, tmp_path: Path
) -> None:
    run = run_gemini(gemini_bin, gateway.base, gateway.key, "to-openai", tmp_path)
    result = _succeeded(run, OPENAI_ANSWER)
    (stats,) = result["stats"]["models"].values()
    tokens = stats["tokens"]
    assert (tokens["prompt"], tokens["candidates"]) == (30, 9)  # the fake's own counts
    (seen,) = fake_openai.posts("/v1/chat/completions")
    body = seen.body
    assert body["model"] == "gpt-upstream" and body["stream"] is True
    assert seen.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert "Gemini CLI" in texts(body["messages"][0]) and body["messages"][0]["role"] == "system"
    assert "say hi" in texts([m for m in body["messages"] if m["role"] == "user"])
    names = {t["function"]["name"] for t in body["tools"]}
    assert "read_file" in names
    assert all(t["function"]["parameters"]["type"] == "object" for t in body["tools"])


def test_tool_loop_through_switchboard_to_gemini(
    gemini_bin: Path, fake_gemini: FakeGemini, gateway: Gateway, tmp_path: Path
) -> None:
    fake_gemini.reset(tool_call=_note(tmp_path))
    run = run_gemini(gemini_bin, gateway.base, gateway.key, "to-gemini", tmp_path)
    _succeeded(run, GEMINI_ANSWER)
    first, second = fake_gemini.posts(STREAM_PATH.format("gemini-upstream"))[:2]
    assert not _function_responses(first.body)
    (response,) = _function_responses(second.body)
    assert response["name"] == "read_file" and NOTE in texts(response["response"])


def test_tool_loop_through_switchboard_to_openai(
    gemini_bin: Path, fake_openai: FakeOpenAI, gateway: Gateway, tmp_path: Path
) -> None:
    fake_openai.reset(tool_call=_note(tmp_path))
    run = run_gemini(gemini_bin, gateway.base, gateway.key, "to-openai", tmp_path)
    _succeeded(run, OPENAI_ANSWER)
    first, second = fake_openai.posts("/v1/chat/completions")[:2]
    assert not chat_tool_messages(first.body)
    (result,) = chat_tool_messages(second.body)
    assert NOTE in result["content"]
    call = next(m for m in second.body["messages"] if m.get("tool_calls"))["tool_calls"][0]
    assert result["tool_call_id"] == call["id"] and call["function"]["name"] == "read_file"
