"""Bedrock exceptions -> Switchboard's upstream error classes, by exception type (the
`x-amzn-ErrorType` header of an answer or the `:exception-type` header of a stream frame), never by
the HTTP status (a throttled stream frame arrives under a 200)."""

from __future__ import annotations

from typing import Final

from switchboard.errors import (
    UpstreamAuthError,
    UpstreamClientError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
)

# exception type (lower case, as both header spellings appear) -> routing class
EXCEPTIONS: Final[dict[str, type[UpstreamError]]] = {
    "throttlingexception": UpstreamRateLimited,
    "servicequotaexceededexception": UpstreamRateLimited,
    "toomanyrequestsexception": UpstreamRateLimited,
    "validationexception": UpstreamClientError,
    "resourcenotfoundexception": UpstreamClientError,
    "accessdeniedexception": UpstreamAuthError,
    "unrecognizedclientexception": UpstreamAuthError,
    "expiredtokenexception": UpstreamAuthError,
    "invalidsignatureexception": UpstreamAuthError,
    "modeltimeoutexception": UpstreamTimeout,
    "modelstreamerrorexception": UpstreamServerError,
    "modelerrorexception": UpstreamServerError,
    "modelnotreadyexception": UpstreamServerError,
    "internalserverexception": UpstreamServerError,
    "serviceunavailableexception": UpstreamServerError,
}


def classify_exception(
    kind: str, message: str, status: int | None = None, retry_after_s: float | None = None
) -> UpstreamError:
    """By exception type, whatever the HTTP status (a throttled stream frame arrives under a 200)."""
    name = kind.split(":", 1)[0].strip().lower()
    cls = EXCEPTIONS.get(name, UpstreamServerError)
    text = message[:500] if cls is UpstreamClientError else f"Bedrock {kind.split(':', 1)[0]}"
    error = cls(text, upstream_status=status)
    if cls is UpstreamClientError and status is not None and status >= 500:
        error.upstream_status = 400
    error.retry_after_s = retry_after_s
    return error
