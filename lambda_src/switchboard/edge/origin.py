"""The origin guard: behind CloudFront, only requests carrying the secret origin header are served.

Function URLs use `AuthType=NONE` (OpenAI SDKs cannot sign requests), so CloudFront adds
`x-switchboard-origin: <secret>` to every origin request and the gateway rejects requests without
it. The secret lives in Secrets Manager as `{"current": "...", "previous": "..."}`: both values are
accepted, so the secret can be rotated without a moment where CloudFront and the gateway disagree.
Values are compared in constant time and cached for `MAX_AGE_S`; when the secret cannot be read,
requests fail closed (503).

Every refusal is written as a metrics record (`rejection_record`): a botched rotation (every request
403), a region that cannot read its secret (every request 503) and direct function-URL callers would
otherwise leave no trace (their `cause`: telemetry/cause.py).
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable

import orjson

from switchboard.errors import GatewayError, OriginForbidden, OriginUnavailable
from switchboard.telemetry.cause import GATEWAY, origin_cause
from switchboard.telemetry.metrics import RequestRecord

MAX_AGE_S = 300.0


FILE_PREFIX = "file:"


def read_origin_secret(name: str) -> tuple[bytes, ...]:
    """Blocking read (run in a thread): the accepted header values, non-empty ones only. `name` is a
    Secrets Manager secret, or `file:<path>` holding the same JSON (a proxy in front of a container,
    the multi-region rehearsal)."""
    if name.startswith(FILE_PREFIX):
        with open(name[len(FILE_PREFIX) :], encoding="utf-8") as fh:
            raw = fh.read().strip()
    else:
        from aws_lambda_powertools.utilities import parameters

        raw = str(parameters.get_secret(name, max_age=int(MAX_AGE_S)))
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        parsed = {"current": raw}
    if not isinstance(parsed, dict):
        parsed = {"current": raw}
    values = (parsed.get("current"), parsed.get("previous"))
    return tuple(v.encode() for v in values if isinstance(v, str) and v)


class OriginGuard:
    def __init__(
        self,
        secret_name: str,
        reader: Callable[[str], tuple[bytes, ...]] = read_origin_secret,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._name = secret_name
        self._reader = reader
        self._clock = clock
        self._values: tuple[bytes, ...] = ()
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def _accepted(self) -> tuple[bytes, ...]:
        if self._expires > self._clock():
            return self._values
        async with self._lock:
            if self._expires <= self._clock():
                try:
                    self._values = await asyncio.to_thread(self._reader, self._name)
                except Exception:
                    if not self._values:  # never fetched: fail closed
                        raise OriginUnavailable("origin check unavailable; try again") from None
                    # keep the last known values for one more period rather than fail every request
                self._expires = self._clock() + MAX_AGE_S
        return self._values

    async def check(self, presented: bytes | None) -> None:
        accepted = await self._accepted()
        if presented is None or not accepted:
            raise OriginForbidden(
                "direct access is not allowed; call the gateway through its public endpoint"
            )
        ok = False
        for value in accepted:  # no early exit: constant time over the accepted values
            ok |= hmac.compare_digest(presented, value)
        if not ok:
            raise OriginForbidden(
                "direct access is not allowed; call the gateway through its public endpoint"
            )


def rejection_record(error: GatewayError, presented: bool, route: str, request_id: str) -> RequestRecord:
    """The metrics record of a request the guard refused (it never reached a pipeline)."""
    unavailable = isinstance(error, OriginUnavailable)
    return RequestRecord(
        route=route[:100],
        status=error.http_status,
        model=None,
        provider=None,
        upstream_model=None,
        stream=False,
        attempts=0,
        overhead_ms=0.0,
        upstream_ms=0.0,
        total_ms=0.0,
        ttft_ms=None,
        request_id=request_id,
        outcome="origin_unavailable" if unavailable else "origin_forbidden",
        cause=GATEWAY if unavailable else origin_cause(presented),
    )
