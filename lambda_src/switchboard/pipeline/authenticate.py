"""Stage: who is calling. The presented gateway key -> `ctx.key` (None when the gateway runs open);
after parsing, whether that key may use the requested models. Raises 401 / 403 / 503."""

from __future__ import annotations

from switchboard.pipeline.context import RequestContext
from switchboard.pipeline.services import Auth


async def authenticate(ctx: RequestContext, auth: Auth) -> None:
    ctx.key = await auth.authenticate(ctx.headers.token)


def authorize(ctx: RequestContext, auth: Auth) -> None:
    request = ctx.request
    assert request is not None
    auth.authorize(ctx.key, request.models or (request.model,))
