"""Stage: admission. The key's request and token limits, and its dollar budgets, are taken before
any upstream call (`ctx.reservation`, settled with the real usage and cost by `finish`); over a limit
or a budget: 429 with Retry-After. An open gateway (no key) has no limits.

A dollar budget reserves the request's worst case: its estimated prompt plus its answer cap, priced
at the plan's price ceiling (the dearest input and output prices over its target chain: any target
may end up serving it)."""

from __future__ import annotations

from switchboard.pipeline.context import RequestContext
from switchboard.pipeline.services import Limits


async def admit(ctx: RequestContext, limits: Limits) -> None:
    key, request = ctx.key, ctx.request
    if key is None or request is None:
        return
    ceiling = ctx.plan.ceiling if ctx.plan is not None else None
    ctx.reservation = await limits.admit(key, len(ctx.raw), request.answer_cap, ceiling)
