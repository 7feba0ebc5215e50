"""Stage: plan. Once the request is authorized, its plan is decided once (`routing.policy.RequestPlan`:
the target chain, how it is balanced, its deadline and, under a dollar budget, its price ceiling)
and every later stage reads `ctx.plan` instead of working it out again."""

from __future__ import annotations

from switchboard.config import Price, Target
from switchboard.pipeline.context import RequestContext
from switchboard.pipeline.services import Limits
from switchboard.routing.policy import Plans
from switchboard.state.prices import PriceTable
from switchboard.state.ratelimit import estimate_parts


def plan(ctx: RequestContext, plans: Plans, limits: Limits, prices: PriceTable) -> None:
    request = ctx.request
    assert request is not None
    budgeted = ctx.key is not None and limits.needs_price(ctx.key)
    price_of = None
    if budgeted:  # each target at the rates of this request's prompt-length band and service tier
        prompt, _ = estimate_parts(len(ctx.raw), request.answer_cap)
        tier = request.service_tier

        def price_of(t: Target) -> Price | None:
            return prices.for_request(t.provider, t.model, prompt, tier)

    ctx.plan = plans.plan(request, ctx.headers.session, price_of)
