"""The Gemini API wire format (generateContent): its tables, events, error shape, usage and the
JSON-array stream framing.

Shared by both directions, so they cannot drift apart:

- `providers/gemini/` (OpenAI request -> a Gemini upstream; Gemini answers and chunks -> OpenAI)
  reads finish reasons with `finish_reason` and usage with `openai_usage`;
- `dialects/gemini*.py` (a Gemini client -> the executor's form; OpenAI answers and chunks ->
  Gemini) writes finish reasons with `gemini_finish`, usage with `usage_metadata`, events with
  `event`, errors with `error_body` / `error_event`; `wire/readers.py` reads passed-through
  Gemini streams with `GeminiEventReader`.

Facts from the Gemini API reference (ai.google.dev/api: generateContent, streamGenerateContent,
countTokens, models; ai.google.dev/gemini-api/docs/troubleshooting for the status table; read
2026-12-07): errors are `{"error": {"code": <HTTP status>, "message", "status": <canonical code>}}`;
`streamGenerateContent?alt=sse` sends one whole `GenerateContentResponse` per `data:` event and
ends by closing the stream after the chunk that carries `finishReason`; without `alt=sse` the same
objects arrive as the elements of one JSON array.

Only tables and byte/dict builders live here: no I/O, no clock, no logging.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

from switchboard.values import Usage
from switchboard.wire.openai import usage_object
from switchboard.wire.sse import SSESplitter, event_data
from switchboard.wire.sse import event_object as _parse

FILTERED: Final = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
)
"""Gemini `finishReason`s that mean the answer was filtered."""

FINISH_REASONS: Final = {"stop": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY"}
"""OpenAI `finish_reason` -> Gemini `finishReason` (tool calls and anything else: STOP)."""

STATUS: Final = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
"""HTTP status -> Google's canonical error `status` (other 4xx: FAILED_PRECONDITION, 5xx: INTERNAL)."""


def finish_reason(reason: str | None, has_calls: bool) -> str | None:
    """Gemini `finishReason` -> OpenAI `finish_reason`."""
    if reason is None:
        return None
    if has_calls:
        return "tool_calls"
    if reason == "MAX_TOKENS":
        return "length"
    if reason in FILTERED:
        return "content_filter"
    return "stop"


def gemini_finish(finish: str | None) -> str:
    return FINISH_REASONS.get(finish or "stop", "STOP")


def usage_from_gemini(meta: Mapping[str, Any]) -> Usage:
    """`usageMetadata` -> counts: thinking tokens are completion tokens (and `reasoning`), cached
    content is the cache-read part of the prompt. Raises ValueError / TypeError on non-numbers."""
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    return Usage(
        int(meta.get("promptTokenCount") or 0),
        int(meta.get("candidatesTokenCount") or 0) + thoughts,
        int(meta.get("cachedContentTokenCount") or 0),
        reasoning=thoughts,
    )


def openai_usage(meta: Mapping[str, Any]) -> dict[str, Any]:
    """`usageMetadata` -> OpenAI `usage`; Gemini's own total is kept when it reports one."""
    usage = usage_from_gemini(meta)
    total = int(meta.get("totalTokenCount") or usage.total)
    return usage_object(usage.prompt, usage.completion, usage.cached, total)


def _read_usage(meta: Any) -> Usage | None:
    """A relayed answer's `usageMetadata` (None when absent or malformed: it is relayed as it is)."""
    if not isinstance(meta, Mapping):
        return None
    try:
        return usage_from_gemini(meta)
    except (TypeError, ValueError):
        return None


def usage_metadata(usage: Mapping[str, Any] | None) -> dict[str, int]:
    """An OpenAI `usage` object -> Gemini `usageMetadata`."""
    usage = usage or {}
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    meta = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": completion,
        "totalTokenCount": int(usage.get("total_tokens") or prompt + completion),
    }
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    if cached:
        meta["cachedContentTokenCount"] = cached
    return meta


def status_of(http_status: int) -> str:
    return STATUS.get(http_status, "FAILED_PRECONDITION" if http_status < 500 else "INTERNAL")


def error_object(http_status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": http_status, "message": message, "status": status_of(http_status)}}


def error_body(http_status: int, message: str) -> bytes:
    """A Gemini API error response body."""
    return orjson.dumps(error_object(http_status, message))


def event(payload: Mapping[str, Any]) -> bytes:
    """One `streamGenerateContent?alt=sse` event: `data: <GenerateContentResponse>\\n\\n`."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def error_event(http_status: int, message: str) -> bytes:
    """The event that ends a failed Gemini stream (an error object where a response would be)."""
    return event(error_object(http_status, message))


# --------------------------------------------------------------------------- reading


class GeminiEventReader:
    """`streamGenerateContent?alt=sse` events relayed to a Gemini client as they are. The stream has
    no closing event: the chunk with a `finishReason` (or a blocked prompt's `promptFeedback`) is
    the final one, and the last `usageMetadata` seen is the stream's usage."""

    __slots__ = ("usage",)

    def __init__(self) -> None:
        self.usage: Usage | None = None

    def carries_output(self, event: bytes) -> bool:
        return event[:1] != b":" and event_data(event) is not None

    def error(self, event: bytes) -> dict[str, Any] | None:
        if b'"error"' not in event[:80]:
            return None
        parsed = _parse(event)
        error = parsed.get("error") if parsed else None
        if not isinstance(error, dict):
            return None
        status = error.get("status")
        return {"error": {"code": status, "type": status, "message": error.get("message")}}

    def is_final(self, event: bytes) -> bool:
        if b'"finishReason"' not in event and b'"blockReason"' not in event:
            return False
        parsed = _parse(event)
        if parsed is None:
            return False
        self.read_usage(event)
        candidates = parsed.get("candidates")
        if isinstance(candidates, list) and any(
            isinstance(c, dict) and c.get("finishReason") for c in candidates
        ):
            return True
        feedback = parsed.get("promptFeedback")
        return isinstance(feedback, dict) and bool(feedback.get("blockReason"))

    def read_usage(self, event: bytes) -> bool:
        if b'"usageMetadata"' in event:
            parsed = _parse(event)
            if parsed is not None:
                self.usage = _read_usage(parsed.get("usageMetadata")) or self.usage
        return False

    def error_event(self, message: str, code: str, kind: str) -> bytes:
        return error_event(504 if code == "stream_timeout" else 502, message)

    def final_event(self, event: bytes) -> bytes:
        return event


def json_usage(content: bytes) -> Usage | None:
    """The usage of a complete `GenerateContentResponse`."""
    try:
        parsed = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    return _read_usage(parsed.get("usageMetadata")) if isinstance(parsed, dict) else None


# --------------------------------------------------------------------------- framing for Google's clients


class SseFraming:
    """`streamGenerateContent?alt=sse` to a Google client: the google-genai SDKs read `data:` lines
    only (the JS SDK's parser stops at the first line that is not one, and fails the stream), so
    SSE comments (Switchboard's timing comment, keep-alives) become a bare line ending: still bytes
    on the wire during a long silence, and blank lines are whitespace every SSE parser skips."""

    __slots__ = ("_splitter",)

    def __init__(self) -> None:
        self._splitter = SSESplitter()

    def feed(self, body: bytes, more: bool) -> bytes:
        return b"".join(item if event_data(item) is not None else b"\n" for item in self._splitter.feed(body))


class JsonArrayFraming:
    """`streamGenerateContent` without `alt=sse`: the SSE events Switchboard relays become the
    elements of one JSON array (`[{...}` then `,\\r\\n{...}` per event, `]` at the end). SSE comments
    (timing, keep-alives) become a space (whitespace between elements is valid JSON), so a long
    silence still sends bytes."""

    __slots__ = ("_opened", "_splitter")

    def __init__(self) -> None:
        self._splitter = SSESplitter()
        self._opened = False

    def feed(self, body: bytes, more: bool) -> bytes:
        out: list[bytes] = []
        for item in self._splitter.feed(body):
            data = event_data(item)
            if data is None:
                out.append(b" ")
                continue
            out.append(b",\r\n" if self._opened else b"[")
            self._opened = True
            out.append(data)
        if not more:
            out.append(b"]" if self._opened else b"[]")
        return b"".join(out)
