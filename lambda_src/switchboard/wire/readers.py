"""Reading relayed streams and answers, per wire format: what the relay and the executor need to
know about an event without re-encoding it.

A `StreamReader` (one per stream) tells whether an event carries output (start-up events are
buffered so an early error can still fall back), whether it is an error (and its payload, in the
`{"error": {...}}` shape `classify_stream_error` reads), whether it ends the stream, and collects
the usage the stream reports as a `Usage` value. It also builds the two events the relay may have
to write itself, in the same format: the error event that ends a failed stream and the final event
that ends a complete one. Formats: OpenAI chat chunks (the executor's own form: every translated
stream and OpenAI-compatible upstreams), Anthropic Messages events, OpenAI Responses events and
Gemini `streamGenerateContent` events (`wire/gemini.py`), all three relayed byte for byte to a client
that speaks them: same-dialect pass-through.

`json_usage` reads the usage of a complete answer in each format.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import orjson

from switchboard.values import Usage
from switchboard.wire.anthropic import hour_writes
from switchboard.wire.gemini import GeminiEventReader
from switchboard.wire.gemini import json_usage as gemini_json_usage
from switchboard.wire.openai import (
    DONE,
    answer_usage,
    carries_output,
    error_event,
    error_payload,
    event_usage,
    is_done,
    usage_from_openai,
)
from switchboard.wire.sse import event_object as _parse

OPENAI_CHAT = "openai.chat"
ANTHROPIC_MESSAGES = "anthropic.messages"
ANTHROPIC_COUNT_TOKENS = "anthropic.count_tokens"
OPENAI_RESPONSES = "openai.responses"
OPENAI_INPUT_TOKENS = "openai.responses.input_tokens"
OPENAI_RESPONSE_RESOURCE = "openai.responses.resource"
"""Retrieve / delete / input_items / cancel of a response the provider stored (no body)."""
GEMINI_GENERATE = "gemini.generate"
GEMINI_COUNT_TOKENS = "gemini.count_tokens"


class StreamReader(Protocol):
    usage: Usage | None

    def carries_output(self, event: bytes) -> bool: ...

    def error(self, event: bytes) -> dict[str, Any] | None:
        """`{"error": {"type", "code", "message"}}` when the event reports a failure."""
        ...

    def is_final(self, event: bytes) -> bool:
        """The event that ends a complete stream (the relay writes `final_event` in its place)."""
        ...

    def read_usage(self, event: bytes) -> bool:
        """Collect usage from the event; True when the event only carries usage Switchboard asked
        for (then it is not relayed)."""
        ...

    def error_event(self, message: str, code: str, kind: str) -> bytes: ...

    def final_event(self, event: bytes) -> bytes: ...


def _event_name(event: bytes) -> bytes:
    if event.startswith(b"event:"):
        return event[6 : event.find(b"\n")].strip()
    return b""


class OpenAIChunkReader:
    """OpenAI `chat.completion.chunk` events ending with `data: [DONE]`."""

    __slots__ = ("strip_usage", "usage")

    def __init__(self, strip_usage: bool = False) -> None:
        self.usage: Usage | None = None
        self.strip_usage = strip_usage

    def carries_output(self, event: bytes) -> bool:
        return carries_output(event)

    def error(self, event: bytes) -> dict[str, Any] | None:
        return error_payload(event)

    def is_final(self, event: bytes) -> bool:
        return is_done(event)

    def read_usage(self, event: bytes) -> bool:
        usage, usage_only = event_usage(event)
        if usage is None:
            return False
        self.usage = usage
        return self.strip_usage and usage_only

    def error_event(self, message: str, code: str, kind: str) -> bytes:
        return error_event(message, code, kind)

    def final_event(self, event: bytes) -> bytes:
        return DONE


def merge_anthropic_usage(usage: Any, previous: Usage | None = None) -> Usage | None:
    """Anthropic counts input, cache reads and cache writes apart; Switchboard's `prompt` is their
    sum (cache reads also in `cached`). A `message_delta` carries only the output count so far."""
    if not isinstance(usage, Mapping):
        return previous
    base = previous or Usage()

    def count(name: str, default: int) -> int:
        value = usage.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default

    read = count("cache_read_input_tokens", base.cached)
    write = count("cache_creation_input_tokens", base.cache_write)
    fresh = count("input_tokens", base.prompt - base.cached - base.cache_write)
    hour = min(write, hour_writes(usage) or base.cache_write_1h)
    tier = usage.get("service_tier")
    return Usage(
        fresh + read + write,
        count("output_tokens", base.completion),
        read,
        write,
        cache_write_1h=hour,
        service_tier=tier if isinstance(tier, str) else base.service_tier,
    )


class AnthropicEventReader:
    """Anthropic Messages events (`message_start` ... `message_stop`)."""

    __slots__ = ("usage",)

    _STARTUP = (b"message_start", b"ping", b"content_block_start")

    def __init__(self) -> None:
        self.usage: Usage | None = None

    def carries_output(self, event: bytes) -> bool:
        name = _event_name(event)
        return bool(name) and name not in self._STARTUP

    def error(self, event: bytes) -> dict[str, Any] | None:
        if _event_name(event) != b"error" and b'"type":"error"' not in event[:60]:
            return None
        parsed = _parse(event)
        error = parsed.get("error") if parsed else None
        return {"error": error if isinstance(error, dict) else {"type": "api_error"}}

    def is_final(self, event: bytes) -> bool:
        return _event_name(event) == b"message_stop"

    def read_usage(self, event: bytes) -> bool:
        name = _event_name(event)
        if name == b"message_start":
            parsed = _parse(event)
            message = parsed.get("message") if parsed else None
            if isinstance(message, dict):
                self.usage = merge_anthropic_usage(message.get("usage"), self.usage)
        elif name == b"message_delta":
            parsed = _parse(event)
            if parsed:
                self.usage = merge_anthropic_usage(parsed.get("usage"), self.usage)
        return False

    def error_event(self, message: str, code: str, kind: str) -> bytes:
        kind = "overloaded_error" if code == "stream_timeout" else "api_error"
        payload = {"type": "error", "error": {"type": kind, "message": message}}
        return b"event: error\ndata: " + orjson.dumps(payload) + b"\n\n"

    def final_event(self, event: bytes) -> bytes:
        return event


def responses_usage(usage: Any, service_tier: Any = None) -> Usage | None:
    if not isinstance(usage, Mapping):
        return None
    details = usage.get("input_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, Mapping) else 0
    return usage_from_openai(
        {
            "prompt_tokens": usage.get("input_tokens"),
            "completion_tokens": usage.get("output_tokens"),
            "prompt_tokens_details": {"cached_tokens": cached},
        },
        service_tier,
    )


class ResponsesEventReader:
    """OpenAI Responses events (`response.created` ... `response.completed`), each with a
    `sequence_number`; errors are `error` or `response.failed` events."""

    __slots__ = ("sequence", "usage")

    _STARTUP = (b"response.created", b"response.in_progress", b"response.queued")
    _FINAL = (b"response.completed", b"response.incomplete")

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.sequence = -1

    def _track(self, event: bytes) -> dict[str, Any] | None:
        parsed = _parse(event)
        if parsed is not None and isinstance(parsed.get("sequence_number"), int):
            self.sequence = max(self.sequence, parsed["sequence_number"])
        return parsed

    def carries_output(self, event: bytes) -> bool:
        name = _event_name(event)
        return bool(name) and name not in self._STARTUP

    def error(self, event: bytes) -> dict[str, Any] | None:
        name = _event_name(event)
        if name not in (b"error", b"response.failed"):
            return None
        parsed = self._track(event) or {}
        if name == b"response.failed":
            response = parsed.get("response")
            error = response.get("error") if isinstance(response, dict) else None
            parsed = error if isinstance(error, dict) else {}
        code = parsed.get("code")
        return {"error": {"code": code, "type": code, "message": parsed.get("message")}}

    def is_final(self, event: bytes) -> bool:
        return _event_name(event) in self._FINAL

    def read_usage(self, event: bytes) -> bool:
        parsed = self._track(event)
        if parsed is not None and _event_name(event) in self._FINAL:
            response = parsed.get("response")
            if isinstance(response, dict):
                self.usage = responses_usage(response.get("usage"), response.get("service_tier"))
        return False

    def error_event(self, message: str, code: str, kind: str) -> bytes:
        self.sequence += 1
        payload = {
            "type": "error",
            "code": code,
            "message": message,
            "param": None,
            "sequence_number": self.sequence,
        }
        return b"event: error\ndata: " + orjson.dumps(payload) + b"\n\n"

    def final_event(self, event: bytes) -> bytes:
        return event


def stream_reader(api: str, strip_usage: bool = False) -> StreamReader:
    if api == ANTHROPIC_MESSAGES:
        return AnthropicEventReader()
    if api == OPENAI_RESPONSES:
        return ResponsesEventReader()
    if api == GEMINI_GENERATE:
        return GeminiEventReader()
    return OpenAIChunkReader(strip_usage)


def json_usage(api: str, content: bytes) -> Usage | None:
    """The usage of a complete answer in its own format (None when it reports none)."""
    if api == OPENAI_CHAT:
        return answer_usage(content)
    if api == GEMINI_GENERATE:
        return gemini_json_usage(content)
    try:
        parsed = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, dict):
        return None
    usage = parsed.get("usage")
    if api == ANTHROPIC_MESSAGES:
        return merge_anthropic_usage(usage) if isinstance(usage, Mapping) else None
    return responses_usage(usage, parsed.get("service_tier"))
