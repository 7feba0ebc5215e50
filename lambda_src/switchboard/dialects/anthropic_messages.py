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
            "usage": wire_anthropic.to_anthropic_usage(data.get("usage")),
        }
    )


def prompt_estimate(body: Any) -> int:
    """The prompt's size in tokens before the upstream reports it (~4 bytes a token, as the limiter
    estimates): what `message_start` says until the real counts arrive."""
    return len(orjson.dumps(body)) // 4


class ChunksToEvents:
    """OpenAI chunk events (as Switchboard relays them) -> Anthropic Messages stream events.

    Usage: `message_start` carries the best counts available when it goes out (the upstream's, when
    its usage chunk arrived in the same body message; otherwise `input_tokens` estimated from the
    prompt), and the final `message_delta` carries the upstream's counts in full (input, output,
    cache reads and writes): what the anthropic SDK's `get_final_message().usage` and Claude Code
    read. An event that is not a chunk object (not JSON, a JSON array, ...) ends the stream with an
    Anthropic `error` event, never a clean `message_stop`: the client must know output was lost.
    """

    def __init__(self, model: str, input_estimate: int = 0) -> None:
        self._model = model
        self._started = False
        self._ended = False
        self._block: int = -1
        self._block_kind: str | None = None
        self._tools: dict[int, int] = {}
        self._stop = "end_turn"
        self._estimate = max(0, input_estimate)
        self._usage: dict[str, int] | None = None
        self._pending = b""

    def feed(self, body: bytes) -> bytes:
        data = self._pending + body
        events, _, self._pending = data.rpartition(b"\n\n")
        if not events:
            return b""
        parsed = [(event + b"\n\n", _chunk_of(event)) for event in events.split(b"\n\n") if event]
        if not self._started:  # the upstream's counts, when they came with the first output
            for _, chunk in parsed:
                if isinstance(chunk, dict) and isinstance(chunk.get("usage"), dict):
                    self._usage = wire_anthropic.to_anthropic_usage(chunk["usage"])
        out: list[bytes] = []
        for event, chunk in parsed:
            out.extend(self._translate(event, chunk))
        return b"".join(out)

    def _start(self, chunk: dict[str, Any]) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        rid = str(chunk.get("id") or "msg")
        usage = self._usage or {
            "input_tokens": self._estimate,
            "output_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0,
        }
        message: dict[str, Any] = {
            "id": rid if rid.startswith("msg_") else f"msg_{rid}",
            "type": "message",
            "role": "assistant",
            "model": chunk.get("model") or self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": dict(usage),
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

    def _error(self, kind: str, message: str) -> list[bytes]:
        self._ended = True
        return [*self._start({}), *self._close(), wire_anthropic.error_event(kind, message)]

    def _finish(self) -> list[bytes]:
        self._ended = True
        usage = self._usage or {"input_tokens": self._estimate, "output_tokens": 0}
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

    def _translate(self, event: bytes, chunk: Any) -> list[bytes]:
        if event.startswith(b":"):
            return [event]  # timing comment and keep-alives pass as they are
        if self._ended:
            return []
        if event.startswith(b"data: [DONE]"):
            return self._finish()
        if not isinstance(chunk, dict):
            return self._error("api_error", "malformed upstream stream event")
        if "error" in chunk:
            error = chunk["error"] if isinstance(chunk["error"], dict) else {}
            return self._error("api_error", str(error.get("message", "")))
        out = self._start(chunk)
        if isinstance(chunk.get("usage"), dict):
            self._usage = wire_anthropic.to_anthropic_usage(chunk["usage"])
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if not isinstance(choice, dict):
                return out + self._error("api_error", "malformed upstream stream event")
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                delta = {}
            if isinstance(delta.get("content"), str) and delta["content"]:
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
            calls = delta.get("tool_calls")
            for call in calls if isinstance(calls, list) else ():
                if isinstance(call, dict):
                    out += self._tool_call(call)
            if choice.get("finish_reason"):
                self._stop = wire_anthropic.stop_reason(str(choice["finish_reason"]))
        return out

    def _tool_call(self, call: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        index = call.get("index", 0)
        index = index if isinstance(index, int) else 0
        function = call.get("function")
        if not isinstance(function, dict):
            function = {}
        if index not in self._tools:
            out += self._open(
                "tool_use",
                {"type": "tool_use", "id": call.get("id"), "name": function.get("name"), "input": {}},
            )
            self._tools[index] = self._block
        if isinstance(function.get("arguments"), str) and function["arguments"]:
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
        return out


def _chunk_of(event: bytes) -> Any:
    """The JSON an OpenAI chunk event carries (None for comments, `[DONE]` and what is not JSON)."""
    if event.startswith((b":", b"data: [DONE]")):
        return None
    try:
        return orjson.loads(event[6:] if event.startswith(b"data: ") else event)
    except orjson.JSONDecodeError:
        return None
