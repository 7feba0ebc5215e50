"""Request-translation helpers shared by the adapters that turn OpenAI requests into another API's
(anthropic, gemini, bedrock). Pure functions; every refusal names the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from switchboard.errors import UpstreamUnsupported


def unsupported(provider: str, field: str, why: str) -> UpstreamUnsupported:
    return UpstreamUnsupported(f"{provider} targets cannot serve '{field}': {why}", param=field)


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
