"""The OpenAI Chat Completions wire format: building and reading its bodies and SSE events.

Switchboard's executor speaks this form internally (every adapter translates to and from it), so
this module is where `data: {...}` events, chunks, usage chunks, error events, usage objects,
tool calls and `chat.completion` bodies are built, and where a relayed event is read (done, error,
usage, output). Nothing else writes `b"data: " + orjson.dumps(...)` by hand.

Key order is part of the contract: orjson keeps insertion order, and tests compare bytes.
This module only builds and reads bytes and dicts: no I/O, no clock, no logging.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import orjson

from switchboard.values import Usage
from switchboard.wire.sse import event_data, event_object

DONE: Final = b"data: [DONE]\n\n"


def usage_from_openai(usage: Any, service_tier: Any = None) -> Usage | None:
    """From an OpenAI `usage` object (reasoning tokens where reported) and the answer's top-level
    `service_tier` (the tier that processed it: it changes the price); None when it is not one (a
    malformed upstream value)."""
    if not isinstance(usage, Mapping):
        return None
    details = usage.get("prompt_tokens_details")
    if not isinstance(details, Mapping):
        details = {}
    out = usage.get("completion_tokens_details")
    reasoning = out.get("reasoning_tokens") if isinstance(out, Mapping) else 0
    return Usage(
        _count(usage.get("prompt_tokens")),
        _count(usage.get("completion_tokens")),
        _count(details.get("cached_tokens")),
        _count(details.get("cache_write_tokens")),
        reasoning=_count(reasoning),
        service_tier=service_tier if isinstance(service_tier, str) and service_tier else None,
    )


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def strict_compatible(schema: Any) -> bool:
    """Whether OpenAI's strict mode takes the schema: every object closes its properties
    (`additionalProperties: false`) and requires all of them. Anthropic's format needs the first,
    not the second, so an Anthropic client's schema goes to OpenAI strict only when it qualifies."""
    if isinstance(schema, list):
        return all(strict_compatible(item) for item in schema)
    if not isinstance(schema, dict):
        return True
    if schema.get("type") == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False:
            return False
        if not isinstance(properties, dict) or set(schema.get("required") or ()) != set(properties):
            return False
    return all(strict_compatible(value) for key, value in schema.items() if key not in ("enum", "const"))


BAD_UPSTREAM_EVENT: Final = "bad_upstream_event"
"""The error code of the event that replaces an upstream stream event we could not parse."""


def usage_object(
    prompt: int,
    completion: int,
    cached: int | None = 0,
    total: int | None = None,
    cache_write: int = 0,
) -> dict[str, Any]:
    """The OpenAI `usage` object. `prompt` includes `cached` and `cache_write`; `total` defaults to
    prompt + completion; `cached=None` leaves out `prompt_tokens_details` (servers that never report
    it). Prompt-cache writes (Anthropic, Bedrock) go in `prompt_tokens_details.cache_write_tokens`
    (a field of the openai SDK's `PromptTokensDetails`), only when there are some, so translated
    streams can give the client the upstream's exact counts."""
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion if total is None else total,
    }
    if cached is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
        if cache_write:
            usage["prompt_tokens_details"]["cache_write_tokens"] = cache_write
    return usage


def usage_object_of(usage: Usage) -> dict[str, Any]:
    """A `Usage` value as an OpenAI `usage` object (cache writes as `cache_write_tokens`)."""
    return usage_object(usage.prompt, usage.completion, usage.cached, cache_write=usage.cache_write)


def tool_call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    """One function tool call of an answer; `arguments` (any JSON value) is sent as its JSON text."""
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": orjson.dumps(arguments or {}).decode()},
    }


def assistant_message(content: str | None, tool_calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The assistant message of one choice (`tool_calls` only when there are some)."""
    reply: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls:
        reply["tool_calls"] = tool_calls
    return reply


def choice(index: int, reply: Mapping[str, Any], finish: str | None) -> dict[str, Any]:
    return {"index": index, "message": reply, "logprobs": None, "finish_reason": finish}


def completion_body(
    rid: str, model: str, created: int, choices: list[dict[str, Any]], usage: Mapping[str, Any]
) -> dict[str, Any]:
    """A `chat.completion` body (as a dict: callers may add fields before dumping it)."""
    return {
        "id": rid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": usage,
    }


def data_event(payload: Mapping[str, Any]) -> bytes:
    """One SSE event carrying a JSON object."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def error_object(message: str, kind: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_event(message: str, code: str | None, kind: str = "upstream_error") -> bytes:
    """The event that ends a stream that failed after it started (no `[DONE]` follows)."""
    return data_event(error_object(message, kind, code))


def malformed_event(message: str = "malformed upstream stream event") -> bytes:
    """The error event that stands for an upstream stream event that could not be translated."""
    return error_event(message, BAD_UPSTREAM_EVENT, "api_error")


def chunk(
    rid: str,
    model: str,
    created: int,
    delta: Mapping[str, Any],
    finish: str | None = None,
    index: int = 0,
) -> bytes:
    """One `chat.completion.chunk` event with a single choice."""
    return data_event(
        {
            "id": rid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
    )


def usage_chunk(rid: str, model: str, created: int, usage: Mapping[str, Any]) -> bytes:
    """The usage-only chunk (`choices: []`) that ends a stream when `include_usage` was asked."""
    return data_event(
        {
            "id": rid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": usage,
        }
    )


def is_done(event: bytes) -> bool:
    return event.startswith(b"data: [DONE]") or event.startswith(b"data:[DONE]")


def error_payload(event: bytes) -> dict[str, Any] | None:
    """The parsed `{"error": ...}` object if this event is an error event, else None (cheap check first)."""
    if b"error" not in event[:40]:
        return None
    parsed = event_object(event)
    return parsed if parsed is not None and "error" in parsed else None


def event_usage(event: bytes) -> tuple[Usage | None, bool]:
    """(the usage an event reports, whether it is the usage-only chunk). A cheap byte check first:
    most events carry no usage object."""
    if b'"usage":{' not in event and b'"usage": {' not in event:
        return None, False
    try:
        parsed = orjson.loads(event_data(event) or b"{}")
    except orjson.JSONDecodeError:
        return None, False
    if not isinstance(parsed, dict):
        return None, False
    return usage_from_openai(parsed.get("usage"), parsed.get("service_tier")), not parsed.get("choices")


def answer_usage(content: bytes) -> Usage | None:
    """The usage a complete OpenAI answer (chat completion or embeddings list) reports, None when it
    reports none. `usage` comes last and answers can be large, so the object is found from the end
    and parsed alone; an answer laid out otherwise is parsed whole."""
    if len(content) <= WHOLE_ANSWER:
        try:
            parsed = orjson.loads(content)
        except orjson.JSONDecodeError:
            return None
        return _usage_of(parsed)
    start = content.rfind(b'"usage"')
    if start < 0:
        return None
    opening = content.find(b"{", start + 7, start + 16)
    if opening >= 0 and not content[start + 7 : opening].strip(b" \t\r\n:"):
        closing = content.find(b"}", opening)
        while closing >= 0:  # the first `}` that closes a valid object (nested details come first)
            try:
                return usage_from_openai(orjson.loads(content[opening : closing + 1]), _tier(content))
            except orjson.JSONDecodeError:
                closing = content.find(b"}", closing + 1)
    try:
        parsed = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    return _usage_of(parsed)


WHOLE_ANSWER: Final = 2048
"""Answers up to this size are parsed whole (~1 us), faster than finding `usage` in the bytes."""


def _usage_of(parsed: Any) -> Usage | None:
    if not isinstance(parsed, dict):
        return None
    return usage_from_openai(parsed.get("usage"), parsed.get("service_tier"))


_TIER = re.compile(rb'"service_tier"\s*:\s*"([a-z_]{1,20})"')


def _tier(content: bytes) -> str | None:
    """The answer's top-level `service_tier` without parsing the whole answer (a byte search: the
    value is one short word; a string inside the answer's text has its quotes escaped)."""
    if b'"service_tier"' not in content:
        return None
    found = _TIER.search(content)
    return found.group(1).decode() if found else None


def carries_output(event: bytes) -> bool:
    """True once an OpenAI chunk carries something the client must see (content, tool calls, a finish,
    usage); False for start-up events (comments, role-only or empty deltas) that may be buffered so
    an early error can still fall back to another target."""
    data = event_data(event)
    if data is None:
        return False
    if data.startswith(b"[DONE]"):
        return True
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return True  # not ours to judge: relay it
    if not isinstance(parsed, dict):
        return True
    if parsed.get("usage"):
        return True
    choices = parsed.get("choices")
    if not isinstance(choices, list):
        return True
    for choice in choices:
        if not isinstance(choice, dict):
            return True
        if choice.get("finish_reason") is not None:
            return True
        delta = choice.get("delta") or {}
        if not isinstance(delta, dict):
            return True
        for key, value in delta.items():
            if key != "role" and value not in (None, "", []):
                return True
    return False
