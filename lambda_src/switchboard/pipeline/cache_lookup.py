"""Stage: the response cache. What the request asked of it (`Cache-Control` or the key's default
TTL) -> `ctx.cache_policy`; a live entry -> `ctx.cache_entry` (served without a provider call).
The key covers the tenant, the route, the stream flag and the client's whole body."""

from __future__ import annotations

from switchboard.pipeline.context import RequestContext
from switchboard.pipeline.services import Cache
from switchboard.state.cache import BYPASS, cache_key
from switchboard.state.keys import ANONYMOUS_TENANT


async def lookup_cache(ctx: RequestContext, cache: Cache) -> None:
    key = ctx.key
    policy = cache.policy(ctx.headers.cache_control, key.cache_ttl if key is not None else None)
    if policy is None:
        return
    ctx.cache_key = cache_key(
        key.tenant if key is not None else ANONYMOUS_TENANT, ctx.dialect.route, ctx.stream, ctx.raw
    )
    ctx.cache_entry, ctx.cache_state = await cache.lookup(ctx.cache_key, policy)
    if ctx.cache_state != BYPASS:  # a store fault degrades to bypass: then nothing is kept either
        ctx.cache_policy = policy
