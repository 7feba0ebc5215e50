"""opencode (npm `opencode-ai`, pinned in scripts/install-clients; `opencode run`, headless) through
a real `switchboard serve`, configured in its opencode.json with two providers pointing at the
gateway: `@ai-sdk/openai-compatible` (Chat Completions) and `@ai-sdk/anthropic` (Messages). Each
reaches a fake of another format (translated) and one of its own (passed through); the fakes record
what arrived.

What opencode 1.18.33 sends (observed here): a streamed request with its system prompt, the user's
turn and its tools (bash, read, edit, ...), `max_tokens`; Chat Completions with
`stream_options.include_usage`, Messages with `system` blocks and `tool_choice` auto. It also asks
the same model for a session title first (a second, small streamed request)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clients.conftest import EVERY_KIND
from clients.harness import run_opencode
from served import FakeProviders, Served

pytestmark = pytest.mark.loopback


def providers(gateway: Served) -> dict[str, Any]:
    options = {"baseURL": f"{gateway.base}/v1", "apiKey": gateway.key}
    models = {name: {"name": name} for name in EVERY_KIND}
    return {
        "sbchat": {
            "npm": "@ai-sdk/openai-compatible",
            "name": "Switchboard (chat)",
            "options": options,
            "models": models,
        },
        "sbclaude": {
            "npm": "@ai-sdk/anthropic",
            "name": "Switchboard (Anthropic)",
            "options": options,
            "models": models,
        },
    }


@pytest.mark.parametrize(
    ("model", "upstream_path"),
    [
        ("sbchat/anthropic", "/v1/messages"),  # chat -> Anthropic (translated)
        ("sbchat/bedrock", "/converse-stream"),  # chat -> Bedrock (translated)
        ("sbclaude/anthropic", "/v1/messages"),  # Messages -> Anthropic (passed through)
        ("sbclaude/openai", "/v1/chat/completions"),  # Messages -> OpenAI (translated)
    ],
)
def test_opencode_run(
    opencode_bin: Path,
    every_kind: Served,
    fakes: FakeProviders,
    model: str,
    upstream_path: str,
    tmp_path: Path,
) -> None:
    before = len(fakes.seen)
    result = run_opencode(opencode_bin, providers(every_kind), model, tmp_path)
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-2000:])
    assert "plain answer" in result.stdout
    reached = fakes.seen[before:]
    assert reached and all(seen.path.split("?")[0].endswith(upstream_path) for seen in reached)
    turn = max(reached, key=lambda seen: len(str(seen.body)))  # the agent's turn (not the title)
    if upstream_path == "/converse-stream":
        assert turn.body["toolConfig"]["tools"] and turn.body["system"]
    else:
        assert turn.body["stream"] is True and turn.body["tools"]
