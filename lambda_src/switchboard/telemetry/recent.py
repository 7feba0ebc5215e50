"""The console's ring of recent requests: the last `size` records of this process (O(1) per request:
one deque append of the record `finish` already built). Metadata only - the record holds no body,
prompt, header or key. Per process: with several processes or regions serving, each keeps its own
(the console says so)."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from switchboard.telemetry.metrics import MetricsSink, RequestRecord

DEFAULT_SIZE = 1000


def cause(record: RequestRecord) -> str | None:
    """Who an unsuccessful request is attributed to: `client` (a refused request, a 4xx, a client that
    went away), `provider` (upstream errors, timeouts and cut streams: 502 / 504, or a stream that
    failed after it started) or `gateway` (everything else: a 500, the store unavailable); None when
    the request succeeded."""
    outcome = record.outcome
    if outcome in ("ok", "done"):
        return None
    if outcome == "client_gone" or (record.status < 500 and outcome == "refused"):
        return "client"
    if record.status in (502, 504) or outcome in ("upstream_error", "stalled", "lost", "cut"):
        return "provider"
    return "gateway" if record.status >= 500 or outcome == "internal_error" else "client"


def describe(record: RequestRecord) -> dict[str, Any]:
    """A record's fields as the admin API and the access log show them (metadata only)."""
    return {
        "request_id": record.request_id,
        "route": record.route,
        "model": record.model,
        "target": f"{record.provider}/{record.upstream_model}" if record.provider else None,
        "status": record.status,
        "outcome": record.outcome,
        "cause": cause(record),
        "stream": record.stream,
        "attempts": record.attempts,
        "cache": record.cache,
        "overhead_ms": round(record.overhead_ms, 3),
        "upstream_ms": round(record.upstream_ms, 3),
        "total_ms": round(record.total_ms, 3),
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "cached_tokens": record.cached_tokens,
        "cache_write_tokens": record.cache_write_tokens,
        "cost_usd": None if record.cost_nano_usd is None else record.cost_nano_usd / 1e9,
        "key_id": record.key_id,
        "tenant": record.tenant,
    }


class RecentRequests(MetricsSink):
    enabled = True

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._ring: deque[RequestRecord] = deque(maxlen=size)

    def record(self, record: RequestRecord) -> None:
        self._ring.append(record)

    def __len__(self) -> int:
        return len(self._ring)

    def select(self, filters: Mapping[str, str], limit: int = 200) -> list[dict[str, Any]]:
        """Newest first; `filters`: model, key_id, tenant, status (e.g. 200, 4xx, 5xx), outcome,
        route, target, cause - exact matches."""
        found: list[dict[str, Any]] = []
        status = filters.get("status")
        for record in reversed(self._ring):
            row = {"at": record.at, **describe(record)}
            if status and not _status_matches(record.status, status):
                continue
            if any(
                value and str(row.get(name)) != value for name, value in filters.items() if name != "status"
            ):
                continue
            found.append(row)
            if len(found) >= limit:
                break
        return found


def _status_matches(status: int, wanted: str) -> bool:
    if len(wanted) == 3 and wanted.endswith("xx"):
        return str(status)[0] == wanted[0]
    return str(status) == wanted
