"""The checks of a Responses API `input` (and of a response's `output` items), run when the request
is parsed (pure).

They raise every 400 turning the items into chat messages would (`openai_responses._items`), with
the same message and `param`, so that translation can run later - only when a target that does not
serve the Responses API needs it - and never fails. Input is most of a long conversation's body:
passed through to an `openai` target, it is checked and never converted.
"""

from __future__ import annotations

from typing import Any

from switchboard.errors import InvalidRequest

TEXT_PARTS = ("input_text", "output_text", "text")


def bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def string(value: Any, where: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise bad(f"'{where}' must be a string", where)
    return value


def _user_part(part: Any, where: str) -> None:
    kind = part.get("type") if isinstance(part, dict) else None
    if not isinstance(part, dict) or not isinstance(kind, str):
        raise bad(f"'{where}' must be an object with a string 'type'", where)
    if kind in TEXT_PARTS:
        string(part.get("text"), f"{where}.text")
    elif kind == "input_image":
        if part.get("file_id") is not None:
            raise bad(
                f"'{where}.file_id': file ids are not available here; send image_url", f"{where}.file_id"
            )
        string(part.get("image_url"), f"{where}.image_url")
        string(part.get("detail"), f"{where}.detail", optional=True)
    elif kind == "input_file":
        for ref in ("file_id", "file_url"):
            if part.get(ref) is not None:
                raise bad(f"'{where}.{ref}' is not available here; send file_data", f"{where}.{ref}")
        string(part.get("file_data"), f"{where}.file_data")
        string(part.get("filename"), f"{where}.filename", optional=True)
    else:
        raise bad(f"'{where}': content parts of type {kind!r} are not supported here", f"{where}.type")


def texts(content: Any, where: str, kinds: tuple[str, ...]) -> None:
    """A string, or a list of text-like parts (refusals included)."""
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise bad(f"'{where}' must be a string or a list of content parts", where)
    for j, part in enumerate(content):
        pwhere = f"{where}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if not isinstance(part, dict) or kind not in (*kinds, "refusal"):
            raise bad(f"'{pwhere}' must be a text part ({', '.join(kinds)})", pwhere)
        key = "refusal" if kind == "refusal" else "text"
        string(part.get(key), f"{pwhere}.{key}")


ASSISTANT_TEXTS = ("output_text", "input_text")
SYSTEM_TEXTS = ("input_text",)
OUTPUT_TEXTS = ("input_text", "output_text")


def _message(item: dict[str, Any], where: str) -> None:
    role, content = item.get("role"), item.get("content")
    if role == "assistant":
        texts(content, f"{where}.content", ASSISTANT_TEXTS)
    elif role in ("system", "developer"):
        texts(content, f"{where}.content", SYSTEM_TEXTS)
    elif role != "user":
        raise bad(f"'{where}.role' must be user, assistant, system or developer", f"{where}.role")
    elif not isinstance(content, str):
        if not isinstance(content, list):
            raise bad(f"'{where}.content' must be a string or a list of content parts", f"{where}.content")
        for j, part in enumerate(content):
            _user_part(part, f"{where}.content[{j}]")


def check_items(value: Any, where: str, dropped: list[str]) -> bool:
    """Raise the first 400 converting the items would; name what converting drops (`reasoning`
    items); return whether they become at least one chat message."""
    if isinstance(value, str):
        return True
    if not isinstance(value, list) or not value:
        raise bad(f"'{where}' must be a string or a non-empty list of items", where)
    messages = False
    for i, item in enumerate(value):
        iwhere = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise bad(f"'{iwhere}' must be an object", iwhere)
        kind = item.get("type", "message")
        if kind == "message":
            _message(item, iwhere)
        elif kind == "function_call":
            for name in ("call_id", "name", "arguments"):
                string(item.get(name), f"{iwhere}.{name}")
        elif kind == "function_call_output":
            string(item.get("call_id"), f"{iwhere}.call_id")
            texts(item.get("output"), f"{iwhere}.output", OUTPUT_TEXTS)
        elif kind == "reasoning":
            if "input.reasoning" not in dropped:
                dropped.append("input.reasoning")
            continue
        else:
            raise bad(f"'{iwhere}': input items of type {kind!r} are not supported here", f"{iwhere}.type")
        messages = True
    return messages
