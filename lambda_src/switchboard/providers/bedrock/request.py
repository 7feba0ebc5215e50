"""OpenAI Chat Completions / embeddings request -> Bedrock Converse / InvokeModel body.

Pure; every refusal names the field. Signing is `signing.py`'s job, the URL the adapter's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import orjson

from switchboard.errors import UpstreamUnsupported
from switchboard.providers import structured
from switchboard.providers.common import (
    check_fields,
    data_url,
    image_url,
    marker,
    part_marker,
    text_content,
    thinking_budget,
    tool_arguments,
    unsupported,
)
from switchboard.providers.embeddings import texts_of

DROPPED: Final = frozenset(
    {
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "user",
        "metadata",
        "store",
        "service_tier",
        "parallel_tool_calls",
        "top_k",
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
        "stop",
        "stream",
        "tools",
        "tool_choice",
        "n",
        "logprobs",
        "top_logprobs",
        "response_format",
        "reasoning_effort",
    }
)
# Claude models with extended thinking (3.7 and later), by model id, inference profile id
# (`us.`, `eu.`, `global.`, ...) or the last segment of an ARN.
_THINKING_CLAUDE: Final = re.compile(
    r"(?:[a-z-]+\.)?anthropic\.claude-(?!3-(?:haiku|sonnet|opus|5)|v2|instant)"
)
# Models whose Converse API takes `cachePoint` blocks (prompt caching): Claude and Nova.
_CACHING: Final = re.compile(r"(?:[a-z-]+\.)?(?:anthropic\.claude|amazon\.nova)")
CACHE_POINT: Final = {"cachePoint": {"type": "default"}}
MIN_THINKING: Final = 1024
"""Claude's smallest `budget_tokens`."""
THINKING_HEADROOM: Final = 4096
"""Answer tokens added to the budget when the request sets no `max_tokens` (the cap includes thinking)."""
IMAGE_FORMATS: Final = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}


def _unsupported(field: str, why: str) -> UpstreamUnsupported:
    return unsupported("Bedrock", field, why)


def _text(content: Any, where: str) -> str:
    return text_content(content, where, "Bedrock")


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        raise _unsupported(where, "content must be a string or a list of parts")
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            blocks.append({"text": str(part.get("text", ""))})
        elif kind == "image_url":
            inline = data_url(image_url(part))
            if inline is None or inline[0] not in IMAGE_FORMATS:
                raise _unsupported(f"{where}[{j}]", "images must be base64 data URLs (png, jpeg, gif, webp)")
            blocks.append({"image": {"format": IMAGE_FORMATS[inline[0]], "source": {"bytes": inline[1]}}})
        else:
            raise _unsupported(f"{where}[{j}]", f"content parts of type {kind!r} are not supported")
        if marker(part):
            blocks.append(CACHE_POINT)
    return blocks


def _assistant_blocks(message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if text := _text(message.get("content"), f"{where}.content"):
        blocks.append({"text": text})
        if part_marker(message.get("content")):
            blocks.append(CACHE_POINT)
    for k, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        where_args = f"{where}.tool_calls[{k}].function.arguments"
        arguments = tool_arguments(function.get("arguments"), where_args, "Bedrock")
        blocks.append(
            {
                "toolUse": {
                    "toolUseId": call.get("id"),
                    "name": function.get("name"),
                    "input": arguments,
                }
            }
        )
        if marker(call):
            blocks.append(CACHE_POINT)
    return blocks


def _tool_result(message: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A `tool` message -> a `toolResult` block (a JSON object as `json`, anything else as `text`)."""
    result = _text(message.get("content"), f"{where}.content")
    try:
        parsed = orjson.loads(result)
    except orjson.JSONDecodeError:
        parsed = None
    content = [{"json": parsed}] if isinstance(parsed, dict) else [{"text": result}]
    return {
        "toolResult": {
            "toolUseId": message.get("tool_call_id"),
            "content": content,
            "status": "success",
        }
    }


def _system_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    """A system message -> one `text` block; with cache markers, one per part and a `cachePoint`
    after each marked part."""
    if part_marker(content) is None:
        return [{"text": _text(content, where)}]
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        blocks.append({"text": _text([part], f"{where}[{j}]")})
        if marker(part):
            blocks.append(CACHE_POINT)
    return blocks


def convert_messages(messages: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """OpenAI messages -> (Converse `system` blocks, `messages`); turns of one role are merged.
    `cache_control` markers become `cachePoint` blocks after the block they mark."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        where = f"messages[{i}]"
        if role in ("system", "developer"):
            system.extend(_system_blocks(message.get("content"), f"{where}.content"))
            continue
        if role == "user":
            blocks = _user_blocks(message.get("content"), f"{where}.content")
        elif role == "assistant":
            blocks = _assistant_blocks(message, where)
        elif role == "tool":
            role = "user"
            blocks = [_tool_result(message, where)]
            if part_marker(message.get("content")):
                blocks.append(CACHE_POINT)
        else:
            raise _unsupported(f"{where}.role", f"role {role!r} is not supported")
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def _inference_config(body: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if (tokens := body.get("max_completion_tokens") or body.get("max_tokens")) is not None:
        config["maxTokens"] = tokens
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP")):
        if body.get(ours) is not None:
            config[theirs] = body[ours]
    if stop := body.get("stop"):
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    return config


def _tool_config(tools: list[Any], choice: Any) -> dict[str, Any]:
    specs: list[dict[str, Any]] = []
    for k, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(function, dict):
            raise _unsupported(f"tools[{k}]", "only function tools are supported")
        specs.append(
            {
                "toolSpec": {
                    "name": function.get("name"),
                    "description": function.get("description") or function.get("name"),
                    "inputSchema": {
                        "json": function.get("parameters") or {"type": "object", "properties": {}}
                    },
                }
            }
        )
        if marker(tool):
            specs.append(CACHE_POINT)
    config: dict[str, Any] = {"tools": specs}
    if choice == "required":
        config["toolChoice"] = {"any": {}}
    elif choice == "auto":
        config["toolChoice"] = {"auto": {}}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        config["toolChoice"] = {"tool": {"name": choice["function"].get("name")}}
    elif choice is not None:
        raise _unsupported("tool_choice", "Converse has no 'none'; omit tools instead")
    return config


def _without_cache_points(out: dict[str, Any]) -> None:
    """Models without prompt caching refuse `cachePoint` blocks: the markers are left out."""
    if "system" in out:
        out["system"] = [b for b in out["system"] if b is not CACHE_POINT]
    for turn in out["messages"]:
        turn["content"] = [b for b in turn["content"] if b is not CACHE_POINT]
    if "toolConfig" in out:
        out["toolConfig"]["tools"] = [t for t in out["toolConfig"]["tools"] if t is not CACHE_POINT]


def _in_tool_loop(messages: list[Any]) -> bool:
    """Whether the request continues an assistant turn that called tools (only `tool` messages
    since): Claude then wants that turn's thinking blocks back, which translated answers never carry."""
    for message in reversed(messages):
        if message.get("role") != "tool":
            return message.get("role") == "assistant" and bool(message.get("tool_calls"))
    return False


def _thinking(body: Mapping[str, Any], model: str, out: dict[str, Any]) -> None:
    """`reasoning_effort` -> Claude's `thinking` (in `additionalModelRequestFields`). Other models:
    refused, unless no reasoning is asked for (`none`)."""
    budget = thinking_budget(body, "Bedrock")
    if not budget:
        return
    if not _THINKING_CLAUDE.match(model.rpartition("/")[2]):
        raise _unsupported("reasoning_effort", "only Claude models (3.7 and later) think on Bedrock")
    choice = body.get("tool_choice")
    if choice == "required" or isinstance(choice, dict) or _in_tool_loop(body["messages"]):
        return  # Claude refuses forced tool use with thinking, and a tool loop without its thinking
    config = out.setdefault("inferenceConfig", {})
    cap = config.get("maxTokens")
    budget = budget if cap is None else min(budget, cap - 1)
    if budget < MIN_THINKING:
        return  # max_tokens leaves no room for Claude's smallest budget
    if cap is None:
        config["maxTokens"] = budget + THINKING_HEADROOM
    config.pop("temperature", None)  # with thinking Claude takes only temperature 1, top_p >= 0.95
    top_p = config.get("topP")
    if isinstance(top_p, int | float) and top_p < 0.95:
        config.pop("topP")
    out["additionalModelRequestFields"] = {"thinking": {"type": "enabled", "budget_tokens": budget}}


def build_converse_body(body: Mapping[str, Any], model: str = "") -> dict[str, Any]:
    check_fields(body, HANDLED, DROPPED, "Bedrock")
    if body.get("n") not in (None, 1):
        raise _unsupported("n", "one choice per request only")
    fmt = structured.requested(body, "Bedrock")
    system, messages = convert_messages(body["messages"])
    out: dict[str, Any] = {"messages": messages}
    if system:
        out["system"] = system
    if config := _inference_config(body):
        out["inferenceConfig"] = config
    if body.get("tools"):
        out["toolConfig"] = _tool_config(body["tools"], body.get("tool_choice"))
    if not _CACHING.match(model.rpartition("/")[2]):
        _without_cache_points(out)
    forced = fmt is not None and _output_format(fmt, body, model, out)
    if not forced:  # Claude refuses thinking with a forced tool
        _thinking(body, model, out)
    return out


def _output_format(
    fmt: structured.OutputFormat, body: Mapping[str, Any], model: str, out: dict[str, Any]
) -> bool:
    """`response_format` -> `outputConfig.textFormat` (Claude 4.5 and later; the schema goes as a
    JSON string), else a forced tool (`providers/structured.py`). True when the tool is forced."""
    name = model.rpartition("/")[2]
    if fmt.schema is not None and structured.is_claude(name) and structured.claude_has_json_output(name):
        schema = structured.claude_schema(fmt.schema)
        definition: dict[str, Any] = {"schema": orjson.dumps(schema).decode(), "name": fmt.name}
        if fmt.description:
            definition["description"] = fmt.description
        out["outputConfig"] = {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": definition}}}
        return False
    if (refusal := structured.forced_tool_refusal(body, "Bedrock", model)) is not None:
        raise refusal
    spec = {
        "name": structured.JSON_TOOL,
        "description": fmt.description or structured.JSON_TOOL_DESCRIPTION,
        "inputSchema": {"json": structured.forced_schema(fmt)},
    }
    out["toolConfig"] = {
        "tools": [{"toolSpec": spec}],
        "toolChoice": {"tool": {"name": structured.JSON_TOOL}},
    }
    return True


def build_embedding_body(body: Mapping[str, Any], model: str) -> dict[str, Any]:
    """InvokeModel bodies: Titan Text Embeddings (one text per call) and Cohere Embed (a batch)."""
    texts = texts_of(body, "Bedrock")
    if model.startswith("amazon.titan-embed"):
        if len(texts) != 1:
            raise _unsupported("input", "Titan embeds one text per request")
        out: dict[str, Any] = {"inputText": texts[0]}
        if body.get("dimensions") is not None:
            out["dimensions"] = body["dimensions"]
        return out
    if model.startswith("cohere.embed"):
        return {"texts": texts, "input_type": "search_document"}
    raise _unsupported("model", "embeddings are served by amazon.titan-embed-* and cohere.embed-* models")
