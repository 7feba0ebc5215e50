"""The Anthropic-compatible inbound endpoint (`POST /v1/messages`), as pure translation.

A Messages request becomes an OpenAI chat request (so it routes to any provider, Anthropic natively
through its adapter or any other through its translation); the OpenAI answer comes back as a
Messages response, and an OpenAI chunk stream as Anthropic's SSE events (`message_start`,
`content_block_start/delta/stop`, `message_delta`, `message_stop`). Errors are Anthropic-shaped:
`{"type": "error", "error": {"type", "message"}}`. Stop-reason and error tables, usage conversion
and event framing come from `wire/anthropic.py`, shared with the Anthropic provider adapter.

Mapped: `system` (string or text blocks), text / image (base64 and url) / `tool_use` /
`tool_result` blocks, `max_tokens`, `stop_sequences`, `temperature`, `top_p`, tools
(`input_schema` -> `parameters`), `tool_choice` auto / any / tool / none (with
`disable_parallel_tool_use`), `metadata.user_id`, `stream`. Dropped by rule: `top_k` (no OpenAI
equivalent), `thinking` blocks and settings, `cache_control` markers, `service_tier`. Refused with a
400 naming the field: document blocks and unknown fields.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from switchboard.constants import MESSAGES_PATH
from switchboard.dialects.base import Dialect
from switchboard.dialects.request import ChatRequest, parse_chat_request, parse_json_object
from switchboard.errors import GatewayError, InvalidRequest
from switchboard.wire import anthropic as wire_anthropic

KNOWN: Final = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "stop_sequences",
        "temperature",
        "top_p",
        "top_k",
        "tools",
        "tool_choice",
        "metadata",
        "stream",
        "thinking",
        "service_tier",
        "models",
        "provider_preferences",
        "timeout",
    }
)


def error_body(exc: GatewayError) -> bytes:
    return wire_anthropic.error_body(wire_anthropic.error_type(exc.http_status), exc.message)


def _bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def _text_blocks(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text"
        )
    raise _bad(f"'{where}' must be a string or a list of text blocks", where)


def _image_part(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source") or {}
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type')};base64,{source.get('data')}"
    elif source.get("type") == "url":
        url = str(source.get("url"))
    else:
        raise _bad(f"'{where}.source.type' must be base64 or url", where)
    return {"type": "image_url", "image_url": {"url": url}}


def _convert_turn(message: Any, i: int) -> list[dict[str, Any]]:
    where = f"messages[{i}]"
    if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
        raise _bad(f"'{where}.role' must be user or assistant", f"{where}.role")
    role = message["role"]
    content = message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise _bad(f"'{where}.content' must be a string or a list of blocks", f"{where}.content")
    parts: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    tool_results: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        bwhere = f"{where}.content[{j}]"
        if kind == "text":
            parts.append({"type": "text", "text": str(block.get("text", ""))})
        elif kind == "image":
            parts.append(_image_part(block, bwhere))
        elif kind == "tool_use" and role == "assistant":
            tool_calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": orjson.dumps(block.get("input") or {}).decode(),
                    },
                }
            )
        elif kind == "tool_result" and role == "user":
            result = block.get("content")
            text = result if isinstance(result, str) else _text_blocks(result or [], f"{bwhere}.content")
            if block.get("is_error"):
                text = f"[tool error] {text}"
            tool_results.append({"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": text})
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            raise _bad(f"'{bwhere}': content blocks of type {kind!r} are not supported here", bwhere)
    out: list[dict[str, Any]] = list(tool_results)
    if role == "assistant":
        text = "".join(p["text"] for p in parts if p["type"] == "text")
        turn: dict[str, Any] = {"role": "assistant", "content": text or None}
        if tool_calls:
            turn["tool_calls"] = tool_calls
        out.append(turn)
    elif parts:
        out.append({"role": "user", "content": parts})
    return out


def to_chat_request(raw: bytes) -> ChatRequest:
    body = parse_json_object(raw)
    for field in body:
        if field not in KNOWN:
            raise _bad(f"'{field}' is not supported by this endpoint", field)
    model, max_tokens, messages = body.get("model"), body.get("max_tokens"), body.get("messages")
    if not isinstance(model, str) or not model:
        raise _bad("'model' is required and must be a string", "model")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise _bad("'max_tokens' is required and must be a positive integer", "max_tokens")
    if not isinstance(messages, list) or not messages:
        raise _bad("'messages' is required and must be a non-empty array", "messages")
    chat: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "messages": []}
    if (system := body.get("system")) is not None:
        chat["messages"].append({"role": "system", "content": _text_blocks(system, "system")})
    for i, message in enumerate(messages):
        chat["messages"].extend(_convert_turn(message, i))
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p"), ("stop_sequences", "stop")):
        if body.get(ours) is not None:
            chat[theirs] = body[ours]
    if body.get("tools"):
        chat["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.get("name"),
                    "description": t.get("description", ""),
                    "parameters": t.get("input_schema") or {"type": "object"},
                },
            }
            for t in body["tools"]
            if isinstance(t, dict)
        ]
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        kind = choice.get("type")
        mapped = {"auto": "auto", "any": "required", "none": "none"}.get(str(kind))
        chat["tool_choice"] = mapped or {"type": "function", "function": {"name": choice.get("name")}}
        if choice.get("disable_parallel_tool_use"):
            chat["parallel_tool_calls"] = False
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        chat["user"] = metadata["user_id"]
    stream = body.get("stream") is True
    if stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}  # message_delta carries output_tokens
    for field in ("models", "provider_preferences", "timeout"):
        if field in body:
            chat[field] = body[field]
    return parse_chat_request(orjson.dumps(chat))


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


DIALECT = Dialect(
    MESSAGES_PATH,
    to_chat_request,
    to_message,
    error_body,
    lambda model: ChunksToEvents(model).feed,
)
