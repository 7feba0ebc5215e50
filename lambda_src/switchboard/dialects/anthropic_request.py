"""Anthropic Messages requests (`POST /v1/messages`): strict validation, the client's own body for
Anthropic targets, and a translation to the executor's (OpenAI) form for every other target.

Validation is as strict as the OpenAI dialect's: wrong types are a 400 naming the field, whatever
the target. The body itself is kept (`ChatRequest.native`) so an Anthropic target receives it
untouched - unknown and future fields, betas, `cache_control`, thinking, documents included.

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

from typing import Any, Final, TypeGuard

import orjson

from switchboard.dialects.request import (
    ROUTING_FIELDS,
    ChatRequest,
    chat_request,
    parse_json_object,
    refuse_forbidden,
)
from switchboard.errors import InvalidRequest
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


def _bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text(block: dict[str, Any], where: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise _bad(f"'{where}.text' must be a string", f"{where}.text")
    return text


def _blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(content, list) or not all(isinstance(b, dict) for b in content):
        raise _bad(f"'{where}' must be a string or a list of content blocks", where)
    for j, block in enumerate(content):
        if not isinstance(block.get("type"), str):
            raise _bad(f"'{where}[{j}].type' must be a string", f"{where}[{j}].type")
    return content


def _carry_cache_control(block: dict[str, Any], item: dict[str, Any] | None, out: _Translation) -> None:
    """Copy the block's `cache_control` marker onto its chat-form `item` (None: nowhere to carry it)."""
    if "cache_control" in block:
        out.drop("cache_control")  # honoured by Bedrock only; the header is decided before the target
        if item is not None and isinstance(block["cache_control"], dict):
            item["cache_control"] = block["cache_control"]


def _source(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source")
    if not isinstance(source, dict) or not isinstance(source.get("type"), str):
        raise _bad(f"'{where}.source' must be an object with a 'type'", f"{where}.source")
    return source


def _image(block: dict[str, Any], where: str, out: _Translation) -> dict[str, Any] | None:
    source = _source(block, where)
    if source["type"] == "base64":
        media, data = source.get("media_type"), source.get("data")
        if not isinstance(media, str) or not isinstance(data, str):
            raise _bad(f"'{where}.source' needs string media_type and data", f"{where}.source")
        return {"type": "image_url", "image_url": {"url": f"data:{media};base64,{data}"}}
    if source["type"] == "url" and isinstance(source.get("url"), str):
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    out.cannot(f"{where}.source")
    return None


def _document(block: dict[str, Any], where: str, out: _Translation) -> dict[str, Any] | None:
    source = _source(block, where)
    if source["type"] == "base64" and isinstance(source.get("data"), str):
        media = source.get("media_type") or "application/pdf"
        name = block.get("title") if isinstance(block.get("title"), str) else "document.pdf"
        return {
            "type": "file",
            "file": {"filename": name, "file_data": f"data:{media};base64,{source['data']}"},
        }
    if source["type"] == "text" and isinstance(source.get("data"), str):
        return {"type": "text", "text": source["data"]}
    out.cannot(f"{where}.source")
    return None


def _tool_result(block: dict[str, Any], where: str, out: _Translation) -> dict[str, Any]:
    message = _tool_message(block, where, out)
    if isinstance(block.get("cache_control"), dict):  # on the result's text part
        message["content"] = [{"type": "text", "text": message["content"]}]
        _carry_cache_control(block, message["content"][0], out)
    return message


def _tool_message(block: dict[str, Any], where: str, out: _Translation) -> dict[str, Any]:
    if not isinstance(block.get("tool_use_id"), str):
        raise _bad(f"'{where}.tool_use_id' must be a string", f"{where}.tool_use_id")
    result = block.get("content")
    if result is None or isinstance(result, str):
        text = result or ""
    else:
        parts = []
        for k, item in enumerate(_blocks(result, f"{where}.content")):
            if item["type"] == "text":
                parts.append(_text(item, f"{where}.content[{k}]"))
            else:
                out.cannot(f"{where}.content[{k}]")
        text = "\n".join(parts)
    if block.get("is_error") is True:
        text = f"[tool error] {text}"
    return {"role": "tool", "tool_call_id": block["tool_use_id"], "content": text}


def _tool_use(block: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
        raise _bad(f"'{where}' needs string 'id' and 'name'", where)
    arguments = block.get("input", {})
    if not isinstance(arguments, dict):
        raise _bad(f"'{where}.input' must be an object", f"{where}.input")
    return {
        "id": block["id"],
        "type": "function",
        "function": {"name": block["name"], "arguments": orjson.dumps(arguments).decode()},
    }


def _turn(message: Any, i: int, out: _Translation) -> list[dict[str, Any]]:
    where = f"messages[{i}]"
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        raise _bad(f"'{where}.role' must be a string", f"{where}.role")
    role, content = message["role"], message.get("content")
    if role == "system":  # mid-conversation system turns (Claude Code sends them)
        return [{"role": "system", "content": content if isinstance(content, str) else _system(content, out)}]
    if role not in ("user", "assistant"):
        out.cannot(f"{where}.role")
        return []
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for j, block in enumerate(_blocks(content, f"{where}.content")):
        kind, bwhere = block["type"], f"{where}.content[{j}]"
        part: dict[str, Any] | None = None
        if kind == "text":
            part = {"type": "text", "text": _text(block, bwhere)}
        elif kind == "image":
            part = _image(block, bwhere, out)
        elif kind == "document":
            part = _document(block, bwhere, out)
        elif kind == "tool_use" and role == "assistant":
            calls.append(_tool_use(block, bwhere))
            _carry_cache_control(block, calls[-1], out)
        elif kind == "tool_result" and role == "user":
            results.append(_tool_result(block, bwhere, out))
        elif kind in ("thinking", "redacted_thinking") and role == "assistant":
            out.drop("messages.thinking")
            _carry_cache_control(block, None, out)
        else:
            out.cannot(f"{bwhere}.type")
            part = {"type": "text", "text": ""}  # never sent: only native targets serve this request
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


def _system(system: Any, out: _Translation) -> str | list[dict[str, Any]]:
    """System text: joined, or as text parts when a block carries a cache marker (kept on its part)."""
    if isinstance(system, str):
        return system
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(_blocks(system, "system")):
        if block["type"] != "text":
            raise _bad(f"'system[{j}]' must be a text block", f"system[{j}]")
        parts.append({"type": "text", "text": _text(block, f"system[{j}]")})
        _carry_cache_control(block, parts[-1], out)
    if any("cache_control" in part for part in parts):
        return parts
    return "\n".join(part["text"] for part in parts)


def _tools(tools: Any, out: _Translation) -> list[dict[str, Any]]:
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise _bad("'tools' must be a list of tool objects", "tools")
    chat_tools = []
    for j, tool in enumerate(tools):
        kind = tool.get("type")
        if kind not in (None, "custom"):  # server / client tools Anthropic runs itself
            out.drop(f"tools.{kind}")
            _carry_cache_control(tool, None, out)
            continue
        schema = tool.get("input_schema", {"type": "object"})
        if not isinstance(tool.get("name"), str) or not isinstance(schema, dict):
            raise _bad(f"'tools[{j}]' needs a string 'name' and an object 'input_schema'", f"tools[{j}]")
        description = tool.get("description", "")
        if not isinstance(description, str):
            raise _bad(f"'tools[{j}].description' must be a string", f"tools[{j}].description")
        chat_tools.append(
            {
                "type": "function",
                "function": {"name": tool["name"], "description": description, "parameters": schema},
            }
        )
        _carry_cache_control(tool, chat_tools[-1], out)
    return chat_tools


def _tool_choice(choice: Any, chat: dict[str, Any]) -> None:
    if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "none", "tool"):
        raise _bad("'tool_choice' must be an object with type auto, any, tool or none", "tool_choice")
    if choice["type"] == "tool":
        if not isinstance(choice.get("name"), str) or not choice["name"]:
            raise _bad("'tool_choice.name' must be a string", "tool_choice.name")
        chat["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    else:
        chat["tool_choice"] = TOOL_CHOICES[choice["type"]]
    parallel = choice.get("disable_parallel_tool_use")
    if parallel is not None and not isinstance(parallel, bool):
        raise _bad("'tool_choice.disable_parallel_tool_use' must be a boolean", "tool_choice")
    if parallel:
        chat["parallel_tool_calls"] = False


def _thinking(thinking: Any, chat: dict[str, Any], out: _Translation) -> None:
    if not isinstance(thinking, dict) or not isinstance(thinking.get("type"), str):
        raise _bad("'thinking' must be an object with a 'type'", "thinking")
    if thinking["type"] == "enabled":
        budget = thinking.get("budget_tokens")
        if not _is_int(budget) or budget < 1:
            raise _bad("'thinking.budget_tokens' must be a positive integer", "thinking.budget_tokens")
        chat["reasoning_effort"] = "low" if budget < 4096 else "medium" if budget < 16384 else "high"
    elif thinking["type"] != "disabled":
        out.drop("thinking")  # adaptive: the model decides; other models have no such mode


def _json_format(fmt: Any, where: str, chat: dict[str, Any]) -> None:
    """Anthropic's JSON output format -> `response_format` json_schema (honoured by every target
    kind, or the target is skipped: never dropped). OpenAI's strict mode only when the schema meets
    its rules (all properties required); Anthropic's own only needs closed objects."""
    if (
        not isinstance(fmt, dict)
        or fmt.get("type") != "json_schema"
        or not isinstance(fmt.get("schema"), dict)
    ):
        raise _bad(f"'{where}' must be an object with type 'json_schema' and an object 'schema'", where)
    spec: dict[str, Any] = {"name": "output", "schema": fmt["schema"]}
    if strict_compatible(fmt["schema"]):
        spec["strict"] = True
    chat["response_format"] = {"type": "json_schema", "json_schema": spec}


def _output_config(config: Any, chat: dict[str, Any], out: _Translation) -> None:
    if not isinstance(config, dict):
        raise _bad("'output_config' must be an object", "output_config")
    if config.get("format") is not None:
        _json_format(config["format"], "output_config.format", chat)
    effort = config.get("effort")
    if effort is not None:
        if effort not in EFFORTS:
            raise _bad(f"'output_config.effort' must be one of {', '.join(EFFORTS)}", "output_config.effort")
        chat["reasoning_effort"] = EFFORTS[effort]
    for key in config:
        if key not in ("format", "effort") and config[key] is not None:
            out.drop(f"output_config.{key}")


def _sampling(body: dict[str, Any], chat: dict[str, Any]) -> None:
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None:
            if not _is_number(value) or not 0 <= value <= (2 if name == "temperature" else 1):
                raise _bad(f"'{name}' must be a number in range", name)
            chat[name] = value
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise _bad("'stop_sequences' must be a list of strings", "stop_sequences")
        chat["stop"] = stops


def _metadata(metadata: Any, chat: dict[str, Any], out: _Translation) -> None:
    if not isinstance(metadata, dict):
        raise _bad("'metadata' must be an object", "metadata")
    user = metadata.get("user_id")
    if user is not None and not isinstance(user, str):
        raise _bad("'metadata.user_id' must be a string", "metadata.user_id")
    if user:
        chat["user"] = user
    if set(metadata) - {"user_id"}:
        out.drop("metadata")


def _required(body: dict[str, Any]) -> None:
    model, max_tokens, messages = body.get("model"), body.get("max_tokens"), body.get("messages")
    if not isinstance(model, str) or not model:
        raise _bad("'model' is required and must be a string", "model")
    if not _is_int(max_tokens) or max_tokens < 1:
        raise _bad("'max_tokens' is required and must be a positive integer", "max_tokens")
    if not isinstance(messages, list) or not messages:
        raise _bad("'messages' is required and must be a non-empty array", "messages")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _bad("'stream' must be a boolean", "stream")


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
    _required(body)
    return _translate(body)


def parse_count_tokens_request(raw: bytes) -> ChatRequest:
    """`POST /v1/messages/count_tokens`: a Messages request without `max_tokens` (nothing is
    generated); validated like one, kept whole for Anthropic targets."""
    body = parse_json_object(raw)
    refuse_forbidden(body)
    if "max_tokens" in body:
        body.pop("max_tokens")  # not part of the count_tokens API: Anthropic would refuse it
    _required({**body, "max_tokens": 1})
    request = _translate({**body, "max_tokens": 1})
    assert request.native is not None
    request.native = NativeRequest(
        ANTHROPIC_COUNT_TOKENS, {k: v for k, v in body.items() if k not in ROUTING_FIELDS}
    )
    return request


def _translate(body: dict[str, Any]) -> ChatRequest:
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
        _json_format(body["output_format"], "output_format", chat)
    if body.get("output_config") is not None:
        _output_config(body["output_config"], chat, out)
    if body.get("stream") is True:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}  # message_delta carries output_tokens
    for field in body:
        if field not in MAPPED:
            out.drop(field)
        elif field in ROUTING_FIELDS:
            chat[field] = body[field]
    request = chat_request(chat)
    native = {k: v for k, v in body.items() if k not in ROUTING_FIELDS}
    request.native = NativeRequest(ANTHROPIC_MESSAGES, native)
    request.dropped = tuple(out.dropped)
    request.untranslatable = out.untranslatable
    request.client_names = _client_names(body)
    return request
