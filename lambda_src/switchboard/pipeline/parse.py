"""Stage: read and parse. The body is read under the size cap and parsed by the route's dialect
into the executor's form (`ctx.request`); nothing reaches a provider from a body that fails here
(400 / 413 / 415 naming the problem, in the dialect's error shape). A gzip or deflate body is
decoded first (`encoding.py`)."""

from __future__ import annotations

from dataclasses import replace

from switchboard.asgi import json_content_type, read_body
from switchboard.encoding import decode_body
from switchboard.errors import UnsupportedMedia
from switchboard.pipeline.context import RequestContext


async def read_request(ctx: RequestContext, max_body_bytes: int) -> None:
    content_type = ctx.headers.content_type
    if content_type is not None and not json_content_type(content_type):
        raise UnsupportedMedia("Content-Type must be application/json")
    ctx.raw = await read_body(ctx.receive, max_body_bytes, ctx.headers.content_length)
    if ctx.headers.content_encoding is not None:
        ctx.raw = decode_body(ctx.raw, ctx.headers.content_encoding, max_body_bytes)
    request = ctx.request = ctx.dialect.parse(ctx.raw)
    if request.native is not None and ctx.headers.forward:
        request.native = replace(request.native, headers=ctx.headers.forward)
