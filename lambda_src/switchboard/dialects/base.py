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
from typing import Protocol

from switchboard.dialects.request import ChatRequest
from switchboard.errors import GatewayError


class StreamRenderer(Protocol):
    """Per stream: OpenAI chunk body messages (as the relay sends them) -> the client's events."""

    def feed(self, body: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Dialect:
    route: str
    """The path it is served on (also part of the cache key)."""
    parse: Callable[[bytes], ChatRequest]
    """The client's body -> the executor's request; raises `InvalidRequest` (400) naming the field."""
    render: Callable[[bytes, ChatRequest], bytes] | None
    """A chat.completion body (and the parsed request) -> the client's answer body."""
    error_body: Callable[[GatewayError], bytes]
    stream_events: Callable[[ChatRequest], StreamRenderer] | None
    """The parsed request -> a per-stream translator of OpenAI chunks into the client's events."""
    billable: bool = True
    """Its requests are counted in usage (a token count generates nothing: it is not)."""
