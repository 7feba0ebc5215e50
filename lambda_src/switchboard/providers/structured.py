"""Structured output (`response_format` json_schema / json_object) for targets whose API is not
OpenAI's: what each can guarantee, and the forced-tool form for models without a native one.

Sources (read 2026-12-07):
- Anthropic: https://platform.claude.com/docs/en/build-with-claude/structured-outputs and the
  Messages API reference (`output_config.format = {"type": "json_schema", "schema": {...}}`, as
  typed by the anthropic SDK 2.12 `OutputConfigParam` / `JSONOutputFormatParam`): generally
  available (constrained decoding) for Claude Opus 4.5 / 4.6 / 4.7, Sonnet 4.5 / 4.6, Haiku 4.5
  and later; earlier Claude models have no JSON output format.
- Bedrock Converse: https://docs.aws.amazon.com/bedrock/latest/userguide/structured-output.html and
  API_runtime_OutputConfig / OutputFormat / JsonSchemaDefinition (botocore 1.44 service model):
  `outputConfig.textFormat = {"type": "json_schema", "structure": {"jsonSchema": {"schema":
  "<the schema as a JSON string>", "name", "description"}}}`, for Claude Sonnet 4.5, Haiku 4.5,
  Opus 4.5, Opus 4.6 (and later) on bedrock-runtime.

A model with the native form gets it: the answer is text that parses against the schema. A model
without it (earlier Claude, non-Claude Bedrock models), and every `json_object` request (neither
API has an "any JSON object" mode), gets a forced tool instead: one tool, `JSON_TOOL`, whose input
schema is the requested schema (`{"type": "object"}` for json_object), with `tool_choice` forcing
it; the adapter turns that tool call back into the answer's text. The answer is then a JSON
object shaped by the schema but not enforced by constrained decoding. A request that also brings
its own tools cannot use the forced tool (the model must be free to call them): refused, naming
`response_format`.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from switchboard.errors import UpstreamUnsupported
from switchboard.providers.common import unsupported
from switchboard.state.prices import model_rules

JSON_TOOL: Final = "switchboard_json_output"
"""The forced tool's name: its call is the answer (adapters turn it back into text)."""
JSON_TOOL_DESCRIPTION: Final = "Answer with this tool: its input is the complete answer, as JSON."
_CLAUDE: Final = re.compile(r"claude-(?:(opus|sonnet|haiku)-(\d+)(?:-(\d{1,2}))?(?=-|$|@|:)|(\d)-)")
_OLD_CLAUDE: Final = re.compile(r"claude-(?:instant|v?2)")


@dataclass(frozen=True, slots=True)
class OutputFormat:
    """A JSON answer the client asked for."""

    schema: dict[str, Any] | None
    """The JSON schema (None for json_object: any JSON object)."""
    name: str = "output"
    description: str | None = None
    strict: bool | None = None


def requested(body: Mapping[str, Any], provider: str) -> OutputFormat | None:
    """The `response_format` of a chat body (None for `text` or absent); refuses anything else."""
    fmt = body.get("response_format")
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return OutputFormat(None)
    spec = fmt.get("json_schema") if isinstance(fmt, dict) else None
    if kind != "json_schema" or not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
        raise unsupported(
            provider, "response_format", "expected text, json_object or json_schema with a schema"
        )
    name = spec.get("name")
    description = spec.get("description")
    strict = spec.get("strict")
    return OutputFormat(
        spec["schema"],
        name if isinstance(name, str) and name else "output",
        description if isinstance(description, str) else None,
        strict if isinstance(strict, bool) else None,
    )


def claude_has_json_output(model: str) -> bool:
    """Whether a Claude model takes a native JSON-schema output format (4.5 and later). Model
    names that are not recognisably an earlier Claude (newer families, aliases) count as able."""
    found = _CLAUDE.search(model)
    if found is None:
        return _OLD_CLAUDE.search(model) is None
    if found.group(4) is not None:  # claude-3-..., claude-3-5-sonnet, claude-3-7-sonnet
        return False
    major, minor = int(found.group(2)), int(found.group(3) or 0)
    return (major, minor) >= (4, 5)


def is_claude(model: str) -> bool:
    return "claude" in model


def forced_tool_refusal(body: Mapping[str, Any], provider: str, model: str) -> UpstreamUnsupported | None:
    """The refusal when the forced-tool form cannot be used: the request brings its own tools, or
    the model refuses forced tool use (its rules in the price list, `state/price_list.py`)."""
    if body.get("tools"):
        return unsupported(
            provider,
            "response_format",
            f"{model!r} has no native JSON output format for this request, and with tools in it "
            "the forced-tool form would stop the model from calling them",
        )
    rules = model_rules(model.rpartition("/")[2])
    if rules is not None and "tool_choice.forced" in rules.refuses:
        return unsupported(
            provider,
            "response_format",
            f"{model!r} takes JSON output only with a schema (json_schema): the forced-tool form "
            "json_object needs is refused by the model",
        )
    return None


def forced_schema(fmt: OutputFormat) -> dict[str, Any]:
    """The forced tool's input schema: the requested one, or any object for json_object."""
    return fmt.schema if fmt.schema is not None else {"type": "object"}


# Anthropic's JSON outputs take a subset of JSON Schema: every object closed
# (`additionalProperties: false`), string `format` only from this list, `minItems` 0 or 1, and no
# other validation keywords (minimum, maxLength, pattern, ...). The anthropic SDK fits a schema to
# that before sending it (anthropic 2.12 `lib/_parse/_transform.py`, `transform_schema`, read
# 2026-12-07): unsupported keywords move into the description, where the model still reads them.
# A schema from an OpenAI-format client (pydantic `Field(ge=0)` gives `minimum`) gets the same
# treatment on its way to Claude (Anthropic API and Bedrock), or Anthropic would refuse it.
CLAUDE_STRING_FORMATS: Final = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}
)


def claude_schema(schema: Any) -> Any:
    """`schema` fitted to Claude's JSON-output subset (as the anthropic SDK fits it)."""
    if not isinstance(schema, dict):
        return schema
    rest = dict(schema)
    out: dict[str, Any] = {}
    if isinstance(rest.get("$defs"), dict):
        out["$defs"] = {name: claude_schema(item) for name, item in rest.pop("$defs").items()}
    if "$ref" in rest:
        out["$ref"] = rest.pop("$ref")
        return out
    kind = rest.pop("type", None)
    variants = {key: rest.pop(key) for key in ("anyOf", "oneOf", "allOf") if isinstance(rest.get(key), list)}
    if isinstance(rest.get("enum"), list) and rest["enum"]:
        out["enum"] = rest.pop("enum")
    if "const" in rest:
        out["const"] = rest.pop("const")
    literal = "enum" in out or "const" in out
    if variants:
        key = "allOf" if "allOf" in variants and len(variants) == 1 else "anyOf"
        out[key] = [claude_schema(v) for v in next(iter(variants.values()))]
    elif not literal and kind is not None:
        out["type"] = kind
    for key in ("description", "title"):
        if key in rest:
            out[key] = rest.pop(key)
    if kind == "object":
        properties = rest.pop("properties", {})
        out["properties"] = (
            {k: claude_schema(v) for k, v in properties.items()} if isinstance(properties, dict) else {}
        )
        rest.pop("additionalProperties", None)
        out["additionalProperties"] = False
        if "required" in rest:
            out["required"] = rest.pop("required")
    elif kind == "string" and rest.get("format") in CLAUDE_STRING_FORMATS:
        out["format"] = rest.pop("format")
    elif kind == "array":
        if "items" in rest:
            out["items"] = claude_schema(rest.pop("items"))
        if rest.get("minItems") in (0, 1):
            out["minItems"] = rest.pop("minItems")
    if rest:  # unsupported keywords: kept where the model reads them
        extra = ", ".join(f"{key}: {value}" for key, value in rest.items())
        out["description"] = (f"{out['description']}\n\n" if "description" in out else "") + "{" + extra + "}"
    return out
