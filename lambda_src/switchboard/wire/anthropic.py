"""The Anthropic Messages wire format: its tables, event framing, error shape and usage.

Shared by both directions of the Anthropic pair, so the two cannot drift apart:

- `providers/anthropic/` (OpenAI request -> Anthropic upstream; Anthropic answers and events ->
  OpenAI) reads stop reasons with `finish_reason` and usage with `usage_from_anthropic`;
- `dialects/anthropic_messages.py` (Anthropic client -> OpenAI form; OpenAI answers and chunks ->
  Anthropic) writes stop reasons with `stop_reason`, usage with `to_anthropic_usage`, events with
  `event` and errors with `error_body` / `error_event`.

Only tables and byte/dict builders live here: no I/O, no clock, no logging, no routing decisions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

from switchboard.values import Usage
from switchboard.wire.openai import usage_from_openai

FINISH_REASONS: Final = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
"""Anthropic `stop_reason` -> OpenAI `finish_reason` (anything else: `stop`)."""

STOP_REASONS: Final = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "function_call": "tool_use",
}
"""OpenAI `finish_reason` -> Anthropic `stop_reason` (anything else: `end_turn`)."""

ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}
"""HTTP status -> Anthropic error `type` (other 4xx: invalid_request_error, other 5xx: api_error)."""


def finish_reason(stop: str | None) -> str:
    return FINISH_REASONS.get(stop or "", "stop")


def stop_reason(finish: str | None) -> str:
    return STOP_REASONS.get(finish or "stop", "end_turn")


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")


def event(name: str, payload: Mapping[str, Any]) -> bytes:
    """One Anthropic SSE event: `event: <name>\\ndata: <json>\\n\\n`."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def error_object(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def error_body(kind: str, message: str) -> bytes:
    """An Anthropic error response body."""
    return orjson.dumps(error_object(kind, message))


def error_event(kind: str, message: str) -> bytes:
    """The `error` event that ends an Anthropic stream."""
    return event("error", error_object(kind, message))


def usage_from_anthropic(usage: Mapping[str, Any]) -> Usage:
    """Anthropic `usage` -> counts: cache reads and writes are part of the prompt (Anthropic's
    `input_tokens` excludes both); raises ValueError / TypeError on non-numbers."""
    cache_read = int(usage.get("cache_read_input_tokens") or 0)
    cache_write = int(usage.get("cache_creation_input_tokens") or 0)
    prompt = int(usage.get("input_tokens") or 0) + cache_read + cache_write
    return Usage(
        prompt,
        int(usage.get("output_tokens") or 0),
        cache_read,
        cache_write,
        cache_write_1h=min(cache_write, hour_writes(usage)),
        service_tier=tier if isinstance(tier := usage.get("service_tier"), str) else None,
    )


def hour_writes(usage: Mapping[str, Any]) -> int:
    """The cache writes kept for an hour (`cache_creation.ephemeral_1h_input_tokens`: Anthropic
    prices them above the 5-minute writes); 0 when the answer does not tell them apart."""
    creation = usage.get("cache_creation")
    value = creation.get("ephemeral_1h_input_tokens") if isinstance(creation, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def to_anthropic_usage(usage: Mapping[str, Any] | None) -> dict[str, int]:
    """An OpenAI `usage` object -> Anthropic `usage`: cache reads (`cached_tokens`) and writes
    (`cache_write_tokens`, as Switchboard's translations report them) taken out of `input_tokens`."""
    counts = usage_from_openai(usage) or Usage()
    return {
        "input_tokens": max(0, counts.prompt - counts.cached - counts.cache_write),
        "output_tokens": counts.completion,
        "cache_read_input_tokens": counts.cached,
        "cache_creation_input_tokens": counts.cache_write,
    }
