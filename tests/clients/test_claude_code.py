"""Claude Code (print mode, streaming) against the fake Anthropic API directly, and through a real
`switchboard serve` to the fake Anthropic API (same format: pass-through) and to the fake OpenAI
Chat Completions API (translated).

Before issue 10 (b5031a1) every run through Switchboard failed: /v1/messages answered 400 "'context_management'
is not supported by this endpoint" (then 'output_config', then "'messages[1].role' must be user or
assistant" for Claude Code's mid-conversation system message), and Claude Code exits 1 on a 400."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients.fakes import ANTHROPIC_ANSWER, OPENAI_ANSWER, FakeAnthropic, FakeOpenAI
from clients.harness import UPSTREAM_KEY, Gateway, Run, run_claude, work_dir
from clients.wire import anthropic_tool_results, chat_tool_messages, masked, texts

pytestmark = pytest.mark.loopback

NOTE = "NOTE-CONTENT-42"
# What Claude Code 2.1.332 sends on every turn (a new release may add fields: that is fine).
SEEN_FIELDS = {"model", "max_tokens", "messages", "system", "tools", "metadata", "stream"}
SEEN_BETA = "claude-code-20250219"


def _succeeded(run: Run, answer: str) -> None:
    assert run.returncode == 0, (
        f"exit {run.returncode}\nstdout: {run.stdout[-2000:]}\nstderr: {run.stderr[-2000:]}"
    )
    result = run.json()
    assert result["is_error"] is False, result
    assert result["result"] == answer, result


def _note(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A file in the client's cwd and the Read call that the fake asks for (a read inside the cwd
    needs no permission in print mode)."""
    work = work_dir(tmp_path)
    work.mkdir(parents=True, exist_ok=True)
    (work / "note.txt").write_text(NOTE + "\n")
    return "Read", {"file_path": str(work / "note.txt")}


# --------------------------------------------------------------------------- direct (the harness)


def test_direct_to_fake_anthropic(claude_bin: Path, fake_anthropic: FakeAnthropic, tmp_path: Path) -> None:
    run = run_claude(claude_bin, fake_anthropic.root, "sk-direct-key", "direct-model", tmp_path)
    _succeeded(run, ANTHROPIC_ANSWER)
    (call,) = fake_anthropic.posts("/v1/messages")
    assert set(call.body) >= SEEN_FIELDS
    assert call.body["stream"] is True
    assert call.body["model"] == "direct-model"
    assert call.query == {"beta": ["true"]}
    assert call.headers["x-api-key"] == "sk-direct-key"
    assert call.headers["anthropic-version"] == "2023-06-01"
    assert SEEN_BETA in call.headers["anthropic-beta"].split(",")
    assert call.headers["x-app"] == "cli"
    assert "say hi" in texts(call.body["messages"])


def test_direct_tool_loop(claude_bin: Path, fake_anthropic: FakeAnthropic, tmp_path: Path) -> None:
    fake_anthropic.reset(tool_call=_note(tmp_path))
    run = run_claude(claude_bin, fake_anthropic.root, "sk-direct-key", "direct-model", tmp_path)
    _succeeded(run, ANTHROPIC_ANSWER)
    first, second = fake_anthropic.posts("/v1/messages")
    assert not anthropic_tool_results(first.body)
    (result,) = anthropic_tool_results(second.body)
    assert NOTE in texts(result["content"])
    assert not result.get("is_error")


def test_direct_accepts_switchboard_stream_shape(
    claude_bin: Path, fake_anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    """Switchboard's Anthropic streams carry a `: switchboard-timing` comment and (translated) no
    `ping` and zero input tokens in message_start: Claude Code takes that as it is."""

    def gateway_shaped(events: list[bytes]) -> list[bytes]:
        kept = [
            e.replace(b'"input_tokens": 25', b'"input_tokens": 0') for e in events if b"event: ping" not in e
        ]
        return [b': switchboard-timing {"overhead_ms": 0.4}\n\n' + e for e in kept]

    fake_anthropic.edit_stream = gateway_shaped
    run = run_claude(claude_bin, fake_anthropic.root, "sk-direct-key", "direct-model", tmp_path)
    _succeeded(run, ANTHROPIC_ANSWER)
    assert [c.body["stream"] for c in fake_anthropic.posts("/v1/messages")] == [True]


# --------------------------------------------------------------------------- through Switchboard


def test_through_switchboard_to_anthropic_is_pass_through(
    claude_bin: Path, fake_anthropic: FakeAnthropic, gateway: Gateway, tmp_path: Path
) -> None:
    # GIVEN what Claude Code sends straight to the fake with the same HOME, cwd and model name
    reference = run_claude(claude_bin, fake_anthropic.root, "sk-direct-key", "to-anthropic", tmp_path)
    _succeeded(reference, ANTHROPIC_ANSWER)
    (sent,) = fake_anthropic.posts("/v1/messages")
    fake_anthropic.reset()
    # WHEN it goes through Switchboard with a gateway key
    run = run_claude(claude_bin, gateway.base, gateway.key, "to-anthropic", tmp_path)
    # THEN it gets the fake's answer, and the fake saw the same request with only `model` rewritten
    _succeeded(run, ANTHROPIC_ANSWER)
    (seen,) = fake_anthropic.posts("/v1/messages")
    assert masked(seen.body) == masked({**sent.body, "model": "claude-upstream"})
    assert seen.headers["x-api-key"] == UPSTREAM_KEY
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert seen.headers.get("anthropic-beta") == sent.headers["anthropic-beta"]


def test_through_switchboard_to_openai_chat_is_translated(
    claude_bin: Path, fake_openai: FakeOpenAI, gateway: Gateway, tmp_path: Path
) -> None:
    run = run_claude(claude_bin, gateway.base, gateway.key, "to-openai", tmp_path)
    _succeeded(run, OPENAI_ANSWER)
    # the fake reported prompt_tokens 30, completion_tokens 9: Claude Code reads the upstream's counts
    # from the translated stream (it showed input 0 before issue 18 item 3)
    usage = run.json()["usage"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (30, 9)
    (seen,) = fake_openai.posts("/v1/chat/completions")
    body = seen.body
    assert body["model"] == "gpt-upstream"
    assert body["stream"] is True
    assert seen.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    roles = [m["role"] for m in body["messages"]]
    assert roles[0] in ("system", "developer")
    assert "Claude agent" in texts(body["messages"][0])
    assert "say hi" in texts([m for m in body["messages"] if m["role"] == "user"])
    # Claude Code puts its environment block in a mid-conversation system message: carried over too
    assert "Primary working directory" in texts(body["messages"])
    names = {t["function"]["name"] for t in body["tools"]}
    assert {"Bash", "Read", "Edit", "Write"} <= names


def test_tool_loop_through_switchboard_to_anthropic(
    claude_bin: Path, fake_anthropic: FakeAnthropic, gateway: Gateway, tmp_path: Path
) -> None:
    fake_anthropic.reset(tool_call=_note(tmp_path))
    run = run_claude(claude_bin, gateway.base, gateway.key, "to-anthropic", tmp_path)
    _succeeded(run, ANTHROPIC_ANSWER)
    first, second = fake_anthropic.posts("/v1/messages")
    assert not anthropic_tool_results(first.body)
    (result,) = anthropic_tool_results(second.body)
    assert NOTE in texts(result["content"])


def test_tool_loop_through_switchboard_to_openai_chat(
    claude_bin: Path, fake_openai: FakeOpenAI, gateway: Gateway, tmp_path: Path
) -> None:
    fake_openai.reset(tool_call=_note(tmp_path))
    run = run_claude(claude_bin, gateway.base, gateway.key, "to-openai", tmp_path)
    _succeeded(run, OPENAI_ANSWER)
    first, second = fake_openai.posts("/v1/chat/completions")
    assert not chat_tool_messages(first.body)
    (result,) = chat_tool_messages(second.body)
    assert NOTE in texts(result["content"])
