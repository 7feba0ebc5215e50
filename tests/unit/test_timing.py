from __future__ import annotations

import orjson

from switchboard.telemetry.timing import Timing


def test_overhead_is_total_minus_upstream() -> None:
    timing = Timing(start=100.0)
    timing.upstream = 0.040  # 40 ms waiting on providers
    timing.attempts = 2
    headers = dict(timing.headers(100.0425))
    assert headers[b"x-switchboard-upstream-ms"] == b"40.000"
    assert headers[b"x-switchboard-overhead-ms"] == b"2.500"
    assert headers[b"x-switchboard-attempts"] == b"2"
    assert headers[b"server-timing"] == b"gateway;dur=2.500, upstream;dur=40.000"


def test_overhead_never_negative() -> None:
    timing = Timing(start=0.0)
    timing.upstream = 1.0
    assert timing.overhead_ms(0.5) == 0.0


def test_sse_comment_summary() -> None:
    timing = Timing(start=10.0)
    timing.upstream = 0.5
    timing.first_token = 10.1
    timing.chunks = 7
    timing.attempts = 1
    line = timing.sse_comment(11.0, "openai", "gpt-4o")
    assert line.startswith(b": switchboard-timing ") and line.endswith(b"\n\n")
    summary = orjson.loads(line[len(b": switchboard-timing ") :])
    assert summary == {
        "overhead_ms": 500.0,
        "upstream_ms": 500.0,
        "ttft_ms": 100.0,
        "total_ms": 1000.0,
        "chunks": 7,
        "attempts": 1,
        "provider": "openai",
        "model": "gpt-4o",
    }
