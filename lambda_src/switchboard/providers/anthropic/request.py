"""OpenAI Chat Completions request -> Anthropic Messages request (pure; every refusal names the field)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from switchboard.errors import UpstreamUnsupported
from switchboard.providers import structured
from switchboard.providers.common import (
    check_fields,
    data_url,
    image_url,
    marker,
    part_marker,
    text_content,
    tool_arguments,
    unsupported,
)

DEFAULT_MAX_TOKENS: Final = 4096
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


def _text_of(content: Any, where: str) -> str:
    return text_content(content, where, "Anthropic")


def _image_block(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    url = image_url(part)
    if (inline := data_url(url)) is not None:
        return {"type": "image", "source": {"type": "base64", "media_type": inline[0], "data": inline[1]}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise _unsupported(where, "image URLs must be base64 data: URLs or http(s): URLs")


def _marked(block: dict[str, Any], source: Any) -> dict[str, Any]:
    """`block` with the `cache_control` marker `source` carries (as Anthropic's own field)."""
    if (found := marker(source)) is not None:
        block["cache_control"] = found
    return block


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise _unsupported(where, "content must be a string or a list of parts")
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            blocks.append(_marked({"type": "text", "text": str(part.get("text", ""))}, part))
        elif kind == "image_url":
            blocks.append(_marked(_image_block(part, f"{where}[{j}]"), part))
        else:
            raise _unsupported(f"{where}[{j}]", f"content parts of type {kind!r} are not supported")
    return blocks


def _assistant_blocks(message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    text = _text_of(message.get("content"), f"{where}.content")
    if text:
        blocks.append({"type": "text", "text": text})
        if (found := part_marker(message.get("content"))) is not None:
            blocks[-1]["cache_control"] = found
    for k, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise _unsupported(f"{where}.tool_calls[{k}]", "only function tool calls are supported")
        arguments = tool_arguments(
            function.get("arguments"), f"{where}.tool_calls[{k}].function.arguments", "Anthropic"
        )
        blocks.append(
            _marked(
                {"type": "tool_use", "id": call.get("id"), "name": function.get("name"), "input": arguments},
                call,
            )
        )
    return blocks


def _system(system: list[tuple[str, dict[str, Any] | None]]) -> str | list[dict[str, Any]] | None:
    """System texts joined; as text blocks when one carries a cache marker (the marker kept)."""
    if not system:
        return None
    if all(found is None for _, found in system):
        return "\n\n".join(text for text, _ in system)
    blocks: list[dict[str, Any]] = []
    for text, found in system:
        blocks.append({"type": "text", "text": text, **({"cache_control": found} if found else {})})
    return blocks


def _system_parts(content: Any, where: str) -> list[tuple[str, dict[str, Any] | None]]:
    if part_marker(content) is None:
        return [(_text_of(content, where), None)]
    return [(_text_of([part], f"{where}[{j}]"), marker(part)) for j, part in enumerate(content)]


def convert_messages(messages: list[Any]) -> tuple[str | list[dict[str, Any]] | None, list[dict[str, Any]]]:
    """OpenAI messages -> (Anthropic `system`, `messages`). `cache_control` markers on parts, tool
    calls and tools go back onto the block they mark."""
    system: list[tuple[str, dict[str, Any] | None]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        where = f"messages[{i}]"
        if role in ("system", "developer"):
            system.extend(_system_parts(message.get("content"), f"{where}.content"))
            continue
        if role == "user":
            blocks = _user_blocks(message.get("content"), f"{where}.content")
        elif role == "assistant":
            blocks = _assistant_blocks(message, where)
        elif role == "tool":
            role = "user"
            result = {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id"),
                "content": _text_of(message.get("content"), f"{where}.content"),
            }
            if (found := part_marker(message.get("content"))) is not None:
                result["cache_control"] = found
            blocks = [result]
        else:
            raise _unsupported(f"{where}.role", f"role {role!r} is not supported")
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return _system(system), turns


def _tools(tools: Any) -> list[dict[str, Any]]:
    out = []
    for k, tool in enumerate(tools or []):
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(function, dict):
            raise _unsupported(f"tools[{k}]", "only function tools are supported")
        out.append(
            _marked(
                {
                    "name": function.get("name"),
                    "description": function.get("description", ""),
                    "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
                },
                tool,
            )
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
    fmt = structured.requested(body, "Anthropic")
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
    if fmt is not None:
        _output_format(fmt, body, model, out)
    return out


def _output_format(
    fmt: structured.OutputFormat, body: Mapping[str, Any], model: str, out: dict[str, Any]
) -> None:
    """`response_format` -> `output_config.format` (Claude 4.5 and later), else a forced tool whose
    call `response.py` turns back into the answer's text (see `providers/structured.py`)."""
    if fmt.schema is not None and structured.claude_has_json_output(model):
        out["output_config"] = {
            "format": {"type": "json_schema", "schema": structured.claude_schema(fmt.schema)}
        }
        return
    if (refusal := structured.forced_tool_refusal(body, "Anthropic", model)) is not None:
        raise refusal
    out["tools"] = [
        {
            "name": structured.JSON_TOOL,
            "description": fmt.description or structured.JSON_TOOL_DESCRIPTION,
            "input_schema": structured.forced_schema(fmt),
        }
    ]
    out["tool_choice"] = {"type": "tool", "name": structured.JSON_TOOL}
