"""The `cause` of a metrics record: who a failure belongs to (region health depends on it)."""

from __future__ import annotations

import pytest

from switchboard.errors import (
    AllTargetsFailed,
    AuthUnavailable,
    DeadlineExceeded,
    GatewayError,
    OriginForbidden,
    OriginUnavailable,
    RateLimited,
    StoreUnavailable,
    Unauthorized,
    UnknownModel,
    UpstreamServerError,
)
from switchboard.telemetry.cause import origin_cause, request_cause


@pytest.mark.parametrize(
    ("status", "error", "outcome", "cause"),
    [
        (200, None, "ok", "none"),
        (200, None, "done", "none"),
        (200, None, "client_gone", "none"),
        (499, None, "client_gone", "none"),
        # every provider target failed (a 503 from the providers is still theirs, not the region's)
        (503, AllTargetsFailed("x", status=503), "failed", "provider"),
        (502, AllTargetsFailed("x", status=502), "failed", "provider"),
        (429, AllTargetsFailed("x", status=429), "refused", "provider"),
        (504, DeadlineExceeded("x"), "failed", "provider"),
        (502, UpstreamServerError("x"), "failed", "provider"),
        (200, None, "upstream_error", "provider"),  # a stream the provider broke after its first byte
        (200, None, "stalled", "provider"),
        # the region's own failures
        (503, StoreUnavailable("x"), "failed", "gateway"),
        (503, AuthUnavailable("x"), "failed", "gateway"),
        (503, OriginUnavailable("x"), "failed", "gateway"),
        (500, None, "internal_error", "gateway"),
        (500, GatewayError("internal"), "failed", "gateway"),
        # the caller's
        (401, Unauthorized("x"), "refused", "client"),
        (404, UnknownModel("x"), "refused", "client"),
        (429, RateLimited("x", headers=[]), "refused", "client"),
        (403, OriginForbidden("x"), "refused", "direct"),
    ],
)
def test_request_cause(status: int, error: GatewayError | None, outcome: str, cause: str) -> None:
    kind = type(error) if error is not None else None  # what RequestContext.error holds
    assert request_cause(status, kind, outcome) == cause


def test_origin_cause_tells_a_direct_caller_from_a_secret_mismatch() -> None:
    assert origin_cause(presented=False) == "direct"  # no header: not CloudFront
    assert (
        origin_cause(presented=True) == "gateway"
    )  # CloudFront's header no longer matches: the region fails
