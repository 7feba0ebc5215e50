"""Stage: the conversation of a Responses-API request (`previous_response_id`, `store`).

`recall` runs before execution: a `previous_response_id` Switchboard keeps (this tenant's) puts the
earlier turns before this turn's input and the request is translated for every target (a provider
would not know the id); an id Switchboard does not keep is left to targets that serve the
Responses API themselves, and without one it is a 404. `remember` runs once the answer is complete
and before a JSON answer is sent: a translated answer with `store` (the API's default) is kept for
the tenant, so a follow-up works whichever provider answers it; an answer an `openai` provider
stored itself (passed through) is not kept, only which provider holds its id (for this tenant), so
`GET` / `DELETE /v1/responses/{id}`, `input_items` and `cancel` reach that provider
(`stored_responses.py`). Requests of other dialects carry no conversation and pass through both
untouched.
"""

from __future__ import annotations

import logging
import re
from typing import Final

import orjson

from switchboard.asgi import Message, Send
from switchboard.config import Config
from switchboard.dialects.openai_responses import ResponsesRequest, output_messages, with_history
from switchboard.errors import ResponseNotFound, StoreError, StoreUnavailable
from switchboard.pipeline.context import RequestContext
from switchboard.pipeline.services import Conversations
from switchboard.providers import native_apis
from switchboard.state.keys import ANONYMOUS_TENANT
from switchboard.wire.readers import OPENAI_RESPONSES

log = logging.getLogger("switchboard")
_RESPONSE_ID: Final = re.compile(rb'"id"\s*:\s*"(resp_[A-Za-z0-9_-]{1,200})"')
_WATCHED_MESSAGES: Final = 8
"""A stream's id is in its first event (`response.created`): only that many body messages are read."""


def _tenant(ctx: RequestContext) -> str:
    return ctx.key.tenant if ctx.key is not None else ANONYMOUS_TENANT


def _watch_response_id(send: Send, ctx: RequestContext, conversations: Conversations) -> Send:
    """A passed-through stream's response id (the provider's) is noted as it goes out, before the
    message that carries it reaches the client (a retrieve right after can find it): the first
    `"id": "resp_..."` of the stream's first messages, `response.created`'s."""
    seen = 0

    async def watched(message: Message) -> None:
        nonlocal seen
        if seen < _WATCHED_MESSAGES and message["type"] == "http.response.body" and ctx.passed_through:
            seen += 1
            if found := _RESPONSE_ID.search(message.get("body", b"")):
                seen = _WATCHED_MESSAGES
                await _note_origin(ctx, conversations, found.group(1).decode())
        await send(message)

    return watched


async def recall(ctx: RequestContext, conversations: Conversations, config: Config) -> None:
    request = ctx.request
    if not isinstance(request, ResponsesRequest):
        return
    if request.stream and request.store:
        ctx.send = _watch_response_id(ctx.send, ctx, conversations)
    if request.previous_response_id is None:
        return
    try:
        history = await conversations.load_history(_tenant(ctx), request.previous_response_id)
    except StoreError:
        raise StoreUnavailable("stored conversations are unavailable; try again") from None
    if history is not None:
        with_history(request, history)
        request.native = None  # Switchboard's own id: no provider knows it
        return
    targets = ctx.plan.targets if ctx.plan is not None else ()
    if not any(OPENAI_RESPONSES in native_apis(config.providers[t.provider]) for t in targets):
        raise ResponseNotFound(
            f"no stored response {request.previous_response_id[:80]!r}", param="previous_response_id"
        )
    request.untranslatable = "previous_response_id"  # only a provider that stored it can continue


async def remember(ctx: RequestContext, conversations: Conversations, content: bytes | None = None) -> None:
    """Keep a translated answer: `content` is the JSON response object; for a stream, the renderer
    built the final one."""
    request = ctx.request
    if not isinstance(request, ResponsesRequest) or not request.store:
        return
    if ctx.passed_through:  # a stream's id is noted as it goes out (`_watch_response_id`)
        if content is not None:
            await _note_origin(ctx, conversations, _answer_id(content))
        return
    response = content
    if response is None:
        renderer = ctx.renderer
        final = getattr(renderer, "response", None)
        if final is None or getattr(renderer, "outcome", None) not in ("completed", "incomplete"):
            return
        response = final
    try:
        kept = await conversations.save(
            _tenant(ctx), request.response_id, request.input_messages, output_messages(response), response
        )
    except StoreError:
        log.warning("response %s not stored: the store is unavailable", request.response_id)
        return
    if not kept:
        log.warning("response %s not stored: too large for the store", request.response_id)


def _answer_id(content: bytes) -> str | None:
    try:
        parsed = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    found = parsed.get("id") if isinstance(parsed, dict) else None
    return found if isinstance(found, str) else None


async def _note_origin(ctx: RequestContext, conversations: Conversations, response_id: str | None) -> None:
    """Remember which provider stored a passed-through answer (its own id) for this tenant."""
    if response_id is None or ctx.target is None:
        return
    try:
        await conversations.remember_origin(_tenant(ctx), response_id, ctx.target.provider)
    except StoreError:
        log.warning("response %s: its provider not noted: the store is unavailable", response_id[:80])
