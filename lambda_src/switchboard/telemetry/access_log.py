"""The access log: one JSON line per request on stderr, written after the response (batched per
event-loop turn like the EMF metrics).

Fields: time (UTC, ISO 8601 with milliseconds), request_id, route, model, target, provider, status,
outcome, cause (client / gateway / provider, null when it succeeded), stream, attempts, cache,
overhead_ms, upstream_ms, total_ms, the tokens (prompt, completion, cached read, cache write),
cost_usd, key_id and tenant. Never a body, a prompt, a
header or a key: the record it is written from holds none. On by default for `switchboard serve`
(`--no-access-log` or `[telemetry] access_log = false` turn it off); off on Lambda unless
`[telemetry] access_log = true`.
"""

from __future__ import annotations

import sys
import time
from typing import IO

import orjson

from switchboard.telemetry.metrics import LineSink, RequestRecord
from switchboard.telemetry.recent import describe


def access_line(record: RequestRecord, second: str | None = None) -> bytes:
    """The JSON line of one request (no trailing newline). `second`: the record's time to the second,
    `YYYY-MM-DDTHH:MM:SS`, when the caller already formatted it."""
    at = record.at
    whole = int(at)
    if second is None:
        second = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    stamp = f"{second}.{int((at - whole) * 1000):03d}Z"
    return orjson.dumps({"time": stamp, **describe(record), "provider": record.provider})


class AccessLog(LineSink):
    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(stream if stream is not None else sys.stderr)
        self._whole = -1
        self._second = ""

    def line(self, record: RequestRecord) -> bytes:
        whole = int(record.at)
        if whole != self._whole:  # formatted once a second, not once a request
            self._whole, self._second = whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        return access_line(record, self._second)
