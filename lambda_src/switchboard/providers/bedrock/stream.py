"""ConverseStream: the binary `application/vnd.amazon.eventstream` body -> OpenAI chunk events.

Frames are decoded incrementally with botocore's event-stream parser (imported on first use);
exception frames become OpenAI error events whose `code` is the exception type, so the executor
classifies them by type (`classify_stream_error`). Pure: no I/O, clock or logging.
"""

from __future__ import annotations

from typing import Any

import orjson

from switchboard.providers.bedrock.response import completion_id, finish_reason, usage_from_converse
from switchboard.providers.structured import JSON_TOOL
from switchboard.values import Usage
from switchboard.wire.openai import DONE, chunk, error_event, malformed_event, usage_chunk, usage_object_of


class BedrockStream:
    """ConverseStream event-stream frames (raw bytes) -> OpenAI chunk events."""

    raw_framing = True

    def __init__(self, model: str, include_usage: bool, created: int) -> None:
        from botocore.eventstream import EventStreamBuffer

        self._buffer = EventStreamBuffer()
        self._model = model
        self._include_usage = include_usage
        self._created = created
        self._id = completion_id()
        self._tools: dict[int, int] = {}
        self._answer: int | None = None
        """The content block of the forced JSON-output tool's call (its input is the answer text)."""
        self._done = False
        self.usage: Usage | None = None

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return chunk(self._id, self._model, self._created, delta, finish)

    def feed(self, data: bytes) -> list[bytes]:
        from botocore.eventstream import ParserError
        from botocore.exceptions import EventStreamError

        out: list[bytes] = []
        try:
            self._buffer.add_data(data)
            for message in self._buffer:
                headers = message.headers
                if headers.get(":message-type") in ("exception", "error"):
                    out.append(_exception_event(headers, message.payload))
                    continue
                out.extend(self._event(str(headers.get(":event-type")), orjson.loads(message.payload)))
        except (ParserError, EventStreamError, orjson.JSONDecodeError, KeyError, TypeError):
            out.append(malformed_event("malformed Bedrock event stream"))
        return out

    def _event(self, kind: str, payload: dict[str, Any]) -> list[bytes]:
        if self._done:
            return []
        if kind == "contentBlockDelta":
            delta = payload["delta"]
            if "text" in delta:
                return [self._chunk({"content": delta["text"]})]
            if (
                "toolUse" in delta
                and delta["toolUse"].get("input")
                and payload["contentBlockIndex"] == self._answer
            ):
                return [self._chunk({"content": delta["toolUse"]["input"]})]
            if "toolUse" in delta and delta["toolUse"].get("input"):
                index = self._tools[payload["contentBlockIndex"]]
                call = {"index": index, "function": {"arguments": delta["toolUse"]["input"]}}
                return [self._chunk({"tool_calls": [call]})]
            return []
        if kind == "messageStart":
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "contentBlockStart":
            tool = (payload.get("start") or {}).get("toolUse")
            if tool and tool.get("name") == JSON_TOOL:
                self._answer = payload["contentBlockIndex"]
                return []
            if tool:
                index = self._tools[payload["contentBlockIndex"]] = len(self._tools)
                call = {
                    "index": index,
                    "id": tool["toolUseId"],
                    "type": "function",
                    "function": {"name": tool["name"], "arguments": ""},
                }
                return [self._chunk({"tool_calls": [call]})]
            return []
        if kind == "messageStop":
            finish = finish_reason(payload.get("stopReason", ""))
            if finish == "tool_calls" and not self._tools:
                finish = "stop"  # only the forced JSON-output tool was called: the answer
            return [self._chunk({}, finish)]
        if kind == "metadata":
            self._done = True
            out = []
            if isinstance(payload.get("usage"), dict):
                self.usage = usage_from_converse(payload["usage"])
            if self._include_usage:
                usage = usage_object_of(self.usage or Usage())
                out.append(usage_chunk(self._id, self._model, self._created, usage))
            out.append(DONE)
            return out
        return []  # contentBlockStop and event types added later


def _exception_event(headers: dict[str, Any], payload: bytes) -> bytes:
    """An exception frame -> an OpenAI error event whose `code` is the exception type."""
    kind = str(headers.get(":exception-type") or headers.get(":error-code") or "InternalServerException")
    try:
        detail = str(orjson.loads(payload).get("message", ""))
    except (orjson.JSONDecodeError, AttributeError):
        detail = ""
    return error_event(f"Bedrock {kind}: {detail}"[:500], kind, "api_error")
