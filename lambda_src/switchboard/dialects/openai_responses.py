"""The OpenAI Responses inbound endpoint (`POST /v1/responses`) for translated targets, as pure code.

A Responses request becomes an OpenAI chat request (`to_chat_request`), so it routes to any
provider: everything is checked when it is parsed (`input` by `responses_validation`), and its
`input` becomes chat messages only when a target that does not serve the Responses API is tried.
The chat answer comes back as a `response` object (`to_response`) and a chunk stream as
Responses events (`ChunksToEvents`); both live in `wire/responses.py` and are re-exported here.
Errors keep the OpenAI shape (`error_body`).

Mapped: `input` (a string, or items: messages with `input_text` / `input_image` (URL) /
`input_file` (inline data) / `output_text` / `refusal` parts, `function_call` -> assistant
`tool_calls` (consecutive calls grouped into one assistant message), `function_call_output` -> tool
messages), `instructions` -> a system message first, function `tools`, `tool_choice` (auto / none /
required / function / allowed_tools), `parallel_tool_calls`, `text.format` -> `response_format`,
`max_output_tokens` -> `max_completion_tokens`, `temperature`, `top_p`, `reasoning.effort` ->
`reasoning_effort`, `stream`, `user` (or `safety_identifier`) -> `user`, Switchboard's routing fields.
Honoured by the response object or the caller, not sent upstream: `metadata`, `store`,
`previous_response_id` (the caller loads the history and calls `with_history`).

Dropped and named in `ResponsesRequest.dropped` (for `x-switchboard-dropped`): provider-side
tuning fields (`include`, `prompt_cache_key`, `client_metadata`, `service_tier`, `truncation`,
`reasoning.summary`, `text.verbosity`, ...), fields this module does not know, non-function tools
(`tools.<type>`), and `reasoning` input items (`input.reasoning`).
Served only by `openai` targets (`ChatRequest.untranslatable`: translated targets are skipped, and a
chain without a pass-through target answers a 400 naming the field): `conversation`, `prompt`,
`background: true` (OpenAI keeps and runs those itself). Refused with a 400 naming the field: wrong
types, `file_id` / `file_url` inputs, `item_reference` and other item types, a `tool_choice` that
forces a dropped tool, and the fields that could choose an upstream (`request.FORBIDDEN_FIELDS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import partial
from typing import Any, Final

import orjson

from switchboard.dialects.request import (
    FORBIDDEN_FIELDS,
    ROUTING_FIELDS,
    ChatRequest,
    Translation,
    dialect_request,
    parse_json_object,
)
from switchboard.dialects.responses_validation import TEXT_PARTS, bad, check_items, string
from switchboard.errors import GatewayError, InvalidRequest
from switchboard.values import NativeRequest
from switchboard.wire.readers import OPENAI_RESPONSES
from switchboard.wire.responses import ChunksToEvents, new_id, to_response

__all__ = [
    "ChunksToEvents",
    "ResponsesRequest",
    "error_body",
    "new_id",
    "output_messages",
    "to_chat_request",
    "to_response",
    "with_history",
]

NATIVE_ONLY: Final = ("conversation", "prompt")
"""Fields only OpenAI's own Responses API can serve (with `background: true`)."""
# Request parameters a response object repeats as sent (the rest take `wire.responses.ECHO_DEFAULTS`).
ECHOED: Final = (
    "instructions",
    "max_output_tokens",
    "temperature",
    "top_p",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "text",
    "reasoning",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "truncation",
)
# Read here (the rest of the top level is dropped and named, or refused). `prompt_cache_key` and
# `truncation` are echoed on the response but dropped: they only tune the provider side.
HANDLED: Final = (frozenset(ECHOED) - {"prompt_cache_key", "truncation"}) | {
    "model",
    "input",
    "stream",
    "metadata",
    "store",
    "previous_response_id",
    "background",
    *ROUTING_FIELDS,
}
EFFORTS: Final = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})
# Chat-form fields as a Responses client names them (for refusals: `UpstreamUnsupported.param`).
CLIENT_NAMES: Final = {
    "response_format": "text.format",
    "max_completion_tokens": "max_output_tokens",
    "reasoning_effort": "reasoning.effort",
    "messages": "input",
    "tools": "tools",
    "user": "user",
}
CHOICES: Final = frozenset({"auto", "none", "required"})


@dataclass(frozen=True, slots=True)
class ResponsesTranslation(Translation):
    input_messages: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class ResponsesRequest(ChatRequest):
    """A `ChatRequest` (what the executor runs) plus what only the Responses endpoint needs."""

    echo: dict[str, Any] = field(default_factory=dict)
    """The request parameters the response object repeats (pass to `to_response` / `ChunksToEvents`)."""
    previous_response_id: str | None = None
    store: bool = True
    response_id: str = field(default_factory=new_id)
    """Chosen up front: the answer, its stream events and the stored conversation share it."""
    _input_messages: list[dict[str, Any]] = field(default_factory=list, init=False, repr=False)

    def _apply(self, done: Translation) -> None:
        ChatRequest._apply(self, done)  # (no zero-argument super() in a slots dataclass)
        if isinstance(done, ResponsesTranslation):
            self._input_messages = done.input_messages

    @property
    def input_messages(self) -> list[dict[str, Any]]:
        """This turn's `input` as chat messages (without `instructions`): what the conversation keeps
        (the translation's: reading it runs it)."""
        self._translate()
        return self._input_messages


def error_body(exc: GatewayError) -> bytes:
    """Responses errors are OpenAI-shaped: `{"error": {"message", "type", "param", "code"}}`."""
    return exc.body()


def _flag(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise bad(f"'{name}' must be a boolean", name)
    return value


def _number(value: Any, where: str, low: float, high: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise bad(f"'{where}' must be a number from {low:g} to {high:g}", where)
    return value


# --------------------------------------------------------------------------- input items


def _user_part(part: dict[str, Any]) -> dict[str, Any]:
    kind = part["type"]
    if kind in TEXT_PARTS:
        return {"type": "text", "text": part["text"]}
    if kind == "input_image":
        image: dict[str, Any] = {"url": part["image_url"]}
        if part.get("detail") is not None:
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    file = {"file_data": part["file_data"]}  # input_file
    if part.get("filename") is not None:
        file["filename"] = part["filename"]
    return {"type": "file", "file": file}


def _texts(content: str | list[dict[str, Any]], sep: str) -> str:
    """A string, or the text of a list of text-like parts (refusals included)."""
    if isinstance(content, str):
        return content
    return sep.join(part["refusal" if part["type"] == "refusal" else "text"] for part in content)


def _message(item: dict[str, Any]) -> dict[str, Any]:
    role, content = item["role"], item["content"]
    if role == "assistant":
        return {"role": "assistant", "content": _texts(content, "")}
    if role in ("system", "developer"):
        return {"role": role, "content": _texts(content, "\n")}
    if isinstance(content, str):
        return {"role": "user", "content": content}
    return {"role": "user", "content": [_user_part(p) for p in content]}


def _items(value: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Responses input items (checked: `responses_validation.check_items`) -> chat messages (also
    used for stored output items)."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    messages: list[dict[str, Any]] = []
    for item in value:
        kind = item.get("type", "message")
        if kind == "message":
            messages.append(_message(item))
        elif kind == "function_call":
            last = messages[-1] if messages else None
            if last is None or last["role"] != "assistant":
                last = {"role": "assistant", "content": None}
                messages.append(last)
            call = {"name": item["name"], "arguments": item["arguments"]}
            last.setdefault("tool_calls", []).append(
                {"id": item["call_id"], "type": "function", "function": call}
            )
        elif kind == "function_call_output":
            text = _texts(item["output"], "\n")
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": text})
    return messages


def output_messages(response: bytes | dict[str, Any]) -> list[dict[str, Any]]:
    """A response object's `output` as chat messages (for `ConversationStore.save`)."""
    data = orjson.loads(response) if isinstance(response, bytes) else response
    output = [i for i in data.get("output") or [] if i.get("type") in ("message", "function_call")]
    if not output:
        return []
    check_items(output, "output", [])
    return _items(output)


# --------------------------------------------------------------------------- tools


def _tools(body: dict[str, Any], dropped: list[str]) -> tuple[list[dict[str, Any]], set[str]]:
    """Function tools in chat form, and the names/types of the tools dropped."""
    value = body.get("tools")
    if value is None:
        return [], set()
    if not isinstance(value, list):
        raise bad("'tools' must be a list", "tools")
    tools: list[dict[str, Any]] = []
    skipped: set[str] = set()
    for i, tool in enumerate(value):
        where = f"tools[{i}]"
        kind = tool.get("type") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or not isinstance(kind, str):
            raise bad(f"'{where}' must be an object with a string 'type'", where)
        if kind != "function":
            skipped.add(kind)
            if isinstance(tool.get("name"), str):
                skipped.add(tool["name"])
            if f"tools.{kind}" not in dropped:
                dropped.append(f"tools.{kind}")
            continue
        function: dict[str, Any] = {"name": string(tool.get("name"), f"{where}.name")}
        if tool.get("description") is not None:
            function["description"] = string(tool["description"], f"{where}.description")
        if tool.get("parameters") is not None:
            if not isinstance(tool["parameters"], dict):
                raise bad(f"'{where}.parameters' must be a JSON schema object", f"{where}.parameters")
            function["parameters"] = tool["parameters"]
        if tool.get("strict") is not None:
            if not isinstance(tool["strict"], bool):
                raise bad(f"'{where}.strict' must be a boolean", f"{where}.strict")
            function["strict"] = tool["strict"]
        tools.append({"type": "function", "function": function})
    return tools, skipped


def _tool_choice(
    choice: Any, tools: list[dict[str, Any]], skipped: set[str]
) -> tuple[Any, list[dict[str, Any]]]:
    """Responses `tool_choice` -> chat `tool_choice` (and the tools left, for `allowed_tools`)."""
    names = {t["function"]["name"] for t in tools}
    if choice is None or (isinstance(choice, str) and choice in CHOICES):
        return choice, tools
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "function":
        name = string(choice.get("name"), "tool_choice.name")
        if name in skipped:
            raise bad(f"'tool_choice' forces tool {name!r}, which is not available here", "tool_choice")
        if name not in names:
            raise bad(f"'tool_choice' names function {name!r}, which is not in 'tools'", "tool_choice")
        return {"type": "function", "function": {"name": name}}, tools
    if kind == "allowed_tools":
        mode = choice.get("mode")
        allowed = choice.get("tools")
        if mode not in ("auto", "required") or not isinstance(allowed, list):
            raise bad("'tool_choice' allowed_tools needs mode auto|required and a tools list", "tool_choice")
        keep = {t.get("name") for t in allowed if isinstance(t, dict) and t.get("type") == "function"}
        if len(keep) < len(allowed):
            raise bad("'tool_choice' allows tools that are not available here", "tool_choice")
        return mode, [t for t in tools if t["function"]["name"] in keep]
    if isinstance(kind, str):  # a hosted / custom / mcp tool: dropped from 'tools', so refused here
        raise bad(f"'tool_choice' forces a {kind!r} tool, which is not available here", "tool_choice")
    raise bad("'tool_choice' must be auto, none, required or a tool object", "tool_choice")


# --------------------------------------------------------------------------- request


def _text_format(text: Any, dropped: list[str]) -> dict[str, Any] | None:
    if text is None:
        return None
    if not isinstance(text, dict):
        raise bad("'text' must be an object", "text")
    dropped.extend(f"text.{key}" for key in text if key != "format" and text[key] is not None)
    fmt = text.get("format")
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind != "json_schema" or not isinstance(fmt, dict):
        raise bad("'text.format.type' must be text, json_object or json_schema", "text.format.type")
    schema = fmt.get("schema")
    if not isinstance(schema, dict):
        raise bad("'text.format.schema' must be a JSON schema object", "text.format.schema")
    spec: dict[str, Any] = {"name": string(fmt.get("name"), "text.format.name"), "schema": schema}
    if fmt.get("description") is not None:
        spec["description"] = string(fmt["description"], "text.format.description")
    if fmt.get("strict") is not None:
        if not isinstance(fmt["strict"], bool):
            raise bad("'text.format.strict' must be a boolean", "text.format.strict")
        spec["strict"] = fmt["strict"]
    return {"type": "json_schema", "json_schema": spec}


def _reasoning(value: Any, dropped: list[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad("'reasoning' must be an object", "reasoning")
    dropped.extend(f"reasoning.{key}" for key in value if key != "effort" and value[key] is not None)
    effort = value.get("effort")
    if effort is not None and (not isinstance(effort, str) or effort not in EFFORTS):
        raise bad(f"'reasoning.effort' must be one of {', '.join(sorted(EFFORTS))}", "reasoning.effort")
    return effort if isinstance(effort, str) else None


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if (
        not isinstance(value, dict)
        or len(value) > 16
        or not all(isinstance(k, str) and len(k) <= 64 for k in value)
        or not all(isinstance(v, str) and len(v) <= 512 for v in value.values())
    ):
        raise bad("'metadata' must map at most 16 keys (<= 64 chars) to strings (<= 512 chars)", "metadata")
    return value


def _check_top_level(body: dict[str, Any], dropped: list[str]) -> str | None:
    """Refuses what no target may receive, names what is dropped; returns the first field only an
    `openai` (pass-through) target can serve, if any."""
    native_only = None
    for name in body:
        if name in FORBIDDEN_FIELDS:
            raise InvalidRequest(
                f"'{name}' is not allowed: upstream URLs and credentials are set by configuration",
                param=name,
                code="forbidden_field",
            )
        if name in NATIVE_ONLY and body[name] is not None:
            native_only = native_only or name
        elif name not in HANDLED and body[name] is not None:
            dropped.append(name)
    background = body.get("background")
    if background not in (None, False):
        if background is not True:
            raise bad("'background' must be a boolean", "background")
        native_only = native_only or "background"
    return native_only


def to_chat_request(raw: bytes) -> ResponsesRequest:
    """A Responses request body -> the chat request the executor runs (400 `InvalidRequest` naming
    the field for anything malformed). See the module docstring for what maps, drops and refuses.
    Everything is checked here; the chat messages are built from `input` only when a target that
    does not serve the Responses API needs them (`ChatRequest.translation`)."""
    body = parse_json_object(raw)
    dropped: list[str] = []
    native_only = _check_top_level(body, dropped)
    stream, store, parallel = (_flag(body, name) for name in ("stream", "store", "parallel_tool_calls"))
    previous = string(body.get("previous_response_id"), "previous_response_id", optional=True)
    instructions = string(body.get("instructions"), "instructions", optional=True)
    if "input" not in body and native_only is None:
        raise bad("'input' is required", "input")
    has_input = check_items(body["input"], "input", dropped) if "input" in body else False
    if not (instructions or has_input or native_only is not None):
        raise bad("'input' has nothing a model can answer (only items that are dropped)", "input")

    # the rest of the body the executor sends (the messages follow `model`, when they are built)
    chat: dict[str, Any] = {}
    max_tokens = body.get("max_output_tokens")
    if max_tokens is not None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise bad("'max_output_tokens' must be a positive integer", "max_output_tokens")
        chat["max_completion_tokens"] = max_tokens
    for name, high in (("temperature", 2.0), ("top_p", 1.0)):
        if (number := _number(body.get(name), name, 0.0, high)) is not None:
            chat[name] = number

    tools, skipped = _tools(body, dropped)
    choice, tools = _tool_choice(body.get("tool_choice"), tools, skipped)
    if tools:
        chat["tools"] = tools
        if choice is not None:
            chat["tool_choice"] = choice
        if parallel is not None:
            chat["parallel_tool_calls"] = parallel
    elif choice == "required":
        raise bad("'tool_choice' is required but no function tools are available", "tool_choice")

    if (fmt := _text_format(body.get("text"), dropped)) is not None:
        chat["response_format"] = fmt
    if (effort := _reasoning(body.get("reasoning"), dropped)) is not None:
        chat["reasoning_effort"] = effort
    user = string(body.get("user"), "user", optional=True)
    safety = string(body.get("safety_identifier"), "safety_identifier", optional=True)
    if user or safety:
        chat["user"] = user or safety
    metadata = _metadata(body.get("metadata"))
    if stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}  # response.completed carries the usage
    routing: dict[str, Any] = {
        "model": body.get("model"),
        **{name: body.pop(name) for name in ROUTING_FIELDS if name in body},
    }
    request = dialect_request(routing, True)  # `models` may stand in for `model`
    echo: dict[str, Any] = {k: body[k] for k in ECHOED if body.get(k) is not None}
    echo.update(
        model=request.model, metadata=metadata, store=store is not False, previous_response_id=previous
    )
    base = {f.name: getattr(request, f.name) for f in fields(ChatRequest) if f.init}
    base.update(
        stream=bool(stream),
        native=NativeRequest(OPENAI_RESPONSES, body),
        client_names=CLIENT_NAMES,
        answer_cap=max_tokens,
        translation=partial(_translate, request.model, instructions, body.get("input"), chat, tuple(dropped)),
        echo=echo,
        previous_response_id=previous,
        store=store is not False,
    )
    responses = ResponsesRequest(**base)
    responses.untranslatable = native_only
    return responses


def _translate(
    model: str, instructions: str | None, items: Any, rest: dict[str, Any], dropped: tuple[str, ...]
) -> ResponsesTranslation:
    """The chat form of a checked request: its messages, then the `rest` read when it was parsed."""
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    input_messages = _items(items) if items is not None else []
    messages.extend(input_messages)
    if not messages:  # checked: only a request only OpenAI serves
        messages.append({"role": "user", "content": ""})  # never sent
    return ResponsesTranslation({"model": model, "messages": messages, **rest}, dropped, None, input_messages)


def with_history(request: ResponsesRequest, history: list[dict[str, Any]]) -> None:
    """Put the conversation before this turn's input (after the `instructions` system message)."""
    messages = request.body["messages"]
    at = len(messages) - len(request.input_messages)
    messages[at:at] = history
