"""The dialect contract: one wire format a client speaks, plugged into the pipeline as data.

A dialect parses the client's body into the executor's form (OpenAI Chat Completions, as a
`ChatRequest`), renders a complete answer back into its own form, translates a relayed chunk
stream into its own events, and shapes errors. The pipeline never branches on which dialect it
serves: an absent step (`render`, `stream_events` = None) means the client speaks the executor's
form already.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from switchboard.dialects.request import ChatRequest
from switchboard.errors import GatewayError


@dataclass(frozen=True, slots=True)
class Dialect:
    route: str
    """The path it is served on (also part of the cache key)."""
    parse: Callable[[bytes], ChatRequest]
    """The client's body -> the executor's request; raises `InvalidRequest` (400) naming the field."""
    render: Callable[[bytes], bytes] | None
    """A chat.completion body -> the client's answer body."""
    error_body: Callable[[GatewayError], bytes]
    stream_events: Callable[[str], Callable[[bytes], bytes]] | None
    """model -> a per-stream translator of OpenAI chunk body messages into the client's events."""
