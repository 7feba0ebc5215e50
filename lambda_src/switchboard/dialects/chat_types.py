"""The types of a Chat Completions body, checked once where the dialect parses it (pure).

Every translator (Anthropic, Gemini, Bedrock, the mock) reads the chat form and indexes into it:
`tool_calls[k].function.name`, `stop` as a string or a list of strings, `temperature` as a number,
a text part's `text` as a string. A value of another type there used to reach them and become a 500
(issue 16, item 4). Here it is a 400 naming the field, before any upstream call. Only the structure
the translators read is checked: fields they pass on untouched (`metadata` values, a JSON schema's
contents) and unknown fields are left to the provider.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from switchboard.errors import InvalidRequest


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# top-level field -> (check, what it must be); None is always allowed (the field's default)
_FIELDS: Final[dict[str, tuple[Callable[[Any], bool], str]]] = {
    "temperature": (_is_number, "a number"),
    "top_p": (_is_number, "a number"),
    "presence_penalty": (_is_number, "a number"),
    "frequency_penalty": (_is_number, "a number"),
    "n": (_is_int, "an integer"),
    "seed": (_is_int, "an integer"),
    "top_logprobs": (_is_int, "an integer"),
    "logprobs": (lambda v: isinstance(v, bool), "a boolean"),
    "parallel_tool_calls": (lambda v: isinstance(v, bool), "a boolean"),
    "stop": (lambda v: isinstance(v, str) or _is_str_list(v), "a string or a list of strings"),
    "user": (lambda v: isinstance(v, str), "a string"),
    "reasoning_effort": (lambda v: isinstance(v, str), "a string"),
    "service_tier": (lambda v: isinstance(v, str), "a string"),
    "metadata": (lambda v: isinstance(v, dict), "an object"),
    "logit_bias": (lambda v: isinstance(v, dict), "an object"),
    "tool_choice": (lambda v: isinstance(v, str | dict), "a string or an object"),
    "modalities": (_is_str_list, "a list of strings"),
    "tools": (lambda v: isinstance(v, list), "an array"),
    "response_format": (lambda v: isinstance(v, dict), "an object"),
}


def _bad(param: str, what: str) -> InvalidRequest:
    return InvalidRequest(f"'{param}' must be {what}", param=param)


def check_chat_types(body: Mapping[str, Any]) -> None:
    """InvalidRequest (400, naming the field) for the first value of a wrong type."""
    for name, (check, what) in _FIELDS.items():
        value = body.get(name)
        if value is not None and not check(value):
            raise _bad(name, what)
    for i, message in enumerate(body.get("messages") or ()):
        _message(message, f"messages[{i}]")
    for k, tool in enumerate(body.get("tools") or ()):
        _tool(tool, f"tools[{k}]")
    fmt = body.get("response_format")
    if fmt is not None:
        if not isinstance(fmt.get("type"), str):
            raise _bad("response_format.type", "a string")
        schema = fmt.get("json_schema")
        if schema is not None and not (
            isinstance(schema, dict) and isinstance(schema.get("schema", {}), dict)
        ):
            raise _bad("response_format.json_schema", "an object whose 'schema' is an object")


def _message(message: Mapping[str, Any], where: str) -> None:
    for name in ("name", "tool_call_id"):
        if message.get(name) is not None and not isinstance(message[name], str):
            raise _bad(f"{where}.{name}", "a string")
    content = message.get("content")
    if isinstance(content, list):
        for j, part in enumerate(content):
            _part(part, f"{where}.content[{j}]")
    elif content is not None and not isinstance(content, str):
        raise _bad(f"{where}.content", "a string, an array of content parts or null")
    calls = message.get("tool_calls")
    if calls is None:
        return
    if not isinstance(calls, list):
        raise _bad(f"{where}.tool_calls", "an array")
    for k, call in enumerate(calls):
        at = f"{where}.tool_calls[{k}]"
        if not isinstance(call, dict):
            raise _bad(at, "an object")
        for name in ("id", "type"):
            if call.get(name) is not None and not isinstance(call[name], str):
                raise _bad(f"{at}.{name}", "a string")
        function = call.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise _bad(f"{at}.function", "an object with a string 'name'")
        arguments = function.get("arguments")
        if arguments is not None and not isinstance(arguments, str | dict):
            raise _bad(f"{at}.function.arguments", "a string")


def _part(part: Any, where: str) -> None:
    if not isinstance(part, dict):
        raise _bad(where, "an object")
    kind = part.get("type")
    if kind is not None and not isinstance(kind, str):
        raise _bad(f"{where}.type", "a string")
    if kind == "text" and not isinstance(part.get("text"), str):
        raise _bad(f"{where}.text", "a string")
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str):
            raise _bad(f"{where}.image_url", "a URL string or an object with a string 'url'")


def _tool(tool: Any, where: str) -> None:
    if not isinstance(tool, dict):
        raise _bad(where, "an object")
    if tool.get("type") is not None and not isinstance(tool["type"], str):
        raise _bad(f"{where}.type", "a string")
    function = tool.get("function")
    if function is None:
        return
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise _bad(f"{where}.function", "an object with a string 'name'")
    if function.get("description") is not None and not isinstance(function["description"], str):
        raise _bad(f"{where}.function.description", "a string")
    if function.get("parameters") is not None and not isinstance(function["parameters"], dict):
        raise _bad(f"{where}.function.parameters", "an object")
