"""Per-request timing: what the gateway added (overhead) vs what providers took (upstream).

upstream = time spent waiting on providers, summed over every attempt;
overhead = total time inside the gateway - upstream.
"""

from __future__ import annotations

from time import perf_counter

import orjson


class Timing:
    __slots__ = ("attempts", "chunks", "first_token", "start", "upstream", "usage")

    def __init__(self, start: float | None = None) -> None:
        self.start = perf_counter() if start is None else start
        self.upstream = 0.0
        self.attempts = 0
        self.first_token: float | None = None
        self.chunks = 0
        self.usage: dict[str, object] | None = None
        """A stream's usage chunk, when the provider sent one."""

    def total_ms(self, now: float) -> float:
        return (now - self.start) * 1000.0

    def upstream_ms(self) -> float:
        return self.upstream * 1000.0

    def overhead_ms(self, now: float) -> float:
        return max(0.0, (now - self.start - self.upstream) * 1000.0)

    def headers(self, now: float) -> list[tuple[bytes, bytes]]:
        overhead = self.overhead_ms(now)
        upstream = self.upstream * 1000.0
        return [
            (b"x-switchboard-overhead-ms", b"%.3f" % overhead),
            (b"x-switchboard-upstream-ms", b"%.3f" % upstream),
            (b"x-switchboard-attempts", b"%d" % self.attempts),
            (b"server-timing", b"gateway;dur=%.3f, upstream;dur=%.3f" % (overhead, upstream)),
        ]

    def summary(self, now: float, provider: str, model: str) -> dict[str, object]:
        ttft = None if self.first_token is None else round((self.first_token - self.start) * 1000.0, 3)
        return {
            "overhead_ms": round(self.overhead_ms(now), 3),
            "upstream_ms": round(self.upstream * 1000.0, 3),
            "ttft_ms": ttft,
            "total_ms": round(self.total_ms(now), 3),
            "chunks": self.chunks,
            "attempts": self.attempts,
            "provider": provider,
            "model": model,
        }

    def sse_comment(self, now: float, provider: str, model: str) -> bytes:
        """`: switchboard-timing {...}` - an SSE comment every client ignores."""
        return b": switchboard-timing " + orjson.dumps(self.summary(now, provider, model)) + b"\n\n"
