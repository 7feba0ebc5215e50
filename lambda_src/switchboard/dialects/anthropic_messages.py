"""Anthropic Messages answers for `/v1/messages` clients whose request was translated: an OpenAI
chat.completion becomes a Messages response (`to_message`), an OpenAI chunk stream becomes
Anthropic's SSE events (`ChunksToEvents`: `message_start`, `content_block_start/delta/stop`,
`message_delta`, `message_stop`), and errors are Anthropic-shaped (`error_body`:
`{"type": "error", "error": {"type", "message"}}`). Tables, usage conversion and event framing come
from `wire/anthropic.py`, shared with the Anthropic provider adapter. The request side is
`anthropic_request.py`; answers from Anthropic targets never come here (passed through).
"""

from __future__ import annotations

from typing import Any

import orjson

from switchboard.errors import GatewayError
from switchboard.wire import anthropic as wire_anthropic


def error_body(exc: GatewayError) -> bytes:
    return wire_anthropic.error_body(wire_anthropic.error_type(exc.http_status), exc.message)


def to_message(completion: bytes) -> bytes:
    data = orjson.loads(completion)
    choice = (data.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        try:
            arguments = orjson.loads(function.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            arguments = {"_raw": function.get("arguments")}
        content.append(
            {"type": "tool_use", "id": call.get("id"), "name": function.get("name"), "input": arguments}
        )
    rid = str(data.get("id") or "msg")
    return orjson.dumps(
        {
            "id": rid if rid.startswith("msg_") else f"msg_{rid}",
            "type": "message",
            "role": "assistant",
            "model": data.get("model", ""),
            "content": content,
            "stop_reason": wire_anthropic.stop_reason(choice.get("finish_reason")),
            "stop_sequence": None,
            "usage": wire_anthropic.anthropic_usage(data.get("usage")),
        }
    )


class ChunksToEvents:
    """OpenAI chunk events (as Switchboard relays them) -> Anthropic Messages stream events."""

    def __init__(self, model: str) -> None:
        self._model = model
        self._started = False
        self._block: int = -1
        self._block_kind: str | None = None
        self._tools: dict[int, int] = {}
        self._stop = "end_turn"
        self._usage: dict[str, int] = {"output_tokens": 0}
        self._pending = b""

    def feed(self, body: bytes) -> bytes:
        data = self._pending + body
        events, _, self._pending = data.rpartition(b"\n\n")
        if not events:
            return b""
        out: list[bytes] = []
        for event in (events + b"\n\n").split(b"\n\n"):
            if event:
                out.extend(self._translate(event + b"\n\n"))
        return b"".join(out)

    def _start(self, chunk: dict[str, Any]) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        rid = str(chunk.get("id") or "msg")
        message: dict[str, Any] = {
            "id": rid if rid.startswith("msg_") else f"msg_{rid}",
            "type": "message",
            "role": "assistant",
            "model": chunk.get("model") or self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return [wire_anthropic.event("message_start", {"type": "message_start", "message": message})]

    def _open(self, kind: str, block: dict[str, Any]) -> list[bytes]:
        out = self._close()
        self._block += 1
        self._block_kind = kind
        out.append(
            wire_anthropic.event(
                "content_block_start",
                {"type": "content_block_start", "index": self._block, "content_block": block},
            )
        )
        return out

    def _close(self) -> list[bytes]:
        if self._block_kind is None:
            return []
        self._block_kind = None
        return [
            wire_anthropic.event("content_block_stop", {"type": "content_block_stop", "index": self._block})
        ]

    def _translate(self, event: bytes) -> list[bytes]:
        if event.startswith(b":"):
            return [event]  # timing comment and keep-alives pass as they are
        if event.startswith(b"data: [DONE]"):
            usage = {"output_tokens": self._usage.get("output_tokens", 0)}
            return [
                *self._start({}),
                *self._close(),
                wire_anthropic.event(
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": self._stop, "stop_sequence": None},
                        "usage": usage,
                    },
                ),
                wire_anthropic.event("message_stop", {"type": "message_stop"}),
            ]
        try:
            chunk = orjson.loads(event[6:] if event.startswith(b"data: ") else event)
        except orjson.JSONDecodeError:
            return []
        if "error" in chunk:
            error = chunk["error"] or {}
            return [wire_anthropic.error_event("api_error", str(error.get("message", "")))]
        out = self._start(chunk)
        if chunk.get("usage"):
            self._usage = wire_anthropic.anthropic_usage(chunk["usage"])
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                if self._block_kind != "text":
                    out += self._open("text", {"type": "text", "text": ""})
                out.append(
                    wire_anthropic.event(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": self._block,
                            "delta": {"type": "text_delta", "text": delta["content"]},
                        },
                    )
                )
            for call in delta.get("tool_calls") or []:
                index = int(call.get("index", 0))
                function = call.get("function") or {}
                if index not in self._tools:
                    out += self._open(
                        "tool_use",
                        {"type": "tool_use", "id": call.get("id"), "name": function.get("name"), "input": {}},
                    )
                    self._tools[index] = self._block
                if function.get("arguments"):
                    out.append(
                        wire_anthropic.event(
                            "content_block_delta",
                            {
                                "type": "content_block_delta",
                                "index": self._tools[index],
                                "delta": {"type": "input_json_delta", "partial_json": function["arguments"]},
                            },
                        )
                    )
            if choice.get("finish_reason"):
                self._stop = wire_anthropic.stop_reason(choice["finish_reason"])
        return out
