"""Stage: admission. The key's request and token limits are taken before any upstream call
(`ctx.reservation`, settled with the real usage by `finish`); over a limit: 429 with Retry-After.
An open gateway (no key) has no limits."""

from __future__ import annotations

from switchboard.pipeline.context import RequestContext
from switchboard.pipeline.services import Limits


async def admit(ctx: RequestContext, limits: Limits) -> None:
    if ctx.key is None or ctx.request is None:
        return
    ctx.reservation = await limits.admit(ctx.key, len(ctx.raw), ctx.request.body)
