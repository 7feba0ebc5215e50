"""Anthropic Messages API: OpenAI Chat Completions request -> Messages request, and back.

Pure translation (the executor does the I/O). What maps where is tabled in the README
("Translation: OpenAI -> Anthropic"); in short:

- `system` / `developer` messages -> `system`; `tool` messages -> `tool_result` blocks in a user turn;
  assistant `tool_calls` -> `tool_use` blocks (arguments parsed from their JSON string); consecutive
  turns of one role are merged, as the Messages API wants alternating roles.
- `image_url` parts -> `image` blocks (data URLs as base64 sources, http(s) URLs as url sources).
- `max_completion_tokens` / `max_tokens` -> `max_tokens` (default 4096: the Messages API requires it);
  `stop` -> `stop_sequences`; `temperature` clamped to Anthropic's 0..1; `top_p`; `user` ->
  `metadata.user_id`; tools / `tool_choice` (`required` -> `any`); `parallel_tool_calls: false` ->
  `disable_parallel_tool_use`.
- Dropped by rule (no Anthropic equivalent, no effect on the answer's format): `frequency_penalty`,
  `presence_penalty`, `seed`, `logit_bias`, `service_tier`, `store`, `metadata`, `reasoning_effort`,
  `prediction`, `stream_options` (usage is added to the stream by Switchboard when asked).
- Refused (the target is skipped; 400 naming the field if no target can serve it): `n` > 1,
  `logprobs`, `top_logprobs`, `response_format` other than text, audio, non-function tools, file and
  audio content parts, and any field this module does not know.

Responses: text blocks -> `content`, `tool_use` -> `tool_calls` (arguments as a JSON string),
`stop_reason` -> `finish_reason`, usage with cache reads and writes counted in `prompt_tokens`
(cache reads also as `prompt_tokens_details.cached_tokens`). Thinking blocks are not relayed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Final

import orjson

from switchboard.errors import UpstreamError, UpstreamProtocolError, UpstreamUnsupported
from switchboard.providers.base import StreamTranslator, UpstreamCall, classify_status
from switchboard.providers.common import (
    check_fields,
    data_url,
    image_url,
    text_content,
    tool_arguments,
    unsupported,
)
from switchboard.upstream.http import UpstreamRequest
from switchboard.wire.sse import event_data

ANTHROPIC_VERSION: Final = "2023-06-01"
DEFAULT_MAX_TOKENS: Final = 4096
FINISH_REASONS: Final = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
DROPPED: Final = frozenset(
    {
        "frequency_penalty",
        "presence_penalty",
        "seed",
        "logit_bias",
        "service_tier",
        "store",
        "metadata",
        "reasoning_effort",
        "prediction",
        "stream_options",
    }
)
HANDLED: Final = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop",
        "stream",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "user",
        "n",
        "logprobs",
        "top_logprobs",
        "response_format",
    }
)


def _unsupported(field: str, why: str) -> UpstreamUnsupported:
    return unsupported("Anthropic", field, why)


# --------------------------------------------------------------------------- request


def _text_of(content: Any, where: str) -> str:
    return text_content(content, where, "Anthropic")


def _image_block(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    url = image_url(part)
    if (inline := data_url(url)) is not None:
        return {"type": "image", "source": {"type": "base64", "media_type": inline[0], "data": inline[1]}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise _unsupported(where, "image URLs must be base64 data: URLs or http(s): URLs")


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise _unsupported(where, "content must be a string or a list of parts")
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            blocks.append({"type": "text", "text": str(part.get("text", ""))})
        elif kind == "image_url":
            blocks.append(_image_block(part, f"{where}[{j}]"))
        else:
            raise _unsupported(f"{where}[{j}]", f"content parts of type {kind!r} are not supported")
    return blocks


def _assistant_blocks(message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    text = _text_of(message.get("content"), f"{where}.content")
    if text:
        blocks.append({"type": "text", "text": text})
    for k, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise _unsupported(f"{where}.tool_calls[{k}]", "only function tool calls are supported")
        arguments = tool_arguments(
            function.get("arguments"), f"{where}.tool_calls[{k}].function.arguments", "Anthropic"
        )
        blocks.append(
            {"type": "tool_use", "id": call.get("id"), "name": function.get("name"), "input": arguments}
        )
    return blocks


def convert_messages(messages: list[Any]) -> tuple[str | None, list[dict[str, Any]]]:
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        where = f"messages[{i}]"
        if role in ("system", "developer"):
            system.append(_text_of(message.get("content"), f"{where}.content"))
            continue
        if role == "user":
            blocks = _user_blocks(message.get("content"), f"{where}.content")
        elif role == "assistant":
            blocks = _assistant_blocks(message, where)
        elif role == "tool":
            role = "user"
            blocks = [
                {
                    "type": "tool_result",
                    "tool_use_id": message.get("tool_call_id"),
                    "content": _text_of(message.get("content"), f"{where}.content"),
                }
            ]
        else:
            raise _unsupported(f"{where}.role", f"role {role!r} is not supported")
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return ("\n\n".join(system) if system else None), turns


def _tools(tools: Any) -> list[dict[str, Any]]:
    out = []
    for k, tool in enumerate(tools or []):
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(function, dict):
            raise _unsupported(f"tools[{k}]", "only function tools are supported")
        out.append(
            {
                "name": function.get("name"),
                "description": function.get("description", ""),
                "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
            }
        )
    return out


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if choice is None:
        result: dict[str, Any] | None = None
    elif choice == "auto":
        result = {"type": "auto"}
    elif choice == "required":
        result = {"type": "any"}
    elif choice == "none":
        result = {"type": "none"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        result = {"type": "tool", "name": choice["function"].get("name")}
    else:
        raise _unsupported("tool_choice", "expected auto, required, none or a function")
    if parallel is False:
        result = {**(result or {"type": "auto"}), "disable_parallel_tool_use": True}
    return result


def build_messages_body(body: Mapping[str, Any], model: str, stream: bool) -> dict[str, Any]:
    check_fields(body, HANDLED, DROPPED, "Anthropic")
    if body.get("n") not in (None, 1):
        raise _unsupported("n", "one choice per request only")
    fmt = body.get("response_format")
    if fmt is not None and not (isinstance(fmt, dict) and fmt.get("type") == "text"):
        raise _unsupported("response_format", "structured output formats are not available")
    system, messages = convert_messages(body["messages"])
    out: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_MAX_TOKENS,
    }
    if system is not None:
        out["system"] = system
    if stream:
        out["stream"] = True
    if (temperature := body.get("temperature")) is not None:
        out["temperature"] = min(float(temperature), 1.0)
    for field in ("top_p", "top_k"):
        if body.get(field) is not None:
            out[field] = body[field]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("tools"):
        out["tools"] = _tools(body["tools"])
    choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    if choice is not None and (body.get("tools") or choice.get("type") == "none"):
        out["tool_choice"] = choice
    if isinstance(body.get("user"), str):
        out["metadata"] = {"user_id": body["user"]}
    return out


# --------------------------------------------------------------------------- response


def openai_usage(usage: Mapping[str, Any]) -> dict[str, Any]:
    cache_read = int(usage.get("cache_read_input_tokens") or 0)
    cache_write = int(usage.get("cache_creation_input_tokens") or 0)
    prompt = int(usage.get("input_tokens") or 0) + cache_read + cache_write
    completion = int(usage.get("output_tokens") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cache_read},
    }


def to_chat_completion(message: Mapping[str, Any], created: int) -> dict[str, Any]:
    text = []
    tool_calls = []
    for block in message["content"]:
        if block["type"] == "text":
            text.append(block["text"])
        elif block["type"] == "tool_use":
            tool_calls.append(
                {
                    "id": block["id"],
                    "type": "function",
                    "function": {
                        "name": block["name"],
                        "arguments": orjson.dumps(block.get("input") or {}).decode(),
                    },
                }
            )
    reply: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text else None, "refusal": None}
    if tool_calls:
        reply["tool_calls"] = tool_calls
    return {
        "id": message["id"],
        "object": "chat.completion",
        "created": created,
        "model": message.get("model", ""),
        "choices": [
            {
                "index": 0,
                "message": reply,
                "logprobs": None,
                "finish_reason": FINISH_REASONS.get(message.get("stop_reason") or "", "stop"),
            }
        ],
        "usage": openai_usage(message.get("usage") or {}),
    }


class AnthropicStream:
    """Anthropic SSE events -> OpenAI chat.completion.chunk events, one stream's state."""

    __slots__ = ("_created", "_finish", "_id", "_include_usage", "_model", "_tools", "_usage")
    raw_framing = False

    def __init__(self, include_usage: bool, created: int) -> None:
        self._include_usage = include_usage
        self._created = created
        self._id = ""
        self._model = ""
        self._tools: dict[int, int] = {}
        self._usage: dict[str, Any] = {}
        self._finish: str | None = None

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        payload = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        return b"data: " + orjson.dumps(payload) + b"\n\n"

    def feed(self, event: bytes) -> list[bytes]:
        data = event_data(event)
        if data is None:
            return []
        try:
            payload = orjson.loads(data)
            kind = payload["type"]
            return self._translate(kind, payload)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            error = {
                "error": {
                    "message": "malformed upstream stream event",
                    "type": "api_error",
                    "param": None,
                    "code": "bad_upstream_event",
                }
            }
            return [b"data: " + orjson.dumps(error) + b"\n\n"]

    def _translate(self, kind: str, payload: dict[str, Any]) -> list[bytes]:
        if kind == "content_block_delta":
            delta = payload["delta"]
            dtype = delta.get("type")
            if dtype == "text_delta":
                return [self._chunk({"content": delta["text"]})]
            if dtype == "input_json_delta" and delta.get("partial_json"):
                index = self._tools[payload["index"]]
                return [
                    self._chunk(
                        {"tool_calls": [{"index": index, "function": {"arguments": delta["partial_json"]}}]}
                    )
                ]
            return []  # thinking / signature / citations deltas are not relayed
        if kind == "message_start":
            message = payload["message"]
            self._id = message.get("id", "")
            self._model = message.get("model", "")
            self._usage.update(message.get("usage") or {})
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            block = payload["content_block"]
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
        if kind == "message_delta":
            self._usage.update({k: v for k, v in (payload.get("usage") or {}).items() if v is not None})
            self._finish = FINISH_REASONS.get(payload.get("delta", {}).get("stop_reason") or "", "stop")
            return [self._chunk({}, self._finish)]
        if kind == "message_stop":
            out = []
            if self._include_usage:
                usage = {
                    "id": self._id,
                    "object": "chat.completion.chunk",
                    "created": self._created,
                    "model": self._model,
                    "choices": [],
                    "usage": openai_usage(self._usage),
                }
                out.append(b"data: " + orjson.dumps(usage) + b"\n\n")
            out.append(b"data: [DONE]\n\n")
            return out
        if kind == "error":
            error = payload.get("error") or {}
            etype = str(error.get("type") or "api_error")
            body = {
                "error": {
                    "message": str(error.get("message") or etype),
                    "type": etype,
                    "param": None,
                    "code": etype,
                }
            }
            return [b"data: " + orjson.dumps(body) + b"\n\n"]
        return []  # ping, content_block_stop, and event types added later by Anthropic


# --------------------------------------------------------------------------- adapter


class AnthropicAdapter:
    def build_request(self, call: UpstreamCall) -> UpstreamRequest:
        if call.endpoint != "chat":
            raise UpstreamUnsupported("Anthropic has no embeddings API", param="model")
        body = build_messages_body(call.body, call.model, call.stream)
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if call.stream else "application/json",
            "anthropic-version": ANTHROPIC_VERSION,
            **dict(call.provider.headers),
        }
        if isinstance(call.credential, str):
            headers["x-api-key"] = call.credential
        return UpstreamRequest("POST", call.provider.base_url + "/messages", headers, orjson.dumps(body))

    def parse_response(self, content: bytes) -> bytes:
        try:
            message = orjson.loads(content)
            return orjson.dumps(to_chat_completion(message, int(time.time())))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise UpstreamProtocolError(
                "Anthropic returned a malformed message", upstream_status=200
            ) from None

    def stream_translator(self, call: UpstreamCall) -> StreamTranslator | None:
        options = call.body.get("stream_options")
        include_usage = bool(options.get("include_usage")) if isinstance(options, dict) else False
        return AnthropicStream(include_usage, int(time.time()))

    def parse_embeddings(self, content: bytes, call: UpstreamCall) -> bytes:
        raise UpstreamUnsupported("Anthropic has no embeddings API", param="model")

    def map_error(
        self, status: int, headers: Mapping[str, str], content: bytes, secrets: tuple[str, ...]
    ) -> UpstreamError:
        # 529 overloaded_error and 500 api_error are 5xx: retried / fallen back like any 5xx.
        return classify_status(status, headers, content, secrets)
