"""The checks of an Anthropic Messages body (`POST /v1/messages`), run when it is parsed (pure).

They raise every 400 the translation to the chat form would (`anthropic_request`), with the same
message and `param`, in the same order, so the translation can run later - only when a target that
does not serve the Messages API needs it - and never fails: a malformed body is refused before any
upstream call, whatever the target. What is checked is only the structure the translation reads;
fields passed on untouched (a tool's JSON schema, `cache_control` markers) and unknown fields and
block types are left to the provider (the translation drops them or marks the request
untranslatable).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeGuard

from switchboard.errors import InvalidRequest

EFFORTS: Final = ("low", "medium", "high", "xhigh", "max")
TOOL_CHOICES: Final = ("auto", "any", "none", "tool")


def _bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def required(body: dict[str, Any]) -> None:
    model, max_tokens, messages = body.get("model"), body.get("max_tokens"), body.get("messages")
    if not isinstance(model, str) or not model:
        raise _bad("'model' is required and must be a string", "model")
    if not _is_int(max_tokens) or max_tokens < 1:
        raise _bad("'max_tokens' is required and must be a positive integer", "max_tokens")
    if not isinstance(messages, list) or not messages:
        raise _bad("'messages' is required and must be a non-empty array", "messages")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _bad("'stream' must be a boolean", "stream")


# --------------------------------------------------------------------------- content blocks


def _text(block: dict[str, Any], where: str) -> bool:
    if not isinstance(block.get("text"), str):
        raise _bad(f"'{where}.text' must be a string", f"{where}.text")
    return True


def _blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(content, list) or not all(isinstance(b, dict) for b in content):
        raise _bad(f"'{where}' must be a string or a list of content blocks", where)
    for j, block in enumerate(content):
        if not isinstance(block.get("type"), str):
            raise _bad(f"'{where}[{j}].type' must be a string", f"{where}[{j}].type")
    return content


def _source(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source")
    if not isinstance(source, dict) or not isinstance(source.get("type"), str):
        raise _bad(f"'{where}.source' must be an object with a 'type'", f"{where}.source")
    return source


def image_translates(source: dict[str, Any]) -> bool:
    """An image source the chat form can carry (base64 data, or a URL)."""
    return source["type"] == "base64" or (source["type"] == "url" and isinstance(source.get("url"), str))


def document_translates(source: dict[str, Any]) -> bool:
    """A document source the chat form can carry (base64 data as a file, or plain text)."""
    return source["type"] in ("base64", "text") and isinstance(source.get("data"), str)


def _image(block: dict[str, Any], where: str) -> bool:
    source = _source(block, where)
    if source["type"] == "base64" and not (
        isinstance(source.get("media_type"), str) and isinstance(source.get("data"), str)
    ):
        raise _bad(f"'{where}.source' needs string media_type and data", f"{where}.source")
    return image_translates(source)


def _document(block: dict[str, Any], where: str) -> bool:
    return document_translates(_source(block, where))


def _tool_use(block: dict[str, Any], where: str) -> bool:
    if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
        raise _bad(f"'{where}' needs string 'id' and 'name'", where)
    if not isinstance(block.get("input", {}), dict):
        raise _bad(f"'{where}.input' must be an object", f"{where}.input")
    return False  # a tool call, not a part: the assistant turn carries it


def _tool_result(block: dict[str, Any], where: str) -> bool:
    if not isinstance(block.get("tool_use_id"), str):
        raise _bad(f"'{where}.tool_use_id' must be a string", f"{where}.tool_use_id")
    result = block.get("content")
    if result is not None and not isinstance(result, str):
        for k, item in enumerate(_blocks(result, f"{where}.content")):
            if item["type"] == "text":
                _text(item, f"{where}.content[{k}]")
    return True  # a `tool` message


def _nothing(block: dict[str, Any], where: str) -> bool:
    return False


_Check = Callable[[dict[str, Any], str], bool]
# (block type, role) -> its check, which says whether the block becomes a chat message part (or
# message); a type absent here is untranslatable and becomes an empty text part.
BLOCKS: Final[dict[tuple[str, str], _Check]] = {
    **{("text", role): _text for role in ("user", "assistant")},
    **{("image", role): _image for role in ("user", "assistant")},
    **{("document", role): _document for role in ("user", "assistant")},
    ("tool_use", "assistant"): _tool_use,
    ("tool_result", "user"): _tool_result,
    ("thinking", "assistant"): _nothing,
    ("redacted_thinking", "assistant"): _nothing,
}


def _turn(message: Any, i: int) -> bool:
    """Whether the turn becomes at least one chat message."""
    where = f"messages[{i}]"
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        raise _bad(f"'{where}.role' must be a string", f"{where}.role")
    role, content = message["role"], message.get("content")
    if role == "system":  # mid-conversation system turns (Claude Code sends them)
        if not isinstance(content, str):
            _system(content)
        return True
    if role not in ("user", "assistant"):
        return False
    if isinstance(content, str):
        return True
    parts = False
    for j, block in enumerate(_blocks(content, f"{where}.content")):
        check = BLOCKS.get((block["type"], role))
        part = True if check is None else check(block, f"{where}.content[{j}]")
        parts = parts or part
    return parts or role == "assistant"  # an assistant turn is a message, even an empty one


def _system(system: Any) -> None:
    if isinstance(system, str):
        return
    for j, block in enumerate(_blocks(system, "system")):
        if block["type"] != "text":
            raise _bad(f"'system[{j}]' must be a text block", f"system[{j}]")
        _text(block, f"system[{j}]")


# --------------------------------------------------------------------------- other fields


def _sampling(body: dict[str, Any]) -> None:
    for name, high in (("temperature", 2), ("top_p", 1)):
        value = body.get(name)
        if value is not None and (not _is_number(value) or not 0 <= value <= high):
            raise _bad(f"'{name}' must be a number in range", name)
    stops = body.get("stop_sequences")
    if stops is not None and (not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)):
        raise _bad("'stop_sequences' must be a list of strings", "stop_sequences")


def custom_tool(tool: dict[str, Any]) -> bool:
    """A tool the client runs (the rest are server tools Anthropic runs itself: dropped)."""
    return tool.get("type") in (None, "custom")


def _tools(tools: Any) -> None:
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise _bad("'tools' must be a list of tool objects", "tools")
    for j, tool in enumerate(tools):
        if not custom_tool(tool):
            continue
        if not isinstance(tool.get("name"), str) or not isinstance(tool.get("input_schema", {}), dict):
            raise _bad(f"'tools[{j}]' needs a string 'name' and an object 'input_schema'", f"tools[{j}]")
        if not isinstance(tool.get("description", ""), str):
            raise _bad(f"'tools[{j}].description' must be a string", f"tools[{j}].description")


def _tool_choice(choice: Any) -> None:
    if not isinstance(choice, dict) or choice.get("type") not in TOOL_CHOICES:
        raise _bad("'tool_choice' must be an object with type auto, any, tool or none", "tool_choice")
    if choice["type"] == "tool" and (not isinstance(choice.get("name"), str) or not choice["name"]):
        raise _bad("'tool_choice.name' must be a string", "tool_choice.name")
    parallel = choice.get("disable_parallel_tool_use")
    if parallel is not None and not isinstance(parallel, bool):
        raise _bad("'tool_choice.disable_parallel_tool_use' must be a boolean", "tool_choice")


def _metadata(metadata: Any) -> None:
    if not isinstance(metadata, dict):
        raise _bad("'metadata' must be an object", "metadata")
    user = metadata.get("user_id")
    if user is not None and not isinstance(user, str):
        raise _bad("'metadata.user_id' must be a string", "metadata.user_id")


def _thinking(thinking: Any) -> None:
    if not isinstance(thinking, dict) or not isinstance(thinking.get("type"), str):
        raise _bad("'thinking' must be an object with a 'type'", "thinking")
    budget = thinking.get("budget_tokens")
    if thinking["type"] == "enabled" and (not _is_int(budget) or budget < 1):
        raise _bad("'thinking.budget_tokens' must be a positive integer", "thinking.budget_tokens")


def _json_format(fmt: Any, where: str) -> None:
    if (
        not isinstance(fmt, dict)
        or fmt.get("type") != "json_schema"
        or not isinstance(fmt.get("schema"), dict)
    ):
        raise _bad(f"'{where}' must be an object with type 'json_schema' and an object 'schema'", where)


def _output_format(fmt: Any) -> None:
    _json_format(fmt, "output_format")


def _output_config(config: Any) -> None:
    if not isinstance(config, dict):
        raise _bad("'output_config' must be an object", "output_config")
    if config.get("format") is not None:
        _json_format(config["format"], "output_config.format")
    effort = config.get("effort")
    if effort is not None and effort not in EFFORTS:
        raise _bad(f"'output_config.effort' must be one of {', '.join(EFFORTS)}", "output_config.effort")


# top-level field -> its check, run when the field is present and not null, in this order (the
# translation's: the first problem found is the one named)
FIELDS: Final[tuple[tuple[str, Callable[[Any], None]], ...]] = (
    ("tools", _tools),
    ("tool_choice", _tool_choice),
    ("metadata", _metadata),
    ("thinking", _thinking),
    ("output_format", _output_format),  # the structured-outputs beta's field, still accepted
    ("output_config", _output_config),
)


def check_messages_body(body: dict[str, Any]) -> bool:
    """Raise the first 400 the body's translation would; return whether the translation has a
    message (the chat form's `messages` must not be empty). `required` has passed."""
    has_message = body.get("system") is not None
    if has_message:
        _system(body["system"])
    for i, message in enumerate(body["messages"]):
        has_message = _turn(message, i) or has_message
    _sampling(body)
    for name, check in FIELDS:
        if body.get(name) is not None:
            check(body[name])
    return has_message
