"""Gemini API requests (`POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent`,
`:countTokens`): strict validation, the client's own body for `gemini` targets, and a translation
to the executor's (OpenAI chat) form for every other target.

The model comes from the URL path and streaming from the method, never from the body. The body is
kept whole (`ChatRequest.native`) so a Gemini target receives it as sent, unknown and future fields
included. The translation decides per field (README, "The Gemini dialect"):
- mapped: `contents` (roles `user` / `model`; `text`, `inlineData` (images, as data URLs),
  `functionCall` -> assistant `tool_calls`, `functionResponse` -> `tool` messages, matched to their
  call by `id`, else by name in order), `systemInstruction` -> a system message,
  `tools[].functionDeclarations` (`parameters` in Gemini's schema form or `parametersJsonSchema`),
  `toolConfig.functionCallingConfig` (AUTO / ANY / NONE, `allowedFunctionNames`),
  `generationConfig`: `maxOutputTokens`, `temperature`, `topP`, `stopSequences`, `candidateCount`,
  `seed`, `presencePenalty`, `frequencyPenalty`, `responseMimeType` application/json with
  `responseJsonSchema` / `responseSchema` -> `response_format`, `thinkingConfig.thinkingBudget` /
  `thinkingLevel` -> `reasoning_effort`;
- dropped and named in `ChatRequest.dropped` (`x-switchboard-dropped`): `safetySettings`, `labels`,
  other `generationConfig` keys (`topK`, `responseModalities`, `thinkingConfig.includeThoughts`, ...),
  non-function tools (`tools.googleSearch`, ...), `thought` parts and `thoughtSignature`s of earlier
  turns, unknown top-level fields;
- untranslatable (only a Gemini target can serve it; others are skipped, and without one the
  client gets a 400 naming it): `cachedContent`, `fileData` / `executableCode` /
  `codeExecutionResult` parts and any part kind this module does not know.
"""

from __future__ import annotations

from typing import Any, Final

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
from switchboard.wire.readers import GEMINI_COUNT_TOKENS, GEMINI_GENERATE

MAPPED: Final = frozenset(
    {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig", *ROUTING_FIELDS}
)
DROPPED: Final = frozenset({"safetySettings", "labels"})
UNTRANSLATABLE_PARTS: Final = ("fileData", "executableCode", "codeExecutionResult")
_CONFIG: Final = (
    ("temperature", "temperature", 0.0, 2.0),
    ("topP", "top_p", 0.0, 1.0),
    ("presencePenalty", "presence_penalty", -2.0, 2.0),
    ("frequencyPenalty", "frequency_penalty", -2.0, 2.0),
)
_CONFIG_INTS: Final = (
    ("maxOutputTokens", "max_completion_tokens"),
    ("candidateCount", "n"),
    ("seed", "seed"),
)
_CONFIG_DONE: Final = frozenset(
    {
        *(name for name, *_ in _CONFIG),
        *(name for name, _ in _CONFIG_INTS),
        "stopSequences",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "thinkingConfig",
    }
)
MODES: Final = {"AUTO": "auto", "ANY": "required", "NONE": "none", "VALIDATED": "auto"}
LEVELS: Final = {"MINIMAL": "minimal", "LOW": "low", "MEDIUM": "medium", "HIGH": "high"}


class _Translation:
    __slots__ = ("calls", "dropped", "untranslatable")

    def __init__(self) -> None:
        self.dropped: list[str] = []
        self.untranslatable: str | None = None
        self.calls: list[tuple[str, str]] = []
        """(id, name) of the model's function calls not yet answered, oldest first."""

    def drop(self, name: str) -> None:
        if name not in self.dropped:
            self.dropped.append(name)

    def cannot(self, name: str) -> None:
        if self.untranslatable is None:
            self.untranslatable = name


def _bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"'{where}' must be an object", where)
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _bad(f"'{where}' must be a string", where)
    return value


# --------------------------------------------------------------------------- contents


def _user_parts(parts: list[dict[str, Any]], where: str, out: _Translation) -> list[dict[str, Any]]:
    """A `user` turn -> chat messages: text and images in one user message, function responses as
    `tool` messages (before it, answering the model's calls)."""
    tool_messages: list[dict[str, Any]] = []
    content: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        pwhere = f"{where}[{j}]"
        if "text" in part:
            if part.get("thought"):
                out.drop("contents.thought")
                continue
            content.append({"type": "text", "text": _str(part["text"], f"{pwhere}.text")})
        elif "inlineData" in part:
            blob = _obj(part["inlineData"], f"{pwhere}.inlineData")
            mime = _str(blob.get("mimeType"), f"{pwhere}.inlineData.mimeType")
            data = _str(blob.get("data"), f"{pwhere}.inlineData.data")
            if not mime.startswith("image/"):
                out.cannot(f"{pwhere}.inlineData")
                continue
            content.append({"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}})
        elif "functionResponse" in part:
            tool_messages.append(
                _function_response(part["functionResponse"], f"{pwhere}.functionResponse", out)
            )
        else:
            _other_part(part, pwhere, out)
    messages = list(tool_messages)
    if len(content) == 1 and content[0]["type"] == "text":
        messages.append({"role": "user", "content": content[0]["text"]})
    elif content:  # several parts stay several parts (Gemini CLI sends its context and the prompt apart)
        messages.append({"role": "user", "content": content})
    return messages


def _function_response(value: Any, where: str, out: _Translation) -> dict[str, Any]:
    response = _obj(value, where)
    name = _str(response.get("name"), f"{where}.name")
    call_id = response.get("id")
    match = None
    for k, (known_id, known_name) in enumerate(out.calls):
        if (call_id is not None and known_id == call_id) or (call_id is None and known_name == name):
            match = out.calls.pop(k)[0]
            break
    if match is None:
        raise _bad(f"'{where}' answers no earlier functionCall named {name[:64]!r}", where)
    result = response.get("response")
    text = result if isinstance(result, str) else orjson.dumps(result if result is not None else {}).decode()
    return {"role": "tool", "tool_call_id": match, "content": text}


def _model_parts(parts: list[dict[str, Any]], where: str, turn: int, out: _Translation) -> dict[str, Any]:
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        pwhere = f"{where}[{j}]"
        if "thoughtSignature" in part:
            out.drop("contents.thoughtSignature")
        if "text" in part:
            if part.get("thought"):
                out.drop("contents.thought")
                continue
            text.append(_str(part["text"], f"{pwhere}.text"))
        elif "functionCall" in part:
            call = _obj(part["functionCall"], f"{pwhere}.functionCall")
            name = _str(call.get("name"), f"{pwhere}.functionCall.name")
            args = call.get("args")
            if args is not None and not isinstance(args, dict):
                raise _bad(f"'{pwhere}.functionCall.args' must be an object", f"{pwhere}.functionCall.args")
            given = call.get("id")
            call_id = given if isinstance(given, str) and given else f"call_{turn}_{len(calls)}"
            out.calls.append((call_id, name))
            calls.append(
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": orjson.dumps(args or {}).decode()},
                }
            )
        else:
            _other_part(part, pwhere, out)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _other_part(part: dict[str, Any], where: str, out: _Translation) -> None:
    if set(part) <= {"thoughtSignature", "thought", "partMetadata"}:
        return
    kind = next((k for k in part if k not in ("thoughtSignature", "thought", "partMetadata")), "?")
    out.cannot(f"{where}.{kind}")


def _contents(value: Any, out: _Translation) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise _bad("'contents' is required and must be a non-empty array", "contents")
    messages: list[dict[str, Any]] = []
    for i, turn in enumerate(value):
        where = f"contents[{i}]"
        turn = _obj(turn, where)
        role = turn.get("role", "user")
        parts = turn.get("parts")
        if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
            raise _bad(f"'{where}.parts' must be an array of part objects", f"{where}.parts")
        if role == "model":
            messages.append(_model_parts(parts, f"{where}.parts", i, out))
        elif role in ("user", "function"):
            messages.extend(_user_parts(parts, f"{where}.parts", out))
        else:
            raise _bad(f"'{where}.role' must be 'user' or 'model'", f"{where}.role")
    return messages


def _system(value: Any) -> str:
    if isinstance(value, str):
        return value
    content = _obj(value, "systemInstruction")
    parts = content.get("parts")
    if not isinstance(parts, list):
        raise _bad("'systemInstruction.parts' must be an array", "systemInstruction.parts")
    texts = []
    for j, part in enumerate(parts):
        part = _obj(part, f"systemInstruction.parts[{j}]")
        texts.append(_str(part.get("text"), f"systemInstruction.parts[{j}].text"))
    return "\n".join(texts)


# --------------------------------------------------------------------------- tools and config


def json_schema(schema: Any) -> Any:
    """Gemini's `Schema` (OpenAPI subset, upper-case `type`s such as OBJECT) -> JSON Schema."""
    if isinstance(schema, list):
        return [json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            out[key] = value.lower()
        elif key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {name: json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "anyOf", "oneOf", "allOf", "additionalProperties", "not"):
            out[key] = json_schema(value)
        elif key == "nullable":
            continue  # JSON Schema says it with a type list
        elif key == "propertyOrdering":
            continue
        else:
            out[key] = value
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def _tools(value: Any, out: _Translation) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _bad("'tools' must be an array", "tools")
    tools: list[dict[str, Any]] = []
    for i, tool in enumerate(value):
        tool = _obj(tool, f"tools[{i}]")
        for kind, declarations in tool.items():
            if kind != "functionDeclarations":
                out.drop(f"tools.{kind}")
                continue
            if not isinstance(declarations, list):
                raise _bad(
                    f"'tools[{i}].functionDeclarations' must be an array", f"tools[{i}].functionDeclarations"
                )
            for k, declaration in enumerate(declarations):
                where = f"tools[{i}].functionDeclarations[{k}]"
                declaration = _obj(declaration, where)
                function: dict[str, Any] = {"name": _str(declaration.get("name"), f"{where}.name")}
                if declaration.get("description") is not None:
                    function["description"] = _str(declaration["description"], f"{where}.description")
                if declaration.get("parametersJsonSchema") is not None:
                    function["parameters"] = _obj(
                        declaration["parametersJsonSchema"], f"{where}.parametersJsonSchema"
                    )
                elif declaration.get("parameters") is not None:
                    function["parameters"] = json_schema(
                        _obj(declaration["parameters"], f"{where}.parameters")
                    )
                for extra in declaration:
                    if extra not in ("name", "description", "parameters", "parametersJsonSchema"):
                        out.drop(f"tools.functionDeclarations.{extra}")
                tools.append({"type": "function", "function": function})
    return tools


def _tool_choice(value: Any, chat: dict[str, Any], out: _Translation) -> None:
    config = _obj(value, "toolConfig")
    for key in config:
        if key != "functionCallingConfig":
            out.drop(f"toolConfig.{key}")
    calling = config.get("functionCallingConfig")
    if calling is None:
        return
    calling = _obj(calling, "toolConfig.functionCallingConfig")
    mode = calling.get("mode", "AUTO")
    if mode not in MODES:
        raise _bad(
            "'toolConfig.functionCallingConfig.mode' must be AUTO, ANY, NONE or VALIDATED",
            "toolConfig.functionCallingConfig.mode",
        )
    allowed = calling.get("allowedFunctionNames")
    if allowed is not None and (
        not isinstance(allowed, list) or not all(isinstance(n, str) for n in allowed)
    ):
        raise _bad(
            "'toolConfig.functionCallingConfig.allowedFunctionNames' must be an array of strings",
            "toolConfig.functionCallingConfig.allowedFunctionNames",
        )
    if mode == "ANY" and allowed and len(allowed) == 1:
        chat["tool_choice"] = {"type": "function", "function": {"name": allowed[0]}}
        return
    if allowed and "tools" in chat:
        chat["tools"] = [t for t in chat["tools"] if t["function"]["name"] in allowed]
    chat["tool_choice"] = MODES[mode]


def _number(config: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = config.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _bad(
            f"'generationConfig.{name}' must be a number from {low:g} to {high:g}", f"generationConfig.{name}"
        )
    return value


def _thinking(value: Any, chat: dict[str, Any], out: _Translation) -> None:
    thinking = _obj(value, "generationConfig.thinkingConfig")
    budget, level = thinking.get("thinkingBudget"), thinking.get("thinkingLevel")
    for key in thinking:
        if key not in ("thinkingBudget", "thinkingLevel"):
            out.drop(f"generationConfig.thinkingConfig.{key}")
    if budget is not None:
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < -1:
            raise _bad(
                "'generationConfig.thinkingConfig.thinkingBudget' must be an integer >= -1",
                "generationConfig.thinkingConfig.thinkingBudget",
            )
        if budget == 0:
            chat["reasoning_effort"] = "none"
        elif budget > 0:  # -1 is Gemini's "dynamic": the target's default
            chat["reasoning_effort"] = "low" if budget <= 1024 else "medium" if budget <= 8192 else "high"
    elif level is not None:
        if not isinstance(level, str) or level.upper() not in LEVELS:
            raise _bad(
                "'generationConfig.thinkingConfig.thinkingLevel' must be MINIMAL, LOW, MEDIUM or HIGH",
                "generationConfig.thinkingConfig.thinkingLevel",
            )
        chat["reasoning_effort"] = LEVELS[level.upper()]


def _generation(value: Any, chat: dict[str, Any], out: _Translation) -> None:
    config = _obj(value, "generationConfig")
    for name, ours, low, high in _CONFIG:
        if (number := _number(config, name, low, high)) is not None:
            chat[ours] = number
    for name, ours in _CONFIG_INTS:
        number = config.get(name)
        if number is None:
            continue
        if isinstance(number, bool) or not isinstance(number, int) or (number < 1 and name != "seed"):
            raise _bad(f"'generationConfig.{name}' must be a positive integer", f"generationConfig.{name}")
        chat[ours] = number
    stop = config.get("stopSequences")
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise _bad(
                "'generationConfig.stopSequences' must be an array of strings",
                "generationConfig.stopSequences",
            )
        if stop:
            chat["stop"] = stop
    mime = config.get("responseMimeType")
    schema = config.get("responseJsonSchema")
    if schema is None and config.get("responseSchema") is not None:
        schema = json_schema(_obj(config["responseSchema"], "generationConfig.responseSchema"))
    if mime == "application/json" or schema is not None:
        if schema is None:
            chat["response_format"] = {"type": "json_object"}
        else:
            chat["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": "response",
                    "schema": _obj(schema, "generationConfig.responseJsonSchema"),
                },
            }
    elif mime not in (None, "text/plain"):
        out.cannot("generationConfig.responseMimeType")
    if config.get("thinkingConfig") is not None:
        _thinking(config["thinkingConfig"], chat, out)
    for key in config:
        if key not in _CONFIG_DONE and config[key] is not None:
            out.drop(f"generationConfig.{key}")


# --------------------------------------------------------------------------- entry points


def _translate(body: dict[str, Any], model: str, stream: bool) -> ChatRequest:
    out = _Translation()
    chat: dict[str, Any] = {"model": model, "messages": []}
    if body.get("systemInstruction") is not None:
        chat["messages"].append({"role": "system", "content": _system(body["systemInstruction"])})
    chat["messages"].extend(_contents(body.get("contents"), out))
    if body.get("tools") is not None and (tools := _tools(body["tools"], out)):
        chat["tools"] = tools
    if body.get("toolConfig") is not None:
        _tool_choice(body["toolConfig"], chat, out)
        if "tools" not in chat:
            chat.pop("tool_choice", None)
    if body.get("generationConfig") is not None:
        _generation(body["generationConfig"], chat, out)
    if body.get("cachedContent") is not None:
        out.cannot("cachedContent")
    for field in body:
        if field in ROUTING_FIELDS:
            chat[field] = body[field]
        elif field not in MAPPED and field not in ("cachedContent", "model"):  # the path names the model
            out.drop(field)
    if not any(m["role"] != "system" for m in chat["messages"]):
        if out.untranslatable is None:
            raise _bad("'contents' has nothing a model can answer (only parts that are dropped)", "contents")
        chat["messages"].append({"role": "user", "content": ""})  # never sent: only Gemini targets serve it
    if stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}  # the last chunk carries usageMetadata
    request = chat_request(chat)
    request.native = NativeRequest(
        GEMINI_GENERATE, {k: v for k, v in body.items() if k not in ROUTING_FIELDS}
    )
    request.dropped = tuple(out.dropped)
    request.untranslatable = out.untranslatable
    return request


def _body(raw: bytes) -> dict[str, Any]:
    body = parse_json_object(raw)
    refuse_forbidden(body)
    return body


def parse_generate_request(raw: bytes, model: str, stream: bool) -> ChatRequest:
    """A generateContent / streamGenerateContent body for `model` (from the path)."""
    return _translate(_body(raw), model, stream)


def parse_count_tokens_request(raw: bytes, model: str) -> ChatRequest:
    """A countTokens body: `contents`, or a whole `generateContentRequest` (not both); validated
    like a generateContent request, kept whole for Gemini targets."""
    body = _body(raw)
    inner = body.get("generateContentRequest")
    if inner is not None:
        if "contents" in body:
            raise _bad("send 'contents' or 'generateContentRequest', not both", "generateContentRequest")
        inner = _obj(inner, "generateContentRequest")
        extra: dict[str, Any] = {k: body[k] for k in ROUTING_FIELDS if k in body}
        request = _translate({**{k: v for k, v in inner.items() if k != "model"}, **extra}, model, False)
    else:
        request = _translate(body, model, False)
    request.native = NativeRequest(
        GEMINI_COUNT_TOKENS, {k: v for k, v in body.items() if k not in ROUTING_FIELDS}
    )
    return request
