"""Codex CLI (`codex exec`, Responses API, streaming) against the fake OpenAI Responses API directly,
and through a real `switchboard serve` to the fake OpenAI Responses API (same format: pass-through)
and to the fake Anthropic Messages API (translated).

Before issue 10 (b5031a1) every run through Switchboard failed: POST /v1/responses was a 404 ("no
route for POST /v1/responses"), which Codex retries (5 times by default) before exiting 1."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clients.fakes import ANTHROPIC_ANSWER, OPENAI_ANSWER, FakeAnthropic, FakeOpenAI
from clients.harness import UPSTREAM_KEY, Gateway, Run, run_codex, work_dir
from clients.wire import anthropic_tool_results, masked, responses_tool_outputs, texts

pytestmark = pytest.mark.loopback

NOTE = "NOTE-CONTENT-42"
# What Codex 0.169.0 sends on every turn (a new release may add fields: that is fine).
SEEN_FIELDS = {
    "model",
    "input",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning",
    "store",
    "stream",
    "include",
    "prompt_cache_key",
}


def _succeeded(run: Run, answer: str) -> None:
    assert run.returncode == 0, (
        f"exit {run.returncode}\nstdout: {run.stdout[-2000:]}\nstderr: {run.stderr[-3000:]}"
    )
    assert run.stdout.strip() == answer, run.stdout


def _note(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A file in the client's cwd and the shell call that the fake asks for (the read-only sandbox
    allows it; approval policy in `exec` is "never")."""
    work = work_dir(tmp_path)
    work.mkdir(parents=True, exist_ok=True)
    (work / "note.txt").write_text(NOTE + "\n")
    return "exec_command", {"cmd": "cat note.txt"}


# --------------------------------------------------------------------------- direct (the harness)


def test_direct_to_fake_openai_responses(codex_bin: Path, fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    run = run_codex(codex_bin, f"{fake_openai.root}/v1", "sk-direct-key", "direct-model", tmp_path)
    _succeeded(run, OPENAI_ANSWER)
    (call,) = fake_openai.posts("/v1/responses")
    assert [r.path for r in fake_openai.requests] == ["/v1/responses"]
    assert set(call.body) >= SEEN_FIELDS
    assert call.body["stream"] is True
    assert call.body["store"] is False
    assert call.body["model"] == "direct-model"
    assert call.headers["authorization"] == "Bearer sk-direct-key"
    assert call.headers["accept"] == "text/event-stream"
    assert call.headers["originator"] == "codex_exec"
    assert "say hi" in texts(call.body["input"])
    assert {t["type"] for t in call.body["tools"]} >= {"function", "namespace"}


def test_direct_tool_loop(codex_bin: Path, fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.reset(tool_call=_note(tmp_path))
    run = run_codex(codex_bin, f"{fake_openai.root}/v1", "sk-direct-key", "direct-model", tmp_path)
    _succeeded(run, OPENAI_ANSWER)
    first, second = fake_openai.posts("/v1/responses")
    assert not responses_tool_outputs(first.body)
    (output,) = responses_tool_outputs(second.body)
    assert NOTE in output["output"]
    assert "previous_response_id" not in second.body  # the whole conversation is sent again


def test_direct_accepts_comments_and_no_sequence_numbers(
    codex_bin: Path, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    """SSE comment lines (Switchboard's `: switchboard-timing`) are ignored and `sequence_number` is
    not required; what Codex does need is output_item.added/.done around the text and
    response.completed (without it: "stream closed before response.completed", 5 retries, exit 1)."""

    def gateway_shaped(events: list[bytes]) -> list[bytes]:
        return [
            b': switchboard-timing {"overhead_ms": 0.4}\n\n' + re.sub(rb', "sequence_number": [0-9]+', b"", e)
            for e in events
        ]

    fake_openai.edit_stream = gateway_shaped
    run = run_codex(codex_bin, f"{fake_openai.root}/v1", "sk-direct-key", "direct-model", tmp_path)
    _succeeded(run, OPENAI_ANSWER)
    assert len(fake_openai.posts("/v1/responses")) == 1


# --------------------------------------------------------------------------- through Switchboard


def test_through_switchboard_to_openai_responses_is_pass_through(
    codex_bin: Path, fake_openai: FakeOpenAI, gateway: Gateway, tmp_path: Path
) -> None:
    # GIVEN what Codex sends straight to the fake with the same HOME, cwd and model name
    reference = run_codex(codex_bin, f"{fake_openai.root}/v1", "sk-direct-key", "to-openai", tmp_path)
    _succeeded(reference, OPENAI_ANSWER)
    (sent,) = fake_openai.posts("/v1/responses")
    fake_openai.reset()
    # WHEN it goes through Switchboard with a gateway key
    run = run_codex(codex_bin, f"{gateway.base}/v1", gateway.key, "to-openai", tmp_path)
    # THEN it gets the fake's answer, and the fake saw the same request with only `model` rewritten
    _succeeded(run, OPENAI_ANSWER)
    (seen,) = fake_openai.posts("/v1/responses")
    assert masked(seen.body) == masked({**sent.body, "model": "gpt-upstream"})
    assert seen.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"


def test_through_switchboard_to_anthropic_is_translated(
    codex_bin: Path, fake_anthropic: FakeAnthropic, gateway: Gateway, tmp_path: Path
) -> None:
    run = run_codex(codex_bin, f"{gateway.base}/v1", gateway.key, "to-anthropic", tmp_path)
    _succeeded(run, ANTHROPIC_ANSWER)
    (seen,) = fake_anthropic.posts("/v1/messages")
    body = seen.body
    assert body["model"] == "claude-upstream"
    assert body["stream"] is True
    assert seen.headers["x-api-key"] == UPSTREAM_KEY
    # Codex's instructions come as `developer` input items: they become the Anthropic system prompt
    assert "Codex" in texts(body["system"])
    assert "say hi" in texts([m for m in body["messages"] if m["role"] == "user"])
    names = {t["name"] for t in body["tools"]}
    assert "exec_command" in names
    assert all("input_schema" in t for t in body["tools"])


def test_tool_loop_through_switchboard_to_openai_responses(
    codex_bin: Path, fake_openai: FakeOpenAI, gateway: Gateway, tmp_path: Path
) -> None:
    fake_openai.reset(tool_call=_note(tmp_path))
    run = run_codex(codex_bin, f"{gateway.base}/v1", gateway.key, "to-openai", tmp_path)
    _succeeded(run, OPENAI_ANSWER)
    first, second = fake_openai.posts("/v1/responses")
    assert not responses_tool_outputs(first.body)
    (output,) = responses_tool_outputs(second.body)
    assert NOTE in output["output"]


def test_tool_loop_through_switchboard_to_anthropic(
    codex_bin: Path, fake_anthropic: FakeAnthropic, gateway: Gateway, tmp_path: Path
) -> None:
    fake_anthropic.reset(tool_call=_note(tmp_path))
    run = run_codex(codex_bin, f"{gateway.base}/v1", gateway.key, "to-anthropic", tmp_path)
    _succeeded(run, ANTHROPIC_ANSWER)
    first, second = fake_anthropic.posts("/v1/messages")
    assert not anthropic_tool_results(first.body)
    (result,) = anthropic_tool_results(second.body)
    assert NOTE in texts(result["content"])
