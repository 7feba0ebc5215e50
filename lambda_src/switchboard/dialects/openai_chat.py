"""The OpenAI Chat Completions dialect (`POST /v1/chat/completions`): the executor's own form, so
the body passes through (routing fields stripped) and answers need no rendering.

Asking for usage is an explicit step of this dialect: a streamed request that did not ask for the
usage chunk gets `stream_options.include_usage = true` in the upstream body (token limits and usage
accounting need the provider's count) and `strip_usage`, so the relay drops that chunk again
before the client sees it. The client's own bytes (cache key) are not touched.
"""

from __future__ import annotations

from switchboard.constants import CHAT_PATH
from switchboard.dialects.base import Dialect
from switchboard.dialects.request import ChatRequest, parse_chat_request
from switchboard.errors import GatewayError


def parse(raw: bytes) -> ChatRequest:
    request = parse_chat_request(raw)
    if request.stream:
        options = request.body.get("stream_options")
        if not (isinstance(options, dict) and options.get("include_usage")):
            request.body["stream_options"] = {**(options or {}), "include_usage": True}
            request.strip_usage = True
    return request


DIALECT = Dialect(CHAT_PATH, parse, None, GatewayError.body, None)
