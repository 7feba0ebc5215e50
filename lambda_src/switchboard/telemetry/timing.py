"""Per-request timing: what the gateway added (overhead), what providers took (upstream) and what
it deliberately waited (backoff before a retry, an honoured Retry-After).

upstream = time spent waiting on providers, summed over every attempt;
backoff  = time slept between attempts (a routing decision, not gateway cost);
overhead = total time inside the gateway - upstream - backoff.

Owns the timing headers and the final `: switchboard-timing {...}` summary; it does not decide
when they are sent. A stream's summary also carries its cost (`cost_usd`, a decimal string; null
when the provider reported no usage or the target has no price) once `cost_of` is set: the usage
is read from `metered.usage` (the relay's stream reader) when the summary is written.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import Protocol

import orjson

from switchboard.constants import (
    H_ATTEMPTS,
    H_BACKOFF,
    H_OVERHEAD,
    H_SERVER_TIMING,
    H_UPSTREAM,
    SSE_TIMING_PREFIX,
)
from switchboard.telemetry.tracing import NO_SPAN, NoSpan
from switchboard.values import Usage, format_usd


class Metered(Protocol):
    """What reports a stream's usage (a stream reader)."""

    usage: Usage | None


class Measured:
    """A fixed usage (a replayed cache hit: nothing used)."""

    __slots__ = ("usage",)

    def __init__(self, usage: Usage | None) -> None:
        self.usage = usage


class Timing:
    __slots__ = (
        "attempts",
        "backoff",
        "chunks",
        "cost_of",
        "first_token",
        "metered",
        "span",
        "start",
        "upstream",
    )

    def __init__(self, start: float | None = None) -> None:
        self.start = perf_counter() if start is None else start
        self.upstream = 0.0
        self.backoff = 0.0
        self.attempts = 0
        self.first_token: float | None = None
        self.chunks = 0
        self.cost_of: Callable[[Usage], int | None] | None = None
        """What a usage costs at the serving target (nano-USD; None: unpriced), set for streams:
        the summary then carries the cost."""
        self.metered: Metered | None = None
        self.span: NoSpan = NO_SPAN
        """The request's trace span (`NO_SPAN` when tracing is off): the executor's attempts are its
        children."""

    def total_ms(self, now: float) -> float:
        return (now - self.start) * 1000.0

    def upstream_ms(self) -> float:
        return self.upstream * 1000.0

    def overhead_ms(self, now: float) -> float:
        return max(0.0, (now - self.start - self.upstream - self.backoff) * 1000.0)

    def ttft_ms(self) -> float | None:
        return None if self.first_token is None else (self.first_token - self.start) * 1000.0

    def headers(self, now: float) -> list[tuple[bytes, bytes]]:
        overhead = self.overhead_ms(now)
        upstream = self.upstream * 1000.0
        if self.backoff:
            backoff = self.backoff * 1000.0
            return [
                (H_OVERHEAD, b"%.3f" % overhead),
                (H_UPSTREAM, b"%.3f" % upstream),
                (H_BACKOFF, b"%.3f" % backoff),
                (H_ATTEMPTS, b"%d" % self.attempts),
                (
                    H_SERVER_TIMING,
                    b"gateway;dur=%.3f, upstream;dur=%.3f, backoff;dur=%.3f" % (overhead, upstream, backoff),
                ),
            ]
        return [
            (H_OVERHEAD, b"%.3f" % overhead),
            (H_UPSTREAM, b"%.3f" % upstream),
            (H_ATTEMPTS, b"%d" % self.attempts),
            (H_SERVER_TIMING, b"gateway;dur=%.3f, upstream;dur=%.3f" % (overhead, upstream)),
        ]

    def summary(self, now: float, provider: str, model: str) -> dict[str, object]:
        ttft = self.ttft_ms()
        summary: dict[str, object] = {
            "overhead_ms": round(self.overhead_ms(now), 3),
            "upstream_ms": round(self.upstream * 1000.0, 3),
            "ttft_ms": None if ttft is None else round(ttft, 3),
            "total_ms": round(self.total_ms(now), 3),
            "chunks": self.chunks,
            "attempts": self.attempts,
            "provider": provider,
            "model": model,
        }
        if self.backoff:
            summary["backoff_ms"] = round(self.backoff * 1000.0, 3)
        if self.cost_of is not None:
            summary["cost_usd"] = self._cost(self.cost_of)
        return summary

    def _cost(self, cost_of: Callable[[Usage], int | None]) -> str | None:
        usage = self.metered.usage if self.metered is not None else None
        nano = None if usage is None else cost_of(usage)
        return None if nano is None else format_usd(nano)

    def sse_comment(self, now: float, provider: str, model: str) -> bytes:
        """`: switchboard-timing {...}` - an SSE comment every client ignores."""
        return SSE_TIMING_PREFIX + orjson.dumps(self.summary(now, provider, model)) + b"\n\n"
