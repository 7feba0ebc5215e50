"""Who a request's failure belongs to: the `cause` of a metrics record (pure, no I/O).

Region health must not confuse a provider outage with a broken region: when OpenAI fails, every
region fails the same way and evacuating any of them helps nobody. So every record carries one of:

- `none`: served (a cut stream whose client went away included);
- `client`: refused because of the request or its key (4xx: bad input, auth, limits);
- `provider`: every upstream attempt failed, timed out or the request's deadline ran out waiting for
  the providers (the gateway did its job);
- `gateway`: the region itself failed: an internal error, the store unavailable (keys, limits), the
  origin secret unreadable or not matching what CloudFront sends (a botched rotation);
- `direct`: a call that did not come through CloudFront (no origin header at all).

Evacuation follows `gateway` (plus Lambda's own errors, throttles and timeouts, which write no
record); `provider` evacuates a region only when it is clearly worse than the others
(infra/prober/health.py).
"""

from __future__ import annotations

from typing import Final

from switchboard.errors import (
    AllTargetsFailed,
    DeadlineExceeded,
    GatewayError,
    OriginForbidden,
    UpstreamError,
)

NONE: Final = "none"
CLIENT: Final = "client"
PROVIDER: Final = "provider"
GATEWAY: Final = "gateway"
DIRECT: Final = "direct"
CAUSES: Final = (NONE, CLIENT, PROVIDER, GATEWAY, DIRECT)

_PROVIDER_OUTCOMES = frozenset({"upstream_error", "stalled", "lost"})
"""A stream that failed after its first byte because the provider failed or went quiet."""


def request_cause(status: int, error: type[GatewayError] | None, outcome: str = "") -> str:
    """The cause of one request's outcome, from its final status, the kind of GatewayError that
    ended it (`RequestContext.error`; None when none did) and the outcome word the pipeline
    recorded."""
    if error is not None and issubclass(error, (AllTargetsFailed, UpstreamError, DeadlineExceeded)):
        return PROVIDER
    if error is not None and issubclass(error, OriginForbidden):
        return DIRECT
    if outcome in _PROVIDER_OUTCOMES:
        return PROVIDER
    if error is None and outcome == "internal_error":
        return GATEWAY
    if status >= 500:
        if error is None and status in (502, 504):  # no error kind: the upstream statuses
            return PROVIDER
        return GATEWAY
    if status >= 400 and status != 499:
        return CLIENT
    return NONE


def origin_cause(presented: bool) -> str:
    """A request the origin guard refused: without the header it did not come through CloudFront
    (`direct`); with a header that does not match, CloudFront and this region disagree on the
    secret, which fails every request of the region (`gateway`)."""
    return GATEWAY if presented else DIRECT
