"""Gemini API requests (`POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent`,
`:countTokens`): strict validation, the client's own body for `gemini` targets, and a translation
to the executor's (OpenAI chat) form for every other target.

The model comes from the URL path and streaming from the method, never from the body. The body is
checked when it is parsed (`gemini_validation`: wrong types are a 400 naming the field, whatever the
target) and kept whole (`ChatRequest.native`) so a Gemini target receives it as sent, unknown and
future fields included. The translation is built only when a target that does not serve the Gemini
API is tried (`ChatRequest.translation`, run once), and never fails on a checked body. It decides
per field (README, "The Gemini dialect"):
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

from functools import partial
from typing import Any, Final

import orjson

from switchboard.dialects.gemini_validation import (
    LEVELS,
    MODES,
    OTHER_PART_KEYS,
    answers,
    bad,
    call_id,
    check_generate_body,
    obj,
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
from switchboard.wire.readers import GEMINI_COUNT_TOKENS, GEMINI_GENERATE

MAPPED: Final = frozenset(
    {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig", *ROUTING_FIELDS}
)
DROPPED: Final = frozenset({"safetySettings", "labels"})
UNTRANSLATABLE_PARTS: Final = ("fileData", "executableCode", "codeExecutionResult")
_CONFIG: Final = (
    ("temperature", "temperature"),
    ("topP", "top_p"),
    ("presencePenalty", "presence_penalty"),
    ("frequencyPenalty", "frequency_penalty"),
    ("maxOutputTokens", "max_completion_tokens"),
    ("candidateCount", "n"),
    ("seed", "seed"),
)
_CONFIG_DONE: Final = frozenset(
    {
        *(name for name, _ in _CONFIG),
        "stopSequences",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "thinkingConfig",
    }
)


class _Translation:
    __slots__ = ("calls", "dropped", "untranslatable")

    def __init__(self) -> None:
        self.dropped: list[str] = []
        self.untranslatable: str | None = None
        self.calls: list[tuple[Any, str]] = []
        """(id, name) of the model's function calls not yet answered, oldest first."""

    def drop(self, name: str) -> None:
        if name not in self.dropped:
            self.dropped.append(name)

    def cannot(self, name: str) -> None:
        if self.untranslatable is None:
            self.untranslatable = name


# The functions below read a body `gemini_validation` has checked: they index without checking.

# --------------------------------------------------------------------------- contents


def _user_parts(parts: list[dict[str, Any]], where: str, out: _Translation) -> list[dict[str, Any]]:
    """A `user` turn -> chat messages: text and images in one user message, function responses as
    `tool` messages (before it, answering the model's calls)."""
    tool_messages: list[dict[str, Any]] = []
    content: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        if "text" in part:
            if part.get("thought"):
                out.drop("contents.thought")
                continue
            content.append({"type": "text", "text": part["text"]})
        elif "inlineData" in part:
            blob = part["inlineData"]
            mime = blob["mimeType"]
            if not mime.startswith("image/"):
                out.cannot(f"{where}[{j}].inlineData")
                continue
            content.append({"type": "image_url", "image_url": {"url": f"data:{mime};base64,{blob['data']}"}})
        elif "functionResponse" in part:
            tool_messages.append(_function_response(part["functionResponse"], out))
        else:
            _other_part(part, f"{where}[{j}]", out)
    messages = list(tool_messages)
    if len(content) == 1 and content[0]["type"] == "text":
        messages.append({"role": "user", "content": content[0]["text"]})
    elif content:  # several parts stay several parts (Gemini CLI sends its context and the prompt apart)
        messages.append({"role": "user", "content": content})
    return messages


def _function_response(response: dict[str, Any], out: _Translation) -> dict[str, Any]:
    k = answers(out.calls, response.get("id"), response["name"])
    assert k is not None  # checked: every response answers an earlier call
    match = out.calls.pop(k)[0]
    result = response.get("response")
    text = result if isinstance(result, str) else orjson.dumps(result if result is not None else {}).decode()
    return {"role": "tool", "tool_call_id": match, "content": text}


def _model_parts(parts: list[dict[str, Any]], where: str, turn: int, out: _Translation) -> dict[str, Any]:
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        if "thoughtSignature" in part:
            out.drop("contents.thoughtSignature")
        if "text" in part:
            if part.get("thought"):
                out.drop("contents.thought")
                continue
            text.append(part["text"])
        elif "functionCall" in part:
            call = part["functionCall"]
            made = call_id(call.get("id"), turn, len(calls))
            out.calls.append((made, call["name"]))
            calls.append(
                {
                    "id": made,
                    "type": "function",
                    "function": {
                        "name": call["name"],
                        "arguments": orjson.dumps(call.get("args") or {}).decode(),
                    },
                }
            )
        else:
            _other_part(part, f"{where}[{j}]", out)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _other_part(part: dict[str, Any], where: str, out: _Translation) -> None:
    kind = next((k for k in part if k not in OTHER_PART_KEYS), None)
    if kind is not None:
        out.cannot(f"{where}.{kind}")


def _contents(value: list[dict[str, Any]], out: _Translation) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for i, turn in enumerate(value):
        where = f"contents[{i}].parts"
        if turn.get("role", "user") == "model":
            messages.append(_model_parts(turn["parts"], where, i, out))
        else:  # user or function
            messages.extend(_user_parts(turn["parts"], where, out))
    return messages


def _system(value: str | dict[str, Any]) -> str:
    if isinstance(value, str):
        return value
    return "\n".join(part["text"] for part in value["parts"])


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


def _tools(value: list[dict[str, Any]], out: _Translation) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    for tool in value:
        for kind, declarations in tool.items():
            if kind != "functionDeclarations":
                out.drop(f"tools.{kind}")
                continue
            for declaration in declarations:
                function: dict[str, Any] = {"name": declaration["name"]}
                if declaration.get("description") is not None:
                    function["description"] = declaration["description"]
                if declaration.get("parametersJsonSchema") is not None:
                    function["parameters"] = declaration["parametersJsonSchema"]
                elif declaration.get("parameters") is not None:
                    function["parameters"] = json_schema(declaration["parameters"])
                for extra in declaration:
                    if extra not in ("name", "description", "parameters", "parametersJsonSchema"):
                        out.drop(f"tools.functionDeclarations.{extra}")
                tools.append({"type": "function", "function": function})
    return tools


def _tool_choice(config: dict[str, Any], chat: dict[str, Any], out: _Translation) -> None:
    for key in config:
        if key != "functionCallingConfig":
            out.drop(f"toolConfig.{key}")
    calling = config.get("functionCallingConfig")
    if calling is None:
        return
    mode = calling.get("mode", "AUTO")
    allowed = calling.get("allowedFunctionNames")
    if mode == "ANY" and allowed and len(allowed) == 1:
        chat["tool_choice"] = {"type": "function", "function": {"name": allowed[0]}}
        return
    if allowed and "tools" in chat:
        chat["tools"] = [t for t in chat["tools"] if t["function"]["name"] in allowed]
    chat["tool_choice"] = MODES[mode]


def _thinking(thinking: dict[str, Any], chat: dict[str, Any], out: _Translation) -> None:
    budget, level = thinking.get("thinkingBudget"), thinking.get("thinkingLevel")
    for key in thinking:
        if key not in ("thinkingBudget", "thinkingLevel"):
            out.drop(f"generationConfig.thinkingConfig.{key}")
    if budget is not None:
        if budget == 0:
            chat["reasoning_effort"] = "none"
        elif budget > 0:  # -1 is Gemini's "dynamic": the target's default
            chat["reasoning_effort"] = "low" if budget <= 1024 else "medium" if budget <= 8192 else "high"
    elif level is not None:
        chat["reasoning_effort"] = LEVELS[level.upper()]


def _generation(config: dict[str, Any], chat: dict[str, Any], out: _Translation) -> None:
    for name, ours in _CONFIG:
        if config.get(name) is not None:
            chat[ours] = config[name]
    if config.get("stopSequences"):
        chat["stop"] = config["stopSequences"]
    mime = config.get("responseMimeType")
    schema = config.get("responseJsonSchema")
    if schema is None and config.get("responseSchema") is not None:
        schema = json_schema(config["responseSchema"])
    if schema is not None:
        chat["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": schema},
        }
    elif mime == "application/json":
        chat["response_format"] = {"type": "json_object"}
    elif mime not in (None, "text/plain"):
        out.cannot("generationConfig.responseMimeType")
    if config.get("thinkingConfig") is not None:
        _thinking(config["thinkingConfig"], chat, out)
    for key in config:
        if key not in _CONFIG_DONE and config[key] is not None:
            out.drop(f"generationConfig.{key}")


# --------------------------------------------------------------------------- entry points


def translate(body: dict[str, Any], model: str, stream: bool) -> Translation:
    """The chat form of a checked body (`_checked`), and what it leaves out."""
    out = _Translation()
    chat: dict[str, Any] = {"model": model, "messages": []}
    if body.get("systemInstruction") is not None:
        chat["messages"].append({"role": "system", "content": _system(body["systemInstruction"])})
    chat["messages"].extend(_contents(body["contents"], out))
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
        if field not in MAPPED and field not in ("cachedContent", "model"):  # the path names the model
            out.drop(field)
    if not any(m["role"] != "system" for m in chat["messages"]):  # checked: only when untranslatable
        chat["messages"].append({"role": "user", "content": ""})  # never sent: only Gemini targets serve it
    if stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}  # the last chunk carries usageMetadata
    return Translation(chat, tuple(out.dropped), out.untranslatable)


def _checked(body: dict[str, Any], model: str, stream: bool) -> ChatRequest:
    """The request with every check done and its facts read (the routing fields are taken out of
    `body`); the translation is left for later."""
    check_generate_body(body)
    routing: dict[str, Any] = {
        "model": model,
        **{name: body.pop(name) for name in ROUTING_FIELDS if name in body},
    }
    request = dialect_request(routing, True)  # (the check above has refused a body with no message)
    request.stream = stream
    config = body.get("generationConfig")
    request.answer_cap = config.get("maxOutputTokens") if isinstance(config, dict) else None
    request.native = NativeRequest(GEMINI_GENERATE, body)
    request.translation = partial(translate, body, model, stream)
    return request


def _body(raw: bytes) -> dict[str, Any]:
    body = parse_json_object(raw)
    refuse_forbidden(body)
    return body


def parse_generate_request(raw: bytes, model: str, stream: bool) -> ChatRequest:
    """A generateContent / streamGenerateContent body for `model` (from the path)."""
    return _checked(_body(raw), model, stream)


def parse_count_tokens_request(raw: bytes, model: str) -> ChatRequest:
    """A countTokens body: `contents`, or a whole `generateContentRequest` (not both); validated
    like a generateContent request, kept whole for Gemini targets."""
    body = _body(raw)
    inner = body.get("generateContentRequest")
    if inner is not None:
        if "contents" in body:
            raise bad("send 'contents' or 'generateContentRequest', not both", "generateContentRequest")
        inner = obj(inner, "generateContentRequest")
        extra: dict[str, Any] = {k: body[k] for k in ROUTING_FIELDS if k in body}
        request = _checked({**{k: v for k, v in inner.items() if k != "model"}, **extra}, model, False)
    else:
        request = _checked(body, model, False)
    request.native = NativeRequest(
        GEMINI_COUNT_TOKENS, {k: v for k, v in body.items() if k not in ROUTING_FIELDS}
    )
    return request
