"""Anthropic Messages answers and stream events -> OpenAI chat.completion bodies and chunks.

Stop reasons and usage are read through `wire.anthropic` (the `/v1/messages` dialect writes them
through the same tables); OpenAI bodies and events are built by `wire.openai`. Pure: no I/O, clock
or logging (`created` is passed in).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from switchboard.providers.structured import JSON_TOOL
from switchboard.values import Usage
from switchboard.wire import anthropic as wire_anthropic
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
    usage_object_of,
)
from switchboard.wire.sse import event_data


def openai_usage(usage: Mapping[str, Any]) -> dict[str, Any]:
    """Anthropic `usage` -> OpenAI `usage`: cache reads and writes counted in `prompt_tokens`, cache
    reads also as `cached_tokens`, writes as `cache_write_tokens`."""
    return usage_object_of(wire_anthropic.usage_from_anthropic(usage))


def to_chat_completion(message: Mapping[str, Any], created: int) -> dict[str, Any]:
    text = []
    tool_calls = []
    for block in message["content"]:
        if block["type"] == "text":
            text.append(block["text"])
        elif block["type"] == "tool_use" and block["name"] == JSON_TOOL:  # the answer, as JSON
            text.append(orjson.dumps(block.get("input")).decode())
        elif block["type"] == "tool_use":
            tool_calls.append(tool_call(block["id"], block["name"], block.get("input")))
    reply = assistant_message("".join(text) if text else None, tool_calls)
    finish = wire_anthropic.finish_reason(message.get("stop_reason"))
    if finish == "tool_calls" and not tool_calls:
        finish = "stop"
    return completion_body(
        message["id"],
        message.get("model", ""),
        created,
        [choice(0, reply, finish)],
        openai_usage(message.get("usage") or {}),
    )


class AnthropicStream:
    """Anthropic SSE events -> OpenAI chat.completion.chunk events, one stream's state."""

    __slots__ = (
        "_answer",
        "_created",
        "_finish",
        "_id",
        "_include_usage",
        "_model",
        "_tools",
        "_usage",
        "usage",
    )
    raw_framing = False

    def __init__(self, include_usage: bool, created: int) -> None:
        self._include_usage = include_usage
        self._created = created
        self._id = ""
        self._model = ""
        self._tools: dict[int, int] = {}
        self._answer: int | None = None
        """The block index of the forced JSON-output tool's call (its input is the answer text)."""
        self._usage: dict[str, Any] = {}
        self._finish: str | None = None
        self.usage: Usage | None = None

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return chunk(self._id, self._model, self._created, delta, finish)

    def feed(self, event: bytes) -> list[bytes]:
        data = event_data(event)
        if data is None:
            return []
        try:
            payload = orjson.loads(data)
            kind = payload["type"]
            return self._translate(kind, payload)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return [malformed_event()]

    def _translate(self, kind: str, payload: dict[str, Any]) -> list[bytes]:
        if kind == "content_block_delta":
            return self._delta(payload)
        if kind == "message_start":
            message = payload["message"]
            self._id = message.get("id", "")
            self._model = message.get("model", "")
            self._usage.update(message.get("usage") or {})
            self.usage = wire_anthropic.usage_from_anthropic(self._usage)
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            return self._block_start(payload)
        if kind == "message_delta":
            self._usage.update({k: v for k, v in (payload.get("usage") or {}).items() if v is not None})
            self.usage = wire_anthropic.usage_from_anthropic(self._usage)
            self._finish = wire_anthropic.finish_reason(payload.get("delta", {}).get("stop_reason"))
            if self._finish == "tool_calls" and not self._tools:
                self._finish = "stop"  # only the forced JSON-output tool was called: the answer
            return [self._chunk({}, self._finish)]
        if kind == "message_stop":
            out = []
            if self._include_usage:
                usage = self.usage or Usage()
                out.append(usage_chunk(self._id, self._model, self._created, usage_object_of(usage)))
            out.append(DONE)
            return out
        if kind == "error":
            error = payload.get("error") or {}
            etype = str(error.get("type") or "api_error")
            return [error_event(str(error.get("message") or etype), etype, etype)]
        return []  # ping, content_block_stop, and event types added later by Anthropic

    def _delta(self, payload: dict[str, Any]) -> list[bytes]:
        delta = payload["delta"]
        dtype = delta.get("type")
        if dtype == "text_delta":
            return [self._chunk({"content": delta["text"]})]
        if dtype == "input_json_delta" and delta.get("partial_json") and payload["index"] == self._answer:
            return [self._chunk({"content": delta["partial_json"]})]
        if dtype == "input_json_delta" and delta.get("partial_json"):
            index = self._tools[payload["index"]]
            call = {"index": index, "function": {"arguments": delta["partial_json"]}}
            return [self._chunk({"tool_calls": [call]})]
        return []  # thinking / signature / citations deltas are not relayed

    def _block_start(self, payload: dict[str, Any]) -> list[bytes]:
        block = payload["content_block"]
        if block.get("type") == "tool_use" and block.get("name") == JSON_TOOL:
            self._answer = payload["index"]
            return []
        if block.get("type") == "tool_use":
            index = self._tools[payload["index"]] = len(self._tools)
            call = {
                "index": index,
                "id": block["id"],
                "type": "function",
                "function": {"name": block["name"], "arguments": ""},
            }
            return [self._chunk({"tool_calls": [call]})]
        if block.get("type") == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        return []
