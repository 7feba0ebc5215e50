"""Gemini GenerateContentResponse objects (answers and SSE chunks) -> OpenAI bodies and chunks.

The finish-reason and usage tables are `wire.gemini`'s; OpenAI bodies and events are built by
`wire.openai`. Pure: no I/O, clock or logging (`created` is passed in).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

import orjson

from switchboard.values import Usage
from switchboard.wire.gemini import finish_reason, openai_usage, usage_from_gemini
from switchboard.wire.openai import (
    DONE,
    assistant_message,
    choice,
    chunk,
    completion_body,
    error_event,
    malformed_event,
    tool_call,
    usage_chunk,
)
from switchboard.wire.sse import event_data


def _split_parts(parts: list[Any], call_prefix: str, first_call: int) -> tuple[str, list[dict[str, Any]]]:
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in parts:
        if "text" in part and not part.get("thought"):
            text.append(part["text"])
        elif "functionCall" in part:
            call = part["functionCall"]
            call_id = call.get("id") or f"{call_prefix}_{first_call + len(calls)}"
            calls.append(tool_call(call_id, call["name"], call.get("args")))
    return "".join(text), calls


def answer_id() -> str:
    """An id for an answer Gemini sent without `responseId`: fresh per answer, so the tool-call ids
    derived from it (`call_<id>_<n>`) never repeat across the turns of a conversation."""
    return "gemini-" + secrets.token_hex(12)


def to_chat_completion(response: Mapping[str, Any], created: int) -> dict[str, Any]:
    rid = str(response.get("responseId") or answer_id())
    choices = []
    for position, candidate in enumerate(response.get("candidates") or []):
        index = int(candidate.get("index", position))
        text, calls = _split_parts(
            (candidate.get("content") or {}).get("parts") or [], f"call_{rid}_{index}", 0
        )
        finish = finish_reason(candidate.get("finishReason") or "STOP", bool(calls))
        choices.append(choice(index, assistant_message(text or None, calls), finish))
    if not choices:  # the prompt itself was blocked
        if not (response.get("promptFeedback") or {}).get("blockReason"):
            raise KeyError("candidates")
        choices.append(choice(0, assistant_message(None), "content_filter"))
    return completion_body(
        f"chatcmpl-{rid}",
        response.get("modelVersion", ""),
        created,
        choices,
        openai_usage(response.get("usageMetadata") or {}),
    )


class GeminiStream:
    """Gemini SSE chunks (whole GenerateContentResponse objects) -> OpenAI chunks. Gemini ends a
    stream by closing it after the chunk with `finishReason`, so that chunk also yields `[DONE]`."""

    __slots__ = ("_calls", "_created", "_done", "_id", "_include_usage", "_started", "_usage", "usage")
    raw_framing = False

    def __init__(self, include_usage: bool, created: int) -> None:
        self._include_usage = include_usage
        self._created = created
        self._started: set[int] = set()
        self._calls: dict[int, int] = {}
        self._usage: dict[str, Any] = {}
        self._done = False
        self._id = answer_id()  # one per stream, for chunks without `responseId`
        self.usage: Usage | None = None

    def feed(self, event: bytes) -> list[bytes]:
        data = event_data(event)
        if data is None or self._done:
            return []
        try:
            return self._translate(orjson.loads(data))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return [malformed_event()]

    def _translate(self, response: dict[str, Any]) -> list[bytes]:
        if "error" in response:
            error = response["error"] or {}
            message = str(error.get("message") or "upstream error")
            return [error_event(message, str(error.get("status") or "api_error"), "api_error")]
        rid = f"chatcmpl-{response.get('responseId') or self._id}"
        model = str(response.get("modelVersion", ""))
        if meta := response.get("usageMetadata"):
            self._usage.update(meta)
            self.usage = usage_from_gemini(self._usage)
        out: list[bytes] = []
        finished = False
        candidates = response.get("candidates") or []
        if not candidates and (response.get("promptFeedback") or {}).get("blockReason"):
            out.append(chunk(rid, model, self._created, {}, "content_filter"))
            finished = True
        for position, candidate in enumerate(candidates):
            finished = self._candidate(rid, model, position, candidate, out) or finished
        if finished:
            self._done = True
            if self._include_usage:
                out.append(usage_chunk(rid, model, self._created, openai_usage(self._usage)))
            out.append(DONE)
        return out

    def _candidate(
        self, rid: str, model: str, position: int, candidate: Mapping[str, Any], out: list[bytes]
    ) -> bool:
        """Appends one candidate's chunks to `out`; True when it carries a finish reason."""
        index = int(candidate.get("index", position))
        delta: dict[str, Any] = {}
        if index not in self._started:
            self._started.add(index)
            delta["role"] = "assistant"
        first = self._calls.get(index, 0)
        text, calls = _split_parts(
            (candidate.get("content") or {}).get("parts") or [], f"call_{rid}_{index}", first
        )
        if text:
            delta["content"] = text
        if calls:
            delta["tool_calls"] = [{"index": first + k, **call} for k, call in enumerate(calls)]
            self._calls[index] = first + len(calls)
        reason = candidate.get("finishReason")
        if delta:
            out.append(chunk(rid, model, self._created, delta, None, index))
        if not reason:
            return False
        finish = finish_reason(reason, self._calls.get(index, 0) > 0)
        out.append(chunk(rid, model, self._created, {}, finish, index))
        return True
