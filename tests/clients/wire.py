"""Helpers for asserting on what the fakes recorded: per-session ids masked, text pulled out of the
three request formats."""

from __future__ import annotations

import re
from typing import Any

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_UNIX_MS = re.compile(r"(?<![0-9])1[0-9]{12}(?![0-9])")


def masked(value: Any) -> Any:
    """The value with every UUID (session, thread, turn and item ids) and every Unix time in ms (Codex's
    turn_started_at_unix_ms) replaced by a placeholder: they differ per run, so two runs of a client
    with the same HOME, cwd and prompt compare equal."""
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    if isinstance(value, str):
        return _UNIX_MS.sub("<unix-ms>", _UUID.sub("<uuid>", value))
    return value


def texts(value: Any) -> str:
    """Every string inside a request body, joined: "did this text reach the upstream at all"."""
    if isinstance(value, dict):
        return "\n".join(texts(v) for v in value.values())
    if isinstance(value, list):
        return "\n".join(texts(v) for v in value)
    return value if isinstance(value, str) else ""


def anthropic_tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        block
        for message in body.get("messages") or []
        if isinstance(message.get("content"), list)
        for block in message["content"]
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]


def responses_tool_outputs(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        item
        for item in body.get("input") or []
        if isinstance(item, dict) and item.get("type") == "function_call_output"
    ]


def chat_tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body.get("messages") or [] if m.get("role") == "tool"]
