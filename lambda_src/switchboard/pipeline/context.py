"""`RequestContext`: what one request accumulates on its way through the pipeline.

Every stage reads and writes it; nothing else outlives the request. Slotted: one allocation per
request, attribute access at C speed.
"""

from __future__ import annotations

from switchboard.asgi import Receive, RequestHeaders, Send
from switchboard.config import Target
from switchboard.dialects.base import Dialect, StreamRenderer
from switchboard.dialects.request import ChatRequest
from switchboard.errors import GatewayError
from switchboard.routing.policy import RequestPlan
from switchboard.state.cache import BYPASS, Entry, Policy
from switchboard.state.keys import KeyRecord
from switchboard.state.prices import PriceTable
from switchboard.state.ratelimit import Reservation
from switchboard.telemetry.timing import Timing
from switchboard.values import Usage


class RequestContext:
    __slots__ = (
        "cache_entry",
        "cache_key",
        "cache_policy",
        "cache_state",
        "cache_too_large",
        "client_body",
        "cost_nano_usd",
        "dialect",
        "error",
        "headers",
        "key",
        "outcome",
        "passed_through",
        "plan",
        "prices",
        "raw",
        "receive",
        "renderer",
        "request",
        "request_id",
        "reservation",
        "response_complete",
        "response_started",
        "send",
        "status",
        "target",
        "timing",
        "usage",
    )

    def __init__(
        self, dialect: Dialect, headers: RequestHeaders, request_id: bytes, receive: Receive, send: Send
    ) -> None:
        self.timing = Timing()
        self.dialect = dialect
        self.headers = headers
        self.request_id = request_id
        self.receive = receive
        self.send = send
        self.key: KeyRecord | None = None
        """The caller's gateway key; None when the gateway runs open."""
        self.raw = b""
        self.request: ChatRequest | None = None
        self.plan: RequestPlan | None = None
        """The request's plan (targets, balance, deadline, price ceiling), decided once after
        `authorize` (`pipeline/plan.py`)."""
        self.reservation: Reservation | None = None
        self.cache_policy: Policy | None = None
        self.cache_key = ""
        self.cache_state = BYPASS
        self.cache_entry: Entry | None = None
        self.cache_too_large = False
        self.client_body: bytes | list[bytes] | None = None
        """What the client received (a JSON body, or a stream's body messages), when cacheable."""
        self.renderer: StreamRenderer | None = None
        """A translated stream's renderer into the client's events (it knows the final answer)."""
        self.target: Target | None = None
        self.passed_through = False
        """The target served the client's own API: its answer was relayed untouched."""
        self.usage: Usage | None = None
        """What the provider reported using for this request, read once by the adapter or the
        stream's reader (None: nothing reported). Cost, limits, usage, metrics and traces read it."""
        self.prices: PriceTable | None = None
        """The price table (set by the pipeline; None: costs are not reported)."""
        self.cost_nano_usd: int | None = None
        """A JSON answer's cost, computed before its headers went out (reused by `finish`)."""
        self.error: type[GatewayError] | None = None
        """The kind of error that ended the request (None: it did not end in a `GatewayError`). The
        class, not the exception: its traceback holds the pipeline's frame, which holds the context
        (a reference cycle per failed request)."""
        self.status = 500
        self.outcome = "internal_error"
        self.response_started = False
        """Headers have gone out: an error can no longer be an HTTP status."""
        self.response_complete = False
        """The last body message has gone out: a disconnect now cancels nothing."""

    @property
    def model(self) -> str | None:
        return self.request.model if self.request is not None else None

    @property
    def stream(self) -> bool:
        return self.request.stream if self.request is not None else False
