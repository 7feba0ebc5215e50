"""The checks of a Gemini API body (generateContent, streamGenerateContent, countTokens), run when it
is parsed (pure).

They raise every 400 the translation to the chat form would (`gemini_request`), with the same
message and `param`, in the same order, so the translation can run later - only when a target that
does not serve the Gemini API needs it - and never fails: a malformed body is refused before any
upstream call, whatever the target. That includes what only the whole walk knows: a
`functionResponse` must answer an earlier `functionCall` (matched by id, else by name, oldest
first), and a body whose parts are all dropped has nothing a model can answer (unless a part only a
Gemini target serves is there: then only such a target is tried).
"""

from __future__ import annotations

from typing import Any, Final

from switchboard.errors import InvalidRequest

MODES: Final = {"AUTO": "auto", "ANY": "required", "NONE": "none", "VALIDATED": "auto"}
"""`functionCallingConfig.mode` -> the chat form's `tool_choice`."""
LEVELS: Final = {"MINIMAL": "minimal", "LOW": "low", "MEDIUM": "medium", "HIGH": "high"}
"""`thinkingConfig.thinkingLevel` -> the chat form's `reasoning_effort`."""
CONFIG_NUMBERS: Final = (
    ("temperature", 0.0, 2.0),
    ("topP", 0.0, 1.0),
    ("presencePenalty", -2.0, 2.0),
    ("frequencyPenalty", -2.0, 2.0),
)
CONFIG_INTS: Final = ("maxOutputTokens", "candidateCount", "seed")
OTHER_PART_KEYS: Final = frozenset({"thoughtSignature", "thought", "partMetadata"})
"""Keys of a part that carry nothing a translation needs (a part of only these is skipped)."""


def bad(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad(f"'{where}' must be an object", where)
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise bad(f"'{where}' must be a string", where)
    return value


def answers(calls: list[tuple[Any, str]], call_id: Any, name: str) -> int | None:
    """The index in `calls` (id, name; unanswered, oldest first) of the call a function response
    answers: by `call_id` when it has one, else by name."""
    for k, (known_id, known_name) in enumerate(calls):
        if (call_id is not None and known_id == call_id) or (call_id is None and known_name == name):
            return k
    return None


def call_id(given: Any, turn: int, index: int) -> str:
    """A function call's id: the client's, else one made from its place."""
    return given if isinstance(given, str) and given else f"call_{turn}_{index}"


class _Walk:
    """What the checks learn on the way: the unanswered calls, whether a model has anything to
    answer, whether a part only Gemini serves was seen."""

    __slots__ = ("answerable", "calls", "native_only")

    def __init__(self) -> None:
        self.calls: list[tuple[Any, str]] = []
        self.answerable = False
        self.native_only = False


def _other_part(part: dict[str, Any], walk: _Walk) -> None:
    if not set(part) <= OTHER_PART_KEYS:
        walk.native_only = True


def _user_parts(parts: list[dict[str, Any]], where: str, walk: _Walk) -> None:
    for j, part in enumerate(parts):
        pwhere = f"{where}[{j}]"
        if "text" in part:
            if not part.get("thought"):
                _str(part["text"], f"{pwhere}.text")
                walk.answerable = True
        elif "inlineData" in part:
            blob = obj(part["inlineData"], f"{pwhere}.inlineData")
            mime = _str(blob.get("mimeType"), f"{pwhere}.inlineData.mimeType")
            _str(blob.get("data"), f"{pwhere}.inlineData.data")
            if mime.startswith("image/"):
                walk.answerable = True
            else:
                walk.native_only = True
        elif "functionResponse" in part:
            fwhere = f"{pwhere}.functionResponse"
            response = obj(part["functionResponse"], fwhere)
            name = _str(response.get("name"), f"{fwhere}.name")
            k = answers(walk.calls, response.get("id"), name)
            if k is None:
                raise bad(f"'{fwhere}' answers no earlier functionCall named {name[:64]!r}", fwhere)
            walk.calls.pop(k)
            walk.answerable = True
        else:
            _other_part(part, walk)


def _model_parts(parts: list[dict[str, Any]], where: str, turn: int, walk: _Walk) -> None:
    walk.answerable = True  # a model turn is an assistant message, even an empty one
    made = 0
    for j, part in enumerate(parts):
        pwhere = f"{where}[{j}]"
        if "text" in part:
            if not part.get("thought"):
                _str(part["text"], f"{pwhere}.text")
        elif "functionCall" in part:
            call = obj(part["functionCall"], f"{pwhere}.functionCall")
            name = _str(call.get("name"), f"{pwhere}.functionCall.name")
            args = call.get("args")
            if args is not None and not isinstance(args, dict):
                raise bad(f"'{pwhere}.functionCall.args' must be an object", f"{pwhere}.functionCall.args")
            walk.calls.append((call_id(call.get("id"), turn, made), name))
            made += 1
        else:
            _other_part(part, walk)


def _contents(value: Any, walk: _Walk) -> None:
    if not isinstance(value, list) or not value:
        raise bad("'contents' is required and must be a non-empty array", "contents")
    for i, turn in enumerate(value):
        where = f"contents[{i}]"
        turn = obj(turn, where)
        role = turn.get("role", "user")
        parts = turn.get("parts")
        if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
            raise bad(f"'{where}.parts' must be an array of part objects", f"{where}.parts")
        if role == "model":
            _model_parts(parts, f"{where}.parts", i, walk)
        elif role in ("user", "function"):
            _user_parts(parts, f"{where}.parts", walk)
        else:
            raise bad(f"'{where}.role' must be 'user' or 'model'", f"{where}.role")


def _system(value: Any) -> None:
    if isinstance(value, str):
        return
    parts = obj(value, "systemInstruction").get("parts")
    if not isinstance(parts, list):
        raise bad("'systemInstruction.parts' must be an array", "systemInstruction.parts")
    for j, part in enumerate(parts):
        _str(obj(part, f"systemInstruction.parts[{j}]").get("text"), f"systemInstruction.parts[{j}].text")


def _tools(value: Any) -> None:
    if not isinstance(value, list):
        raise bad("'tools' must be an array", "tools")
    for i, tool in enumerate(value):
        declarations = obj(tool, f"tools[{i}]").get("functionDeclarations")
        if "functionDeclarations" not in tool:
            continue
        if not isinstance(declarations, list):
            raise bad(
                f"'tools[{i}].functionDeclarations' must be an array", f"tools[{i}].functionDeclarations"
            )
        for k, declaration in enumerate(declarations):
            where = f"tools[{i}].functionDeclarations[{k}]"
            declaration = obj(declaration, where)
            _str(declaration.get("name"), f"{where}.name")
            if declaration.get("description") is not None:
                _str(declaration["description"], f"{where}.description")
            if declaration.get("parametersJsonSchema") is not None:
                obj(declaration["parametersJsonSchema"], f"{where}.parametersJsonSchema")
            elif declaration.get("parameters") is not None:
                obj(declaration["parameters"], f"{where}.parameters")


def _tool_config(value: Any) -> None:
    calling = obj(value, "toolConfig").get("functionCallingConfig")
    if calling is None:
        return
    calling = obj(calling, "toolConfig.functionCallingConfig")
    mode = calling.get("mode", "AUTO")
    if not isinstance(mode, str) or mode not in MODES:
        raise bad(
            "'toolConfig.functionCallingConfig.mode' must be AUTO, ANY, NONE or VALIDATED",
            "toolConfig.functionCallingConfig.mode",
        )
    allowed = calling.get("allowedFunctionNames")
    if allowed is not None and (
        not isinstance(allowed, list) or not all(isinstance(n, str) for n in allowed)
    ):
        raise bad(
            "'toolConfig.functionCallingConfig.allowedFunctionNames' must be an array of strings",
            "toolConfig.functionCallingConfig.allowedFunctionNames",
        )


def _thinking(value: Any) -> None:
    thinking = obj(value, "generationConfig.thinkingConfig")
    budget, level = thinking.get("thinkingBudget"), thinking.get("thinkingLevel")
    if budget is not None:
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < -1:
            raise bad(
                "'generationConfig.thinkingConfig.thinkingBudget' must be an integer >= -1",
                "generationConfig.thinkingConfig.thinkingBudget",
            )
    elif level is not None and (not isinstance(level, str) or level.upper() not in LEVELS):
        raise bad(
            "'generationConfig.thinkingConfig.thinkingLevel' must be MINIMAL, LOW, MEDIUM or HIGH",
            "generationConfig.thinkingConfig.thinkingLevel",
        )


def _generation(value: Any, walk: _Walk) -> None:
    config = obj(value, "generationConfig")
    for name, low, high in CONFIG_NUMBERS:
        number = config.get(name)
        if number is not None and (
            isinstance(number, bool) or not isinstance(number, int | float) or not low <= number <= high
        ):
            raise bad(
                f"'generationConfig.{name}' must be a number from {low:g} to {high:g}",
                f"generationConfig.{name}",
            )
    for name in CONFIG_INTS:
        number = config.get(name)
        if number is not None and (
            isinstance(number, bool) or not isinstance(number, int) or (number < 1 and name != "seed")
        ):
            raise bad(f"'generationConfig.{name}' must be a positive integer", f"generationConfig.{name}")
    stop = config.get("stopSequences")
    if stop is not None and (not isinstance(stop, list) or not all(isinstance(s, str) for s in stop)):
        raise bad(
            "'generationConfig.stopSequences' must be an array of strings", "generationConfig.stopSequences"
        )
    mime, schema = config.get("responseMimeType"), config.get("responseJsonSchema")
    if schema is None and config.get("responseSchema") is not None:
        schema = obj(config["responseSchema"], "generationConfig.responseSchema")
    if schema is not None:
        obj(schema, "generationConfig.responseJsonSchema")
    elif mime not in (None, "text/plain", "application/json"):
        walk.native_only = True
    if config.get("thinkingConfig") is not None:
        _thinking(config["thinkingConfig"])


def check_generate_body(body: dict[str, Any]) -> None:
    """Raise the first 400 the body's translation would."""
    walk = _Walk()
    if body.get("systemInstruction") is not None:
        _system(body["systemInstruction"])
    _contents(body.get("contents"), walk)
    if body.get("tools") is not None:
        _tools(body["tools"])
    if body.get("toolConfig") is not None:
        _tool_config(body["toolConfig"])
    if body.get("generationConfig") is not None:
        _generation(body["generationConfig"], walk)
    if not walk.answerable and not walk.native_only and body.get("cachedContent") is None:
        raise bad("'contents' has nothing a model can answer (only parts that are dropped)", "contents")
