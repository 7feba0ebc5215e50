"""`GET /v1/models` and `/v1/models/{id}` for Anthropic clients (a request with `anthropic-version`
or `x-api-key`): the configured public models in Anthropic's list shape.

Shape as the anthropic SDK 2.12 types it (`ModelInfo`, `models.list()` pages; read 2026-12-07,
https://platform.claude.com/docs/en/api/models/list): `{"data": [{"type": "model", "id",
"display_name", "created_at" (RFC 3339), "lifecycle"}], "has_more", "first_id", "last_id"}`, paged
by `limit` (1-1000, default 20), `after_id` and `before_id`. Errors are Anthropic-shaped.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from switchboard.errors import GatewayError, InvalidRequest
from switchboard.wire import anthropic as wire_anthropic

if TYPE_CHECKING:
    from fastapi.responses import Response

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000


CLIENT_HEADERS: Final = ("anthropic-version", "x-api-key")
"""Headers only Anthropic clients send: such a request gets Anthropic's shapes."""


def speaks_anthropic(headers: Mapping[str, str]) -> bool:
    return any(name in headers for name in CLIENT_HEADERS)


def speaks_anthropic_raw(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """`speaks_anthropic` on ASGI headers (lower-case names), without importing the web app."""
    return any(name.decode("latin-1") in CLIENT_HEADERS for name, _ in headers)


def anthropic_model(name: str, created: int) -> dict[str, Any]:
    return {
        "type": "model",
        "id": name,
        "display_name": name,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)),
        "lifecycle": "active",
    }


def anthropic_error(exc: GatewayError) -> Response:
    from fastapi.responses import Response

    body = wire_anthropic.error_body(wire_anthropic.error_type(exc.http_status), exc.message)
    return Response(body, status_code=exc.http_status, media_type="application/json")


def anthropic_list(
    cards: Mapping[str, dict[str, Any]], query: Mapping[str, str]
) -> dict[str, Any] | Response:
    """One page of `cards` (in configuration order)."""
    raw_limit = query.get("limit", str(DEFAULT_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        return anthropic_error(
            InvalidRequest(f"'limit' must be an integer from 1 to {MAX_LIMIT}", param="limit")
        )
    limit = int(raw_limit)
    names = list(cards)
    after, before = query.get("after_id"), query.get("before_id")
    if after is not None and after in cards:
        page = names[names.index(after) + 1 :][:limit]
        more = names.index(after) + 1 + limit < len(names)
    elif before is not None and before in cards:
        start = max(0, names.index(before) - limit)
        page = names[start : names.index(before)]
        more = start > 0
    else:
        page, more = names[:limit], len(names) > limit
    return {
        "data": [cards[name] for name in page],
        "has_more": more,
        "first_id": page[0] if page else None,
        "last_id": page[-1] if page else None,
    }
