"""Anthropic Messages requests (`POST /v1/messages`): strict validation, the client's own body for
Anthropic targets, and a translation to the executor's (OpenAI) form for every other target.

Validation is as strict as the OpenAI dialect's: wrong types are a 400 naming the field, whatever
the target, raised when the body is parsed (`anthropic_validation`). The body itself is kept
(`ChatRequest.native`) so an Anthropic target receives it untouched - unknown and future fields,
betas, `cache_control`, thinking, documents included. The translation is built only when a target
that does not serve the Messages API is tried (`ChatRequest.translation`, run once); it never
fails on a body that passed validation.

The translation decides per field (README, "Translation per field"):
- mapped: `system`, messages (text, image, document (PDF / text), `tool_use`, `tool_result`
  blocks), `max_tokens`, `stop_sequences`, `temperature`, `top_p`, custom tools and `tool_choice`
  (`disable_parallel_tool_use`), `metadata.user_id` -> `user`, `thinking.type = enabled` ->
  `reasoning_effort` (by budget), `stream`;
- carried: `cache_control` markers, as the chat form's extension key on the content part, tool
  call or tool they were on (system blocks: the system message's text parts; `tool_result`: the
  `tool` message's text part). Bedrock targets turn them into `cachePoint` blocks, other targets
  leave them out and name them in `x-switchboard-dropped` (decided once the target is known);
- structured output: `output_config.format` (and the beta's top-level `output_format`) ->
  `response_format` json_schema (strict when the schema meets OpenAI's strict rules), honoured by
  every target kind or the target is skipped; `output_config.effort` -> `reasoning_effort`
  (`max` -> `xhigh`);
- dropped and named in `ChatRequest.dropped` (`x-switchboard-dropped`): fields that tune, annotate
  or manage context on Anthropic's side (`context_management`, other `output_config` keys,
  `service_tier`, `top_k`, adaptive thinking, other `metadata` keys, `thinking` blocks of earlier
  turns, server tools such as web search) and any field this module does not know;
- untranslatable (content whose loss would change the answer, e.g. a content block type this
  module does not know): recorded in `ChatRequest.untranslatable`; targets that need the
  translation are skipped, and without an Anthropic target the client gets a 400 naming it.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Final

import orjson

from switchboard.dialects.anthropic_validation import (
    BLOCKS,
    check_messages_body,
    custom_tool,
    document_translates,
    image_translates,
    required,
)
from switchboard.dialects.request import (
    ROUTING_FIELDS,
    ChatRequest,
    Translation,
    dialect_request,
    parse_json_object,
    refuse_forbidden,
)
from switchboard.values import NativeRequest
from switchboard.wire.openai import strict_compatible
from switchboard.wire.readers import ANTHROPIC_COUNT_TOKENS, ANTHROPIC_MESSAGES

MAPPED: Final = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "stop_sequences",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
        "metadata",
        "stream",
        "thinking",
        "output_config",
        "output_format",
        *ROUTING_FIELDS,
    }
)
# `output_config.effort` -> `reasoning_effort` (Anthropic's `max` is the top level others call `xhigh`).
EFFORTS: Final = {"low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "xhigh"}
TOOL_CHOICES: Final = {"auto": "auto", "any": "required", "none": "none"}
# Chat-form fields as an Anthropic client names them (for refusals: `UpstreamUnsupported.param`).
CLIENT_NAMES: Final = {
    "response_format": "output_config.format",
    "reasoning_effort": "thinking",
    "stop": "stop_sequences",
    "user": "metadata.user_id",
    "parallel_tool_calls": "tool_choice.disable_parallel_tool_use",
    "messages": "messages",
    "tools": "tools",
}


class _Translation:
    """What a translation collects besides the chat body."""

    __slots__ = ("dropped", "untranslatable")

    def __init__(self) -> None:
        self.dropped: list[str] = []
        self.untranslatable: str | None = None

    def drop(self, name: str) -> None:
        if name not in self.dropped:
            self.dropped.append(name)

    def cannot(self, name: str) -> None:
        if self.untranslatable is None:
            self.untranslatable = name


# The functions below read a body `anthropic_validation` has checked: they index without checking.


def _carry_cache_control(block: dict[str, Any], item: dict[str, Any] | None, out: _Translation) -> None:
    """Copy the block's `cache_control` marker onto its chat-form `item` (None: nowhere to carry it)."""
    if "cache_control" in block:
        out.drop("cache_control")  # honoured by Bedrock only; the header is decided before the target
        if item is not None and isinstance(block["cache_control"], dict):
            item["cache_control"] = block["cache_control"]


def _image(block: dict[str, Any], where: str, out: _Translation) -> dict[str, Any] | None:
    source = block["source"]
    if not image_translates(source):
        out.cannot(f"{where}.source")
        return None
    if source["type"] == "base64":
        url = f"data:{source['media_type']};base64,{source['data']}"
    else:
        url = source["url"]
    return {"type": "image_url", "image_url": {"url": url}}


def _document(block: dict[str, Any], where: str, out: _Translation) -> dict[str, Any] | None:
    source = block["source"]
    if not document_translates(source):
        out.cannot(f"{where}.source")
        return None
    if source["type"] == "text":
        return {"type": "text", "text": source["data"]}
    media = source.get("media_type") or "application/pdf"
    name = block.get("title") if isinstance(block.get("title"), str) else "document.pdf"
    return {"type": "file", "file": {"filename": name, "file_data": f"data:{media};base64,{source['data']}"}}


def _tool_result(block: dict[str, Any], where: str, out: _Translation) -> dict[str, Any]:
    message = _tool_message(block, where, out)
    if isinstance(block.get("cache_control"), dict):  # on the result's text part
        message["content"] = [{"type": "text", "text": message["content"]}]
        _carry_cache_control(block, message["content"][0], out)
    return message


def _tool_message(block: dict[str, Any], where: str, out: _Translation) -> dict[str, Any]:
    result = block.get("content")
    if result is None or isinstance(result, str):
        text = result or ""
    else:
        parts = []
        for k, item in enumerate(result):
            if item["type"] == "text":
                parts.append(item["text"])
            else:
                out.cannot(f"{where}.content[{k}]")
        text = "\n".join(parts)
    if block.get("is_error") is True:
        text = f"[tool error] {text}"
    return {"role": "tool", "tool_call_id": block["tool_use_id"], "content": text}


def _tool_use(block: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": block["id"],
        "type": "function",
        "function": {"name": block["name"], "arguments": orjson.dumps(block.get("input", {})).decode()},
    }


def _turn(message: dict[str, Any], i: int, out: _Translation) -> list[dict[str, Any]]:
    where = f"messages[{i}]"
    role = message["role"]
    if role not in ("user", "assistant", "system"):
        out.cannot(f"{where}.role")
        return []
    content = message["content"]  # checked: a string or a list of blocks
    if role == "system":  # mid-conversation system turns (Claude Code sends them)
        return [{"role": "system", "content": _system(content, out)}]
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        kind, bwhere = block["type"], f"{where}.content[{j}]"
        part: dict[str, Any] | None = None
        if (kind, role) not in BLOCKS:
            out.cannot(f"{bwhere}.type")
            part = {"type": "text", "text": ""}  # never sent: only native targets serve this request
        elif kind == "text":
            part = {"type": "text", "text": block["text"]}
        elif kind == "image":
            part = _image(block, bwhere, out)
        elif kind == "document":
            part = _document(block, bwhere, out)
        elif kind == "tool_use":
            calls.append(_tool_use(block))
            _carry_cache_control(block, calls[-1], out)
        elif kind == "tool_result":
            results.append(_tool_result(block, bwhere, out))
        else:  # thinking, redacted_thinking
            out.drop("messages.thinking")
            _carry_cache_control(block, None, out)
        if part is not None:
            _carry_cache_control(block, part, out)
            parts.append(part)
    turns: list[dict[str, Any]] = list(results)
    if role == "assistant":
        text = "".join(p["text"] for p in parts if p["type"] == "text")
        marks = [p["cache_control"] for p in parts if "cache_control" in p]
        turn: dict[str, Any] = {"role": "assistant", "content": text or None}
        if text and marks:  # one text part carries the (last) marker
            turn["content"] = [{"type": "text", "text": text, "cache_control": marks[-1]}]
        if calls:
            turn["tool_calls"] = calls
        turns.append(turn)
    elif parts:
        turns.append({"role": "user", "content": parts})
    return turns


def _system(system: str | list[dict[str, Any]], out: _Translation) -> str | list[dict[str, Any]]:
    """System text: joined, or as text parts when a block carries a cache marker (kept on its part)."""
    if isinstance(system, str):
        return system
    parts: list[dict[str, Any]] = []
    for block in system:
        parts.append({"type": "text", "text": block["text"]})
        _carry_cache_control(block, parts[-1], out)
    if any("cache_control" in part for part in parts):
        return parts
    return "\n".join(part["text"] for part in parts)


def _tools(tools: list[dict[str, Any]], out: _Translation) -> list[dict[str, Any]]:
    chat_tools = []
    for tool in tools:
        if not custom_tool(tool):  # server / client tools Anthropic runs itself
            out.drop(f"tools.{tool.get('type')}")
            _carry_cache_control(tool, None, out)
            continue
        function = {
            "name": tool["name"],
            "description": tool.get("description", ""),
            "parameters": tool.get("input_schema", {"type": "object"}),
        }
        chat_tools.append({"type": "function", "function": function})
        _carry_cache_control(tool, chat_tools[-1], out)
    return chat_tools


def _tool_choice(choice: dict[str, Any], chat: dict[str, Any]) -> None:
    if choice["type"] == "tool":
        chat["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    else:
        chat["tool_choice"] = TOOL_CHOICES[choice["type"]]
    if choice.get("disable_parallel_tool_use"):
        chat["parallel_tool_calls"] = False


def _thinking(thinking: dict[str, Any], chat: dict[str, Any], out: _Translation) -> None:
    if thinking["type"] == "enabled":
        budget = thinking["budget_tokens"]
        chat["reasoning_effort"] = "low" if budget < 4096 else "medium" if budget < 16384 else "high"
    elif thinking["type"] != "disabled":
        out.drop("thinking")  # adaptive: the model decides; other models have no such mode


def _json_format(fmt: dict[str, Any], chat: dict[str, Any]) -> None:
    """Anthropic's JSON output format -> `response_format` json_schema (honoured by every target
    kind, or the target is skipped: never dropped). OpenAI's strict mode only when the schema meets
    its rules (all properties required); Anthropic's own only needs closed objects."""
    spec: dict[str, Any] = {"name": "output", "schema": fmt["schema"]}
    if strict_compatible(fmt["schema"]):
        spec["strict"] = True
    chat["response_format"] = {"type": "json_schema", "json_schema": spec}


def _output_config(config: dict[str, Any], chat: dict[str, Any], out: _Translation) -> None:
    if config.get("format") is not None:
        _json_format(config["format"], chat)
    if config.get("effort") is not None:
        chat["reasoning_effort"] = EFFORTS[config["effort"]]
    for key in config:
        if key not in ("format", "effort") and config[key] is not None:
            out.drop(f"output_config.{key}")


def _sampling(body: dict[str, Any], chat: dict[str, Any]) -> None:
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("stop_sequences") is not None:
        chat["stop"] = body["stop_sequences"]


def _metadata(metadata: dict[str, Any], chat: dict[str, Any], out: _Translation) -> None:
    if metadata.get("user_id"):
        chat["user"] = metadata["user_id"]
    if set(metadata) - {"user_id"}:
        out.drop("metadata")


def _client_names(body: dict[str, Any]) -> dict[str, str]:
    names = dict(CLIENT_NAMES)
    config = body.get("output_config")
    if isinstance(config, dict) and config.get("effort") is not None:
        names["reasoning_effort"] = "output_config.effort"
    if body.get("output_format") is not None:
        names["response_format"] = "output_format"
    return names


def parse_messages_request(raw: bytes) -> ChatRequest:
    body = parse_json_object(raw)
    refuse_forbidden(body)
    return _checked(body)


def parse_count_tokens_request(raw: bytes) -> ChatRequest:
    """`POST /v1/messages/count_tokens`: a Messages request without `max_tokens` (nothing is
    generated); validated like one, kept whole for Anthropic targets."""
    body = parse_json_object(raw)
    refuse_forbidden(body)
    if "max_tokens" in body:
        body.pop("max_tokens")  # not part of the count_tokens API: Anthropic would refuse it
    native = {k: v for k, v in body.items() if k not in ROUTING_FIELDS}
    request = _checked({**body, "max_tokens": 1})
    request.native = NativeRequest(ANTHROPIC_COUNT_TOKENS, native)
    return request


def _checked(body: dict[str, Any]) -> ChatRequest:
    """The request with every check done and its facts read; the translation is left for later."""
    required(body)
    has_message = check_messages_body(body)
    request = dialect_request(body, has_message)  # takes the routing fields out of `body`
    request.stream = body.get("stream") is True
    request.answer_cap = body["max_tokens"]
    request.native = NativeRequest(ANTHROPIC_MESSAGES, body)
    request.client_names = _client_names(body)
    request.translation = partial(translate, body)
    return request


def translate(body: dict[str, Any]) -> Translation:
    """The chat form of a checked body (`_checked`), and what it leaves out."""
    out = _Translation()
    chat: dict[str, Any] = {"model": body["model"], "max_tokens": body["max_tokens"], "messages": []}
    if body.get("system") is not None:
        chat["messages"].append({"role": "system", "content": _system(body["system"], out)})
    for i, message in enumerate(body["messages"]):
        chat["messages"].extend(_turn(message, i, out))
    _sampling(body, chat)
    if body.get("tools") is not None and (tools := _tools(body["tools"], out)):
        chat["tools"] = tools
    if body.get("tool_choice") is not None:
        _tool_choice(body["tool_choice"], chat)
    if body.get("metadata") is not None:
        _metadata(body["metadata"], chat, out)
    if body.get("thinking") is not None:
        _thinking(body["thinking"], chat, out)
    if body.get("output_format") is not None:  # the structured-outputs beta's field, still accepted
        _json_format(body["output_format"], chat)
    if body.get("output_config") is not None:
        _output_config(body["output_config"], chat, out)
    if body.get("stream") is True:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}  # message_delta carries output_tokens
    for field in body:
        if field not in MAPPED:
            out.drop(field)
    return Translation(chat, tuple(out.dropped), out.untranslatable)
