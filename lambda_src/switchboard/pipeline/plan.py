"""Stage: plan. Once the request is authorized, its plan is decided once (`routing.policy.RequestPlan`:
the target chain, how it is balanced, its deadline and, under a dollar budget, its price ceiling)
and every later stage reads `ctx.plan` instead of working it out again."""

from __future__ import annotations

from switchboard.config import Config
from switchboard.pipeline.context import RequestContext
from switchboard.pipeline.services import Limits
from switchboard.routing.policy import plan_request
from switchboard.state.prices import PriceTable


def plan(ctx: RequestContext, config: Config, limits: Limits, prices: PriceTable) -> None:
    request = ctx.request
    assert request is not None
    budgeted = ctx.key is not None and limits.needs_price(ctx.key)
    price_of = (lambda t: prices.get(t.provider, t.model)) if budgeted else None
    ctx.plan = plan_request(config, request, ctx.headers.session, price_of)
