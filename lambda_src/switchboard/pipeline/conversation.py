"""Stage: the conversation of a Responses-API request (`previous_response_id`, `store`).

`recall` runs before execution: a `previous_response_id` Switchboard keeps (this tenant's) puts the
earlier turns before this turn's input and the request is translated for every target (a provider
would not know the id); an id Switchboard does not keep is left to targets that serve the
Responses API themselves, and without one it is a 404. `remember` runs once the answer is complete
and before a JSON answer is sent: a translated answer with `store` (the API's default) is kept for
the tenant, so a follow-up works whichever provider answers it. Requests of other dialects carry
no conversation and pass through both untouched.
"""

from __future__ import annotations

import logging

from switchboard.config import Config
from switchboard.dialects.openai_responses import ResponsesRequest, output_messages, with_history
from switchboard.errors import ResponseNotFound, StoreError, StoreUnavailable
from switchboard.pipeline.context import RequestContext
from switchboard.pipeline.services import Conversations
from switchboard.providers import native_apis
from switchboard.state.keys import ANONYMOUS_TENANT
from switchboard.wire.readers import OPENAI_RESPONSES

log = logging.getLogger("switchboard")


def _tenant(ctx: RequestContext) -> str:
    return ctx.key.tenant if ctx.key is not None else ANONYMOUS_TENANT


async def recall(ctx: RequestContext, conversations: Conversations, config: Config) -> None:
    request = ctx.request
    if not isinstance(request, ResponsesRequest) or request.previous_response_id is None:
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
    if not isinstance(request, ResponsesRequest) or not request.store or ctx.passed_through:
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
