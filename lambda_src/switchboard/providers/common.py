"""Request-translation helpers shared by the adapters that turn OpenAI requests into another API's
(anthropic, gemini, bedrock). Pure functions; every refusal names the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

from switchboard.errors import UpstreamUnsupported


def unsupported(provider: str, field: str, why: str) -> UpstreamUnsupported:
    return UpstreamUnsupported(f"{provider} targets cannot serve '{field}': {why}", param=field)


def client_named(exc: UpstreamUnsupported, names: Mapping[str, str]) -> UpstreamUnsupported:
    """The refusal in the client's terms: `param` (a chat-form field, or a path in one) renamed by
    the dialect's `names`; an indexed path whose head is renamed loses its index (the client's list
    is laid out differently), e.g. `messages[3].content` -> `input` for a Responses client."""
    param = exc.param
    if not param or not names:
        return exc
    head = param.split(".", 1)[0].split("[", 1)[0]
    named = names.get(param) or names.get(head)
    if named is None or named == param:
        return exc
    message = exc.message.replace(f"'{param}'", f"'{named}'")
    return UpstreamUnsupported(message, param=named, upstream_status=exc.upstream_status)


def check_fields(
    body: Mapping[str, Any], handled: frozenset[str], dropped: frozenset[str], provider: str
) -> None:
    """Every field must be translated or dropped by a documented rule; the rest is refused."""
    for field in body:
        if field not in handled and field not in dropped:
            raise unsupported(provider, field, f"no {provider} equivalent")
    if body.get("logprobs") or body.get("top_logprobs") is not None:
        raise unsupported(provider, "logprobs", "log probabilities are not available")


def text_content(content: Any, where: str, provider: str) -> str:
    """A message's text: a string, or text (and refusal) parts joined; anything else is refused."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") not in ("text", "refusal"):
                raise unsupported(provider, where, "only text parts are allowed here")
            texts.append(str(part.get("text") or part.get("refusal") or ""))
        return "\n".join(texts)
    raise unsupported(provider, where, "content must be a string or a list of parts")


def image_url(part: Mapping[str, Any]) -> str:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    return url if isinstance(url, str) else ""


def data_url(url: str) -> tuple[str, str] | None:
    """`data:<media type>;base64,<data>` -> (media type, base64 data); None for anything else."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url.partition(",")
    media_type = header[5:].split(";", 1)[0]
    if not sep or ";base64" not in header or not media_type:
        return None
    return media_type, data


def tool_arguments(raw: Any, where: str, provider: str) -> Any:
    try:
        return orjson.loads(raw or "{}")
    except orjson.JSONDecodeError:
        raise unsupported(provider, where, "tool call arguments must be JSON") from None


# --- Thinking: `reasoning_effort` -> a thinking-token budget (Gemini `thinkingBudget`, Claude on
# Bedrock `thinking.budget_tokens`). `none` is 0: no thinking.
THINKING_BUDGETS: Final = {
    "none": 0,
    "minimal": 1024,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": 24576,
}


def thinking_budget(body: Mapping[str, Any], provider: str) -> int | None:
    """The thinking budget `reasoning_effort` asks for; None when the request sets none."""
    effort = body.get("reasoning_effort")
    if effort is None:
        return None
    if not isinstance(effort, str) or effort not in THINKING_BUDGETS:
        raise unsupported(provider, "reasoning_effort", f"expected one of {', '.join(THINKING_BUDGETS)}")
    return THINKING_BUDGETS[effort]


# --- Prompt-cache markers. The chat form carries Anthropic's `cache_control` as an extension key on
# the content part, the tool call or the tool it marks (the /v1/messages translation puts it there;
# OpenAI-format clients may too). Anthropic targets map it back, Bedrock turns it into `cachePoint`
# blocks, and every other target leaves it out.
CACHE_CONTROL: Final = "cache_control"


def marker(item: Any) -> dict[str, Any] | None:
    """The `cache_control` marker of a part / tool call / tool, if it carries one."""
    value = item.get(CACHE_CONTROL) if isinstance(item, dict) else None
    return value if isinstance(value, dict) else None


def part_marker(content: Any) -> dict[str, Any] | None:
    """The last marker among a message's content parts (string content carries none)."""
    found = None
    if isinstance(content, list):
        for part in content:
            found = marker(part) or found
    return found


def _has_marker(items: Any) -> bool:
    return isinstance(items, list) and any(isinstance(i, dict) and CACHE_CONTROL in i for i in items)


def _is_text(part: Any) -> bool:
    return isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)


def _unmarked(item: Any) -> Any:
    if isinstance(item, dict) and CACHE_CONTROL in item:
        return {k: v for k, v in item.items() if k != CACHE_CONTROL}
    return item


def strip_cache_markers(body: Mapping[str, Any]) -> dict[str, Any]:
    """`body` without `cache_control` keys on messages, content parts, tool calls and tools (for
    OpenAI-compatible servers, which do not know them)."""
    out = dict(body)
    messages = body.get("messages")
    if isinstance(messages, list):
        cleaned = []
        for message in messages:
            message = _unmarked(message)
            if isinstance(message, dict):
                content, calls = message.get("content"), message.get("tool_calls")
                if isinstance(content, list) and _has_marker(content):
                    parts = [_unmarked(p) for p in content]
                    if message.get("role") != "user" and all(_is_text(p) for p in parts):
                        # the plain string form every server takes (system, tool, assistant)
                        message = {**message, "content": "\n".join(p["text"] for p in parts)}
                    else:
                        message = {**message, "content": parts}
                if isinstance(calls, list) and _has_marker(calls):
                    message = {**message, "tool_calls": [_unmarked(c) for c in calls]}
            cleaned.append(message)
        out["messages"] = cleaned
    tools = body.get("tools")
    if isinstance(tools, list):
        out["tools"] = [_unmarked(t) for t in tools]
    return out
