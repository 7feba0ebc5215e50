"""Bedrock Converse answers -> OpenAI chat.completion bodies; the stop-reason and usage tables
shared with `stream.py`. Pure: no I/O, clock or logging (`created` is passed in)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, Final

import orjson

from switchboard.providers.structured import JSON_TOOL
from switchboard.values import Usage
from switchboard.wire.openai import assistant_message, choice, completion_body, tool_call, usage_object_of

STOP_REASONS: Final = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}


def finish_reason(stop: str) -> str:
    return STOP_REASONS.get(stop, "stop")


def usage_from_converse(usage: Mapping[str, Any]) -> Usage:
    """Converse `usage` -> counts: cache reads and writes are part of the prompt (Converse's
    `inputTokens` excludes both). Raises ValueError / TypeError on non-numbers."""
    cache_read = int(usage.get("cacheReadInputTokens") or 0)
    cache_write = int(usage.get("cacheWriteInputTokens") or 0)
    prompt = int(usage.get("inputTokens") or 0) + cache_read + cache_write
    return Usage(prompt, int(usage.get("outputTokens") or 0), cache_read, cache_write)


def openai_usage(usage: Mapping[str, Any]) -> dict[str, Any]:
    """Converse `usage` -> OpenAI `usage`: cache reads and writes counted in `prompt_tokens`, cache
    reads also as `cached_tokens`, writes as `cache_write_tokens`."""
    return usage_object_of(usage_from_converse(usage))


def completion_id() -> str:
    """A fresh `chatcmpl-` id: Converse answers carry none, and `created` (seconds) alone collides
    between answers of the same second."""
    return "chatcmpl-bedrock-" + secrets.token_hex(12)


def to_chat_completion(
    response: Mapping[str, Any], model: str, created: int, response_id: str | None = None
) -> dict[str, Any]:
    blocks = response["output"]["message"]["content"]
    texts: list[str] = []
    calls = []
    for block in blocks:
        if "text" in block:
            texts.append(block["text"])
        elif "toolUse" in block and block["toolUse"]["name"] == JSON_TOOL:  # the answer, as JSON
            texts.append(orjson.dumps(block["toolUse"].get("input")).decode())
        elif "toolUse" in block:
            use = block["toolUse"]
            calls.append(tool_call(use["toolUseId"], use["name"], use.get("input")))
    finish = finish_reason(response.get("stopReason", ""))
    if finish == "tool_calls" and not calls:
        finish = "stop"
    return completion_body(
        response_id or completion_id(),
        model,
        created,
        [choice(0, assistant_message("".join(texts) or None, calls), finish)],
        openai_usage(response.get("usage") or {}),
    )
