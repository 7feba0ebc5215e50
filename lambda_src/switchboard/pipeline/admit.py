"""Stage: admission. The key's request and token limits, and its dollar budgets, are taken before
any upstream call (`ctx.reservation`, settled with the real usage and cost by `finish`); over a limit
or a budget: 429 with Retry-After. An open gateway (no key) has no limits.

A dollar budget reserves the request's worst case: its estimated prompt plus its answer cap, priced
at the dearest input and output prices over its target chain (any target may end up serving it)."""

from __future__ import annotations

from switchboard.config import Config, Price
from switchboard.dialects.request import ChatRequest
from switchboard.pipeline.context import RequestContext
from switchboard.pipeline.services import Limits
from switchboard.routing.policy import plan_targets
from switchboard.state.prices import FREE, PriceTable


async def admit(
    ctx: RequestContext, limits: Limits, config: Config | None = None, prices: PriceTable | None = None
) -> None:
    key, request = ctx.key, ctx.request
    if key is None or request is None:
        return
    price = None
    if config is not None and prices is not None and limits.needs_price(key):
        price = dearest(config, prices, request)
    ctx.reservation = await limits.admit(key, len(ctx.raw), request.body, price)


def dearest(config: Config, prices: PriceTable, request: ChatRequest) -> Price:
    """A price no target of the request's chain exceeds: per token, the dearest input price (a
    cache write included) and the dearest output price over the chain."""
    found = [prices.get(t.provider, t.model) or FREE for t in plan_targets(config, request)]
    return Price(
        prompt=max((max(p.prompt, p.cached or 0.0, p.cache_write or 0.0) for p in found), default=0.0),
        completion=max((p.completion for p in found), default=0.0),
    )
