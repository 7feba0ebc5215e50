"""OpenAI Chat Completions / embeddings request -> Bedrock Converse / InvokeModel body.

Pure; every refusal names the field. Signing is `signing.py`'s job, the URL the adapter's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

from switchboard.errors import UpstreamUnsupported
from switchboard.providers.common import (
    check_fields,
    data_url,
    image_url,
    text_content,
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
        "reasoning_effort",
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
    }
)
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
    return blocks


def _assistant_blocks(message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if text := _text(message.get("content"), f"{where}.content"):
        blocks.append({"text": text})
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


def convert_messages(messages: list[Any]) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """OpenAI messages -> (Converse `system` blocks, `messages`); turns of one role are merged."""
    system: list[dict[str, str]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        where = f"messages[{i}]"
        if role in ("system", "developer"):
            system.append({"text": _text(message.get("content"), f"{where}.content")})
            continue
        if role == "user":
            blocks = _user_blocks(message.get("content"), f"{where}.content")
        elif role == "assistant":
            blocks = _assistant_blocks(message, where)
        elif role == "tool":
            role = "user"
            blocks = [_tool_result(message, where)]
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
    specs = []
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


def build_converse_body(body: Mapping[str, Any]) -> dict[str, Any]:
    check_fields(body, HANDLED, DROPPED, "Bedrock")
    if body.get("n") not in (None, 1):
        raise _unsupported("n", "one choice per request only")
    fmt = body.get("response_format")
    if fmt is not None and not (isinstance(fmt, dict) and fmt.get("type") == "text"):
        raise _unsupported("response_format", "structured output formats are not available")
    system, messages = convert_messages(body["messages"])
    out: dict[str, Any] = {"messages": messages}
    if system:
        out["system"] = system
    if config := _inference_config(body):
        out["inferenceConfig"] = config
    if body.get("tools"):
        out["toolConfig"] = _tool_config(body["tools"], body.get("tool_choice"))
    return out


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
