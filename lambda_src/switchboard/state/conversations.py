"""Stored responses for `POST /v1/responses` on translated targets (`store`, `previous_response_id`).

When the target is not OpenAI's own Responses API, Switchboard keeps the conversation itself: one
store item per response, holding that turn's input and output as chat messages (the executor's
form), the response object (for `GET /v1/responses/{id}`) and the id of the response it followed.
`load_history` walks that parent chain (at most `max_depth` links) and returns the whole
conversation, oldest first, ready to go before the new turn's input.

Items are per tenant: `pk = RESP#<tenant>#<response id>` (ids never contain `#`, so keys cannot
collide across tenants), `sk = V1`. A response an `openai` provider stored itself (passed through)
is not kept here; only which provider holds it (`sk = ORIGIN`, the same 30 days), so retrieve,
delete, input_items and cancel can be sent to that provider for this tenant only. Another tenant's
id, an expired one, a malformed one, or one whose chain has a missing link is simply not found
(None: the caller answers 404). A child never outlives its parent: its expiry is capped at the
parent's, so a conversation expires whole.

Payloads over `COMPRESS_OVER` bytes are zlib-compressed (base64 text, which every backend stores);
an encoding larger than `max_item_bytes` (DynamoDB's item limit is 400 KB) is not stored and `save`
returns False, for the caller to report. Backend failures raise `StoreError`, as everywhere.
"""

from __future__ import annotations

import base64
import re
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import orjson

from switchboard.errors import InvalidRequest
from switchboard.state.store.base import Store

SK: Final = "V1"
ORIGIN_SK: Final = "ORIGIN"
"""Beside a response OpenAI stored itself (a passed-through answer): which provider holds it."""
DEFAULT_TTL_S: Final = 30 * 86_400  # what OpenAI keeps a stored response for
DEFAULT_MAX_DEPTH: Final = 100
DEFAULT_MAX_ITEM_BYTES: Final = 350_000
COMPRESS_OVER: Final = 2048
_ID: Final = re.compile(r"resp_[A-Za-z0-9_-]{1,200}")

Message = dict[str, Any]


class ConversationStore:
    def __init__(
        self,
        store: Store,
        *,
        ttl_s: int = DEFAULT_TTL_S,
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_item_bytes: int = DEFAULT_MAX_ITEM_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._max_depth = max_depth
        self._max_item_bytes = max_item_bytes
        self._clock = clock

    @staticmethod
    def _pk(tenant: str, response_id: str) -> str | None:
        return f"RESP#{tenant}#{response_id}" if _ID.fullmatch(response_id) else None

    async def _read(self, tenant: str, response_id: str) -> tuple[dict[str, Any], Any] | None:
        """The decoded payload and the item's expiry, or None when not found (or unreadable)."""
        pk = self._pk(tenant, response_id)
        item = await self._store.get(pk, SK) if pk is not None else None
        if item is None:
            return None
        try:
            raw = zlib.decompress(base64.b64decode(item["z"])) if "z" in item else str(item["j"]).encode()
            payload = orjson.loads(raw)
        except (KeyError, ValueError, zlib.error):
            return None
        return (payload, item.get("expires_at")) if isinstance(payload, dict) else None

    async def save(
        self,
        tenant: str,
        response_id: str,
        input_messages: Sequence[Message],
        output_messages: Sequence[Message],
        response_json: bytes | Mapping[str, Any],
        *,
        parent: str | None = None,
    ) -> bool:
        """Keep one turn. `parent` defaults to the response's `previous_response_id`. False when the
        encoded item is too large to store (nothing is written)."""
        response = orjson.loads(response_json) if isinstance(response_json, bytes) else dict(response_json)
        pk = self._pk(tenant, response_id)
        if pk is None:
            raise ValueError(f"not a response id: {response_id[:80]!r}")
        if parent is None and isinstance(response.get("previous_response_id"), str):
            parent = response["previous_response_id"]
        expires_at = int(self._clock() + self._ttl_s)
        found = await self._read(tenant, parent) if parent is not None else None
        if found is not None and found[1] is not None:
            expires_at = min(expires_at, int(found[1]))
        payload = orjson.dumps(
            {
                "parent": parent,
                "input": list(input_messages),
                "output": list(output_messages),
                "response": response,
            }
        )
        if len(payload) > COMPRESS_OVER:
            attributes = {"z": base64.b64encode(zlib.compress(payload, 6)).decode()}
        else:
            attributes = {"j": payload.decode()}
        size = len(pk) + len(SK) + sum(len(k) + len(v) for k, v in attributes.items()) + 64
        if size > self._max_item_bytes:
            return False
        await self._store.put(pk, SK, attributes, expires_at=expires_at)
        return True

    async def load_history(self, tenant: str, previous_response_id: str) -> list[Message] | None:
        """Every earlier turn's input and output messages, oldest first; None when the response (or
        a link of its chain) is not found for this tenant. A chain longer than `max_depth` is a 400."""
        turns: list[dict[str, Any]] = []
        next_id: Any = previous_response_id
        while isinstance(next_id, str):
            if len(turns) == self._max_depth:
                raise InvalidRequest(
                    f"the conversation is longer than {self._max_depth} stored responses",
                    param="previous_response_id",
                    code="conversation_too_long",
                )
            found = await self._read(tenant, next_id)
            if found is None:
                return None
            turns.append(found[0])
            next_id = found[0].get("parent")
        history: list[Message] = []
        for turn in reversed(turns):
            history += turn.get("input") or []
            history += turn.get("output") or []
        return history

    async def input_messages(self, tenant: str, response_id: str) -> list[Message] | None:
        """The stored turn's input (chat messages), or None."""
        found = await self._read(tenant, response_id)
        return list(found[0].get("input") or []) if found is not None else None

    async def remember_origin(self, tenant: str, response_id: str, provider: str) -> None:
        """Note that `provider` stored `response_id` for this tenant (ids it invents that do not
        look like response ids are not noted)."""
        pk = self._pk(tenant, response_id)
        if pk is not None:
            expires_at = int(self._clock() + self._ttl_s)
            await self._store.put(pk, ORIGIN_SK, {"provider": provider}, expires_at=expires_at)

    async def origin(self, tenant: str, response_id: str) -> str | None:
        """The provider that stored `response_id` for this tenant, or None."""
        pk = self._pk(tenant, response_id)
        item = await self._store.get(pk, ORIGIN_SK) if pk is not None else None
        provider = item.get("provider") if item is not None else None
        return provider if isinstance(provider, str) else None

    async def forget_origin(self, tenant: str, response_id: str) -> None:
        pk = self._pk(tenant, response_id)
        if pk is not None:
            await self._store.delete(pk, ORIGIN_SK)

    async def get(self, tenant: str, response_id: str) -> bytes | None:
        """The stored response object (JSON), or None."""
        found = await self._read(tenant, response_id)
        return orjson.dumps(found[0].get("response")) if found is not None else None

    async def delete(self, tenant: str, response_id: str) -> bool:
        """Remove one stored response; False when there was none for this tenant. Later responses
        that continued from it lose their history (their chain is broken: not found)."""
        pk = self._pk(tenant, response_id)
        if pk is None or await self._store.get(pk, SK) is None:
            return False
        await self._store.delete(pk, SK)
        return True
