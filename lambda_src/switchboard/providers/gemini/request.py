"""OpenAI Chat Completions / embeddings request -> Gemini generateContent / batchEmbedContents body.

Pure; every refusal names the field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import orjson

from switchboard.errors import UpstreamUnsupported
from switchboard.providers.common import (
    check_fields,
    data_url,
    image_url,
    text_content,
    thinking_budget,
    tool_arguments,
    unsupported,
)
from switchboard.providers.embeddings import texts_of

DROPPED: Final = frozenset(
    {
        "parallel_tool_calls",
        "user",
        "metadata",
        "store",
        "service_tier",
        "stream_options",
        "logit_bias",
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
        "n",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "response_format",
        "logprobs",
        "top_logprobs",
        "reasoning_effort",
    }
)
# Models without a thinking mode: Gemini refuses `thinkingConfig` there, so `reasoning_effort` is
# left out for them (Gemini 1.x, 2.0 and Gemma).
_NO_THINKING: Final = re.compile(r"(?:models/)?(?:gemini-(?:1\.|2\.0)|gemma-)")
_CONFIG: Final = (
    ("temperature", "temperature"),
    ("top_p", "topP"),
    ("top_k", "topK"),
    ("seed", "seed"),
    ("presence_penalty", "presencePenalty"),
    ("frequency_penalty", "frequencyPenalty"),
)


def _unsupported(field: str, why: str) -> UpstreamUnsupported:
    return unsupported("Gemini", field, why)


def _text(content: Any, where: str) -> str:
    return text_content(content, where, "Gemini")


def _user_parts(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        raise _unsupported(where, "content must be a string or a list of parts")
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"text": str(part.get("text", ""))})
        elif kind == "image_url":
            inline = data_url(image_url(part))
            if inline is None:
                raise _unsupported(f"{where}[{j}]", "images must be base64 data URLs")
            parts.append({"inlineData": {"mimeType": inline[0], "data": inline[1]}})
        else:
            raise _unsupported(f"{where}[{j}]", f"content parts of type {kind!r} are not supported")
    return parts


def _parse_arguments(raw: Any, where: str) -> Any:
    return tool_arguments(raw, where, "Gemini")


def convert_messages(messages: list[Any]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}
    for i, message in enumerate(messages):
        role = message.get("role")
        where = f"messages[{i}]"
        if role in ("system", "developer"):
            system.append(_text(message.get("content"), f"{where}.content"))
            continue
        if role == "user":
            gemini_role, parts = "user", _user_parts(message.get("content"), f"{where}.content")
        elif role == "assistant":
            gemini_role, parts = "model", []
            text = _text(message.get("content"), f"{where}.content")
            if text:
                parts.append({"text": text})
            for k, call in enumerate(message.get("tool_calls") or []):
                function = call.get("function") or {}
                call_names[str(call.get("id"))] = str(function.get("name"))
                args = _parse_arguments(
                    function.get("arguments"), f"{where}.tool_calls[{k}].function.arguments"
                )
                parts.append({"functionCall": {"name": function.get("name"), "args": args}})
        elif role == "tool":
            name = call_names.get(str(message.get("tool_call_id")))
            if name is None:
                raise _unsupported(f"{where}.tool_call_id", "no earlier assistant tool call has this id")
            result = _text(message.get("content"), f"{where}.content")
            try:
                response = orjson.loads(result)
            except orjson.JSONDecodeError:
                response = None
            if not isinstance(response, dict):
                response = {"content": result}
            gemini_role, parts = "user", [{"functionResponse": {"name": name, "response": response}}]
        else:
            raise _unsupported(f"{where}.role", f"role {role!r} is not supported")
        if contents and contents[-1]["role"] == gemini_role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": gemini_role, "parts": parts})
    instruction = {"parts": [{"text": "\n\n".join(system)}]} if system else None
    return instruction, contents


def build_generate_body(body: Mapping[str, Any], model: str = "") -> dict[str, Any]:
    check_fields(body, HANDLED, DROPPED, "Gemini")
    system, contents = convert_messages(body["messages"])
    out: dict[str, Any] = {"contents": contents}
    if system is not None:
        out["systemInstruction"] = system
    config: dict[str, Any] = {}
    for ours, theirs in _CONFIG:
        if body.get(ours) is not None:
            config[theirs] = body[ours]
    if (tokens := body.get("max_completion_tokens") or body.get("max_tokens")) is not None:
        config["maxOutputTokens"] = tokens
    if stop := body.get("stop"):
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("n") not in (None, 1):
        config["candidateCount"] = body["n"]
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema") if fmt["type"] == "json_schema" else None
        if schema is not None:
            config["responseJsonSchema"] = schema
    elif fmt is not None and not (isinstance(fmt, dict) and fmt.get("type") == "text"):
        raise _unsupported("response_format", "expected text, json_object or json_schema")
    budget = thinking_budget(body, "Gemini")
    if budget is not None and not _NO_THINKING.match(model):
        # Gemini 2.5's budget (Gemini 3 accepts it too, in place of thinkingLevel); thoughts are
        # not asked for (`includeThoughts`) and never relayed as answer text.
        config["thinkingConfig"] = {"thinkingBudget": budget}
    if config:
        out["generationConfig"] = config
    tools = body.get("tools")
    if tools:
        declarations = []
        for k, tool in enumerate(tools):
            function = (
                tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
            )
            if not isinstance(function, dict):
                raise _unsupported(f"tools[{k}]", "only function tools are supported")
            declaration = {"name": function.get("name"), "description": function.get("description", "")}
            if function.get("parameters"):
                declaration["parameters"] = function["parameters"]
            declarations.append(declaration)
        out["tools"] = [{"functionDeclarations": declarations}]
    choice = body.get("tool_choice")
    if choice is not None:
        modes = {"auto": "AUTO", "required": "ANY", "none": "NONE"}
        if isinstance(choice, str) and choice in modes:
            out["toolConfig"] = {"functionCallingConfig": {"mode": modes[choice]}}
        elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
            name = choice["function"].get("name")
            out["toolConfig"] = {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
        else:
            raise _unsupported("tool_choice", "expected auto, required, none or a function")
    return out


def build_embed_body(body: Mapping[str, Any], model: str) -> dict[str, Any]:
    """`batchEmbedContents`: one request per input text (`dimensions` -> `outputDimensionality`)."""
    request: dict[str, Any] = {"model": f"models/{model}"}
    if body.get("dimensions") is not None:
        request["outputDimensionality"] = body["dimensions"]
    return {"requests": [{**request, "content": {"parts": [{"text": t}]}} for t in texts_of(body, "Gemini")]}
