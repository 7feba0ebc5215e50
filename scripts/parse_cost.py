"""What parsing a Claude-Code-sized `/v1/messages` body costs, served by an Anthropic target (passed
through: the body is checked, the chat form is never built) and by an OpenAI target (checked, then
translated on first use). Pure CPU, no server: run it against any checkout to compare.

    .venv/bin/python scripts/parse_cost.py                       # this checkout
    .venv/bin/python scripts/parse_cost.py --src ../other/lambda_src --rounds 15

The body (`claude_code_body`): ~30 tools with JSON schemas, a ~20 KB system prompt in cache-marked
blocks, 40 turns of tool_use / tool_result with thinking blocks, metadata, thinking, output_config.
Prints the median microseconds per request over `--rounds` rounds (each the mean of `--number` calls),
of the whole parse and of the dialect's own work (the JSON parse, unchanged, replaced by a copy).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _schema(i: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": f"The absolute path of the file {i} works on."},
            "pattern": {"type": "string", "description": "A glob or regular expression to match."},
            "limit": {"type": "integer", "minimum": 1, "description": "How many results at most."},
            "options": {
                "type": "object",
                "properties": {
                    "recursive": {"type": "boolean"},
                    "ignore": {"type": "array", "items": {"type": "string"}},
                },
                "additionalProperties": False,
            },
        },
        "required": ["path"],
        "additionalProperties": False,
    }


def claude_code_body(turns: int = 40, tools: int = 30) -> dict[str, Any]:
    system_text = "You are an interactive CLI tool that helps users with software engineering tasks. " * 240
    messages: list[dict[str, Any]] = []
    for t in range(turns // 2):
        call = f"toolu_{t:04d}"
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": f"toolu_{t - 1:04d}", "content": "ok\n" * 40}
                    if t
                    else {"type": "text", "text": "Please fix the failing test in the parser module."},
                    {"type": "text", "text": f"<system-reminder>turn {t}</system-reminder>"},
                ],
            }
        )
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "thinking",
                        "thinking": "Let me look at the file. " * 10,
                        "signature": "sig" * 20,
                    },
                    {"type": "text", "text": f"I will read file {t} next."},
                    {
                        "type": "tool_use",
                        "id": call,
                        "name": f"Tool{t % tools}",
                        "input": {"path": f"/repo/src/module_{t}.py", "limit": 200},
                    },
                ],
            }
        )
    messages.append(
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": f"toolu_{turns // 2 - 1:04d}",
                    "content": [{"type": "text", "text": "done"}],
                    "cache_control": {"type": "ephemeral"},
                }
            ],
        }
    )
    return {
        "model": "claude",
        "max_tokens": 32000,
        "stream": True,
        "system": [
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
            {"type": "text", "text": system_text, "cache_control": {"type": "ephemeral"}},
        ],
        "messages": messages,
        "tools": [
            {"name": f"Tool{i}", "description": f"Tool number {i}. " * 20, "input_schema": _schema(i)}
            for i in range(tools)
        ],
        "metadata": {"user_id": "user_abc_account__session_1"},
        "thinking": {"type": "enabled", "budget_tokens": 31999},
        "output_config": {"effort": "high"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", default=str(Path(__file__).resolve().parents[1] / "lambda_src"))
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--number", type=int, default=50)
    args = parser.parse_args()
    sys.path.insert(0, args.src)
    from switchboard.dialects import anthropic_request
    from switchboard.dialects.request import parse_json_object

    raw = json.dumps(claude_code_body()).encode()
    parsed = parse_json_object(raw)

    def passed_through() -> None:
        anthropic_request.parse_messages_request(raw)

    def translated() -> None:
        request = anthropic_request.parse_messages_request(raw)
        assert request.body["messages"]

    def json_only() -> None:
        parse_json_object(raw)

    print(f"body: {len(raw) / 1024:.1f} KiB, src: {args.src}")
    _report("parse_json_object alone", json_only, args)
    _report("anthropic target (pass-through)", passed_through, args)
    _report("openai target (translated)", translated, args)
    # the dialect's own work: the JSON parse (the same before and after) replaced by a copy
    anthropic_request.parse_json_object = lambda raw: dict(parsed)  # type: ignore[attr-defined]
    _report("  dialect only, pass-through", passed_through, args)
    _report("  dialect only, translated", translated, args)


def _report(name: str, work: Callable[[], None], args: argparse.Namespace) -> None:
    timer = timeit.Timer(work)
    rounds = [timer.timeit(args.number) / args.number * 1e6 for _ in range(args.rounds)]
    print(f"{name:34} median {statistics.median(rounds):8.1f} us  (min {min(rounds):.1f})")


if __name__ == "__main__":
    main()
