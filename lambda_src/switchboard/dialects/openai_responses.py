"""The OpenAI Responses inbound endpoint (`POST /v1/responses`) for translated targets, as pure code.

A Responses request becomes an OpenAI chat request (`to_chat_request`), so it routes to any
provider; the chat answer comes back as a `response` object (`to_response`) and a chunk stream as
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
from typing import Any, Final

import orjson

from switchboard.dialects.request import (
    FORBIDDEN_FIELDS,
    ROUTING_FIELDS,
    ChatRequest,
    chat_request,
    parse_json_object,
)
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


@dataclass(slots=True)
class ResponsesRequest(ChatRequest):
    """A `ChatRequest` (what the executor runs) plus what only the Responses endpoint needs."""

    echo: dict[str, Any] = field(default_factory=dict)
    """The request parameters the response object repeats (pass to `to_response` / `ChunksToEvents`)."""
    input_messages: list[dict[str, Any]] = field(default_factory=list)
    """This turn's `input` as chat messages (without `instructions`): what the conversation keeps."""
    previous_response_id: str | None = None
    store: bool = True
    response_id: str = field(default_factory=new_id)
    """Chosen up front: the answer, its stream events and the stored conversation share it."""


def error_body(exc: GatewayError) -> bytes:
    """Responses errors are OpenAI-shaped: `{"error": {"message", "type", "param", "code"}}`."""
    return exc.body()


def _bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def _string(value: Any, where: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _bad(f"'{where}' must be a string", where)
    return value


def _flag(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise _bad(f"'{name}' must be a boolean", name)
    return value


def _number(value: Any, where: str, low: float, high: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _bad(f"'{where}' must be a number from {low:g} to {high:g}", where)
    return value


# --------------------------------------------------------------------------- input items


def _part_text(part: dict[str, Any], where: str, key: str = "text") -> str:
    return _string(part.get(key), f"{where}.{key}") or ""


def _user_part(part: Any, where: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if not isinstance(part, dict) or not isinstance(kind, str):
        raise _bad(f"'{where}' must be an object with a string 'type'", where)
    if kind in ("input_text", "output_text", "text"):
        return {"type": "text", "text": _part_text(part, where)}
    if kind == "input_image":
        if part.get("file_id") is not None:
            raise _bad(
                f"'{where}.file_id': file ids are not available here; send image_url", f"{where}.file_id"
            )
        url = _string(part.get("image_url"), f"{where}.image_url")
        image: dict[str, Any] = {"url": url}
        if part.get("detail") is not None:
            image["detail"] = _string(part["detail"], f"{where}.detail")
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        for ref in ("file_id", "file_url"):
            if part.get(ref) is not None:
                raise _bad(f"'{where}.{ref}' is not available here; send file_data", f"{where}.{ref}")
        file = {"file_data": _string(part.get("file_data"), f"{where}.file_data")}
        if part.get("filename") is not None:
            file["filename"] = _string(part["filename"], f"{where}.filename")
        return {"type": "file", "file": file}
    raise _bad(f"'{where}': content parts of type {kind!r} are not supported here", f"{where}.type")


def _texts(content: Any, where: str, kinds: tuple[str, ...], sep: str) -> str:
    """A string, or the text of a list of text-like parts (refusals included)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _bad(f"'{where}' must be a string or a list of content parts", where)
    texts = []
    for j, part in enumerate(content):
        pwhere = f"{where}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if not isinstance(part, dict) or kind not in (*kinds, "refusal"):
            raise _bad(f"'{pwhere}' must be a text part ({', '.join(kinds)})", pwhere)
        texts.append(_part_text(part, pwhere, "refusal" if kind == "refusal" else "text"))
    return sep.join(texts)


def _message(item: dict[str, Any], where: str) -> dict[str, Any]:
    role, content = item.get("role"), item.get("content")
    if role == "assistant":
        return {
            "role": "assistant",
            "content": _texts(content, f"{where}.content", ("output_text", "input_text"), ""),
        }
    if role in ("system", "developer"):
        return {"role": role, "content": _texts(content, f"{where}.content", ("input_text",), "\n")}
    if role != "user":
        raise _bad(f"'{where}.role' must be user, assistant, system or developer", f"{where}.role")
    if isinstance(content, str):
        return {"role": "user", "content": content}
    if not isinstance(content, list):
        raise _bad(f"'{where}.content' must be a string or a list of content parts", f"{where}.content")
    return {
        "role": "user",
        "content": [_user_part(p, f"{where}.content[{j}]") for j, p in enumerate(content)],
    }


def _tool_output(item: dict[str, Any], where: str) -> dict[str, Any]:
    call_id = _string(item.get("call_id"), f"{where}.call_id")
    output = item.get("output")
    text = _texts(output, f"{where}.output", ("input_text", "output_text"), "\n")
    return {"role": "tool", "tool_call_id": call_id, "content": text}


def _function_call(item: dict[str, Any], where: str) -> dict[str, Any]:
    return {
        "id": _string(item.get("call_id"), f"{where}.call_id"),
        "type": "function",
        "function": {
            "name": _string(item.get("name"), f"{where}.name"),
            "arguments": _string(item.get("arguments"), f"{where}.arguments"),
        },
    }


def _items(value: Any, where: str, dropped: list[str]) -> list[dict[str, Any]]:
    """Responses input items -> chat messages (also used for stored output items)."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise _bad(f"'{where}' must be a string or a non-empty list of items", where)
    messages: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        iwhere = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise _bad(f"'{iwhere}' must be an object", iwhere)
        kind = item.get("type", "message")
        if kind == "message":
            messages.append(_message(item, iwhere))
        elif kind == "function_call":
            last = messages[-1] if messages else None
            if last is None or last["role"] != "assistant":
                last = {"role": "assistant", "content": None}
                messages.append(last)
            last.setdefault("tool_calls", []).append(_function_call(item, iwhere))
        elif kind == "function_call_output":
            messages.append(_tool_output(item, iwhere))
        elif kind == "reasoning":
            if "input.reasoning" not in dropped:
                dropped.append("input.reasoning")
        else:
            raise _bad(f"'{iwhere}': input items of type {kind!r} are not supported here", f"{iwhere}.type")
    return messages


def output_messages(response: bytes | dict[str, Any]) -> list[dict[str, Any]]:
    """A response object's `output` as chat messages (for `ConversationStore.save`)."""
    data = orjson.loads(response) if isinstance(response, bytes) else response
    output = [i for i in data.get("output") or [] if i.get("type") in ("message", "function_call")]
    return _items(output, "output", []) if output else []


# --------------------------------------------------------------------------- tools


def _tools(body: dict[str, Any], dropped: list[str]) -> tuple[list[dict[str, Any]], set[str]]:
    """Function tools in chat form, and the names/types of the tools dropped."""
    value = body.get("tools")
    if value is None:
        return [], set()
    if not isinstance(value, list):
        raise _bad("'tools' must be a list", "tools")
    tools: list[dict[str, Any]] = []
    skipped: set[str] = set()
    for i, tool in enumerate(value):
        where = f"tools[{i}]"
        kind = tool.get("type") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or not isinstance(kind, str):
            raise _bad(f"'{where}' must be an object with a string 'type'", where)
        if kind != "function":
            skipped.add(kind)
            if isinstance(tool.get("name"), str):
                skipped.add(tool["name"])
            if f"tools.{kind}" not in dropped:
                dropped.append(f"tools.{kind}")
            continue
        function: dict[str, Any] = {"name": _string(tool.get("name"), f"{where}.name")}
        if tool.get("description") is not None:
            function["description"] = _string(tool["description"], f"{where}.description")
        if tool.get("parameters") is not None:
            if not isinstance(tool["parameters"], dict):
                raise _bad(f"'{where}.parameters' must be a JSON schema object", f"{where}.parameters")
            function["parameters"] = tool["parameters"]
        if tool.get("strict") is not None:
            if not isinstance(tool["strict"], bool):
                raise _bad(f"'{where}.strict' must be a boolean", f"{where}.strict")
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
        name = _string(choice.get("name"), "tool_choice.name")
        if name in skipped:
            raise _bad(f"'tool_choice' forces tool {name!r}, which is not available here", "tool_choice")
        if name not in names:
            raise _bad(f"'tool_choice' names function {name!r}, which is not in 'tools'", "tool_choice")
        return {"type": "function", "function": {"name": name}}, tools
    if kind == "allowed_tools":
        mode = choice.get("mode")
        allowed = choice.get("tools")
        if mode not in ("auto", "required") or not isinstance(allowed, list):
            raise _bad("'tool_choice' allowed_tools needs mode auto|required and a tools list", "tool_choice")
        keep = {t.get("name") for t in allowed if isinstance(t, dict) and t.get("type") == "function"}
        if len(keep) < len(allowed):
            raise _bad("'tool_choice' allows tools that are not available here", "tool_choice")
        return mode, [t for t in tools if t["function"]["name"] in keep]
    if isinstance(kind, str):  # a hosted / custom / mcp tool: dropped from 'tools', so refused here
        raise _bad(f"'tool_choice' forces a {kind!r} tool, which is not available here", "tool_choice")
    raise _bad("'tool_choice' must be auto, none, required or a tool object", "tool_choice")


# --------------------------------------------------------------------------- request


def _text_format(text: Any, dropped: list[str]) -> dict[str, Any] | None:
    if text is None:
        return None
    if not isinstance(text, dict):
        raise _bad("'text' must be an object", "text")
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
        raise _bad("'text.format.type' must be text, json_object or json_schema", "text.format.type")
    schema = fmt.get("schema")
    if not isinstance(schema, dict):
        raise _bad("'text.format.schema' must be a JSON schema object", "text.format.schema")
    spec: dict[str, Any] = {"name": _string(fmt.get("name"), "text.format.name"), "schema": schema}
    if fmt.get("description") is not None:
        spec["description"] = _string(fmt["description"], "text.format.description")
    if fmt.get("strict") is not None:
        if not isinstance(fmt["strict"], bool):
            raise _bad("'text.format.strict' must be a boolean", "text.format.strict")
        spec["strict"] = fmt["strict"]
    return {"type": "json_schema", "json_schema": spec}


def _reasoning(value: Any, dropped: list[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad("'reasoning' must be an object", "reasoning")
    dropped.extend(f"reasoning.{key}" for key in value if key != "effort" and value[key] is not None)
    effort = value.get("effort")
    if effort is not None and (not isinstance(effort, str) or effort not in EFFORTS):
        raise _bad(f"'reasoning.effort' must be one of {', '.join(sorted(EFFORTS))}", "reasoning.effort")
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
        raise _bad("'metadata' must map at most 16 keys (<= 64 chars) to strings (<= 512 chars)", "metadata")
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
            raise _bad("'background' must be a boolean", "background")
        native_only = native_only or "background"
    return native_only


def to_chat_request(raw: bytes) -> ResponsesRequest:
    """A Responses request body -> the chat request the executor runs (400 `InvalidRequest` naming
    the field for anything malformed). See the module docstring for what maps, drops and refuses."""
    body = parse_json_object(raw)
    dropped: list[str] = []
    native_only = _check_top_level(body, dropped)
    stream, store, parallel = (_flag(body, name) for name in ("stream", "store", "parallel_tool_calls"))
    previous = _string(body.get("previous_response_id"), "previous_response_id", optional=True)
    instructions = _string(body.get("instructions"), "instructions", optional=True)
    if "input" not in body and native_only is None:
        raise _bad("'input' is required", "input")
    input_messages = _items(body["input"], "input", dropped) if "input" in body else []

    # the body the executor sends; `model` (which `models` may stand in for) and the routing fields
    # are resolved and checked by `chat_request` once it is built
    chat: dict[str, Any] = {"model": body.get("model"), "messages": []}
    chat.update({name: body[name] for name in ROUTING_FIELDS if name in body})
    if instructions:
        chat["messages"].append({"role": "system", "content": instructions})
    chat["messages"].extend(input_messages)
    if not chat["messages"] and native_only is not None:
        chat["messages"].append({"role": "user", "content": ""})  # never sent: only OpenAI serves it
    if not chat["messages"]:
        raise _bad("'input' has nothing a model can answer (only items that are dropped)", "input")
    max_tokens = body.get("max_output_tokens")
    if max_tokens is not None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise _bad("'max_output_tokens' must be a positive integer", "max_output_tokens")
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
        raise _bad("'tool_choice' is required but no function tools are available", "tool_choice")

    if (fmt := _text_format(body.get("text"), dropped)) is not None:
        chat["response_format"] = fmt
    if (effort := _reasoning(body.get("reasoning"), dropped)) is not None:
        chat["reasoning_effort"] = effort
    user = _string(body.get("user"), "user", optional=True)
    safety = _string(body.get("safety_identifier"), "safety_identifier", optional=True)
    if user or safety:
        chat["user"] = user or safety
    metadata = _metadata(body.get("metadata"))
    if stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}  # response.completed carries the usage
    request = chat_request(chat)
    echo: dict[str, Any] = {k: body[k] for k in ECHOED if body.get(k) is not None}
    echo.update(
        model=request.model, metadata=metadata, store=store is not False, previous_response_id=previous
    )
    base = {f.name: getattr(request, f.name) for f in fields(ChatRequest) if f.init}
    base.update(
        native=NativeRequest(OPENAI_RESPONSES, {k: v for k, v in body.items() if k not in ROUTING_FIELDS}),
        client_names=CLIENT_NAMES,
        echo=echo,
        input_messages=input_messages,
        previous_response_id=previous,
        store=store is not False,
    )
    responses = ResponsesRequest(**base)
    responses.body = request.body
    responses.dropped = tuple(dropped)
    responses.untranslatable = native_only
    return responses


def with_history(request: ResponsesRequest, history: list[dict[str, Any]]) -> None:
    """Put the conversation before this turn's input (after the `instructions` system message)."""
    messages = request.body["messages"]
    at = len(messages) - len(request.input_messages)
    messages[at:at] = history
