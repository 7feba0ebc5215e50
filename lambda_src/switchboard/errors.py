"""The one error tree of Switchboard, mapped to HTTP at one boundary (`pipeline/run.py`; the
non-hot routes in `edge/webapp.py`).

    GatewayError                       every error a client can see; OpenAI-shaped JSON
    ├── InvalidRequest        400      bad input found by the gateway (never reaches a provider)
    │   ├── PayloadTooLarge   413
    │   ├── UnsupportedMedia  415
    │   ├── RequestTimeout    408      head or body not sent in time / HeadersTooLarge 431
    │   ├── UnknownModel      404
    │   └── ResponseNotFound  404      a stored response this tenant does not have
    ├── RouteNotFound         404 / MethodNotAllowed 405
    ├── OriginForbidden       403      no valid CloudFront origin header / OriginUnavailable 503
    ├── Unauthorized          401      missing, unknown, revoked or expired gateway key
    ├── Forbidden             403      the key's model allow-list refuses the model
    ├── AuthUnavailable       503      keys cannot be checked (store failure): fail closed
    ├── RateLimited           429      the key's own rpm / tpm / daily limit (Retry-After, x-ratelimit-*)
    ├── StoreUnavailable      503      the shared store failed where the request cannot degrade
    ├── UpstreamError                  one failed attempt at one provider target
    │   ├── UpstreamClientError   4xx  the request itself is wrong: returned at once, never retried
    │   ├── UpstreamAuthError     401/402/403 (or no credential): skip this target at once
    │   ├── UpstreamRedirected    3xx  never followed: skip this target at once
    │   ├── UpstreamUnsupported   400  the target's API lacks a requested feature: skip it
    │   ├── UpstreamRateLimited   429  next target; same target only after Retry-After (capped)
    │   ├── UpstreamServerError   5xx  retry with backoff + jitter inside the budget, then next target
    │   ├── UpstreamTimeout       504  as 5xx
    │   ├── UpstreamConnectError  502  as 5xx
    │   └── UpstreamProtocolError 502  malformed upstream answer; as 5xx
    ├── AllTargetsFailed      429/502/503/504, the last meaningful class among the attempts
    └── DeadlineExceeded      504      the request's single deadline ran out

Internal, never seen by a client: `StoreError` (a backend failed; mapped to the 503s above where
it enters the request path, or degraded), `ConfigError` (start-up), `EventTooLarge` (SSE framing).

What routing does with a failure is a property of its class (`action`), so policy code never
inspects status codes. Messages are written by Switchboard: raw upstream bodies never leave the
process (see `safe_upstream_message`).
"""

from __future__ import annotations

import base64
import re
from typing import ClassVar, Literal
from urllib.parse import quote

import orjson

from switchboard.constants import H_RETRY_AFTER

# Token shapes of common provider keys (OpenAI/Anthropic `sk-`, Groq `gsk_`, xAI, Google `AIza`,
# bearer tokens), AWS access key ids (`AKIA...` long-term, `ASIA...` temporary: not secret, but they
# name the account) and SigV4 signatures (64 hex digits, as AWS echoes them in signature-mismatch
# messages): masked in any upstream message we pass on, even keys we do not know.
_KEY_LIKE = re.compile(
    r"(?i)\b(?:sk|pk|rk|gsk|xai|AIza)[-_][-_A-Za-z0-9]{8,}|\bBearer\s+\S+"
    r"|\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{12,}\b|signature\s*[=:]\s*[0-9a-f]{16,}|\b[0-9a-f]{64}\b"
)

Action = Literal["return", "skip", "rate_limited", "retry"]


class GatewayError(Exception):
    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    code: ClassVar[str | None] = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self._code = code

    @property
    def error_code(self) -> str | None:
        return self._code if self._code is not None else self.code

    @property
    def http_status(self) -> int:
        return self.status

    def headers(self) -> list[tuple[bytes, bytes]]:
        return []

    def to_dict(self) -> dict[str, object]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.error_code,
            }
        }

    def body(self) -> bytes:
        return orjson.dumps(self.to_dict())


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class PayloadTooLarge(InvalidRequest):
    status = 413
    code = "payload_too_large"


class UnsupportedMedia(InvalidRequest):
    status = 415
    code = "unsupported_media_type"


class RequestTimeout(InvalidRequest):
    """The client did not send its request's head or body in time (the HTTP guard)."""

    status = 408
    code = "request_timeout"


class HeadersTooLarge(InvalidRequest):
    """The request line and headers exceed the server's cap (the HTTP guard)."""

    status = 431
    code = "request_header_fields_too_large"


class UnknownModel(InvalidRequest):
    status = 404
    code = "model_not_found"


class ResponseNotFound(InvalidRequest):
    """A stored response id (`previous_response_id`, `GET /v1/responses/{id}`) this tenant does not have."""

    status = 404
    code = "response_not_found"


class RouteNotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class MethodNotAllowed(GatewayError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


class OriginForbidden(GatewayError):
    """Behind CloudFront: the request lacks the secret origin header (a direct call)."""

    status = 403
    type = "permission_error"
    code = "origin_forbidden"


class OriginUnavailable(GatewayError):
    """The origin secret could not be read: fail closed."""

    status = 503
    type = "server_error"
    code = "origin_check_unavailable"


class Unauthorized(GatewayError):
    """No key, an unknown key, or a revoked / expired one."""

    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class Forbidden(GatewayError):
    """A valid key asking for a model its allow-list does not name."""

    status = 403
    type = "permission_error"
    code = "model_not_allowed"


class AuthUnavailable(GatewayError):
    """Keys could not be checked (the store failed): fail closed."""

    status = 503
    type = "server_error"
    code = "auth_unavailable"


class RateLimited(GatewayError):
    """A key's own limit (requests or tokens per window): 429 with Retry-After and x-ratelimit-*."""

    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, headers: list[tuple[bytes, bytes]]) -> None:
        super().__init__(message)
        self._headers = headers

    def headers(self) -> list[tuple[bytes, bytes]]:
        return self._headers


class StoreUnavailable(GatewayError):
    """The shared store failed on a path that cannot degrade (limits): 503, try again."""

    status = 503
    type = "server_error"
    code = "store_unavailable"


class StoreError(RuntimeError):
    """A store backend failed (throttled, timed out, unreachable). Internal: callers fail closed
    (`AuthUnavailable`, `StoreUnavailable`) or degrade (the cache bypasses, usage spills)."""


class UpstreamError(GatewayError):
    """One failed attempt. `upstream_status` is what the provider said (None: no HTTP answer)."""

    status = 502
    type = "upstream_error"
    code: ClassVar[str | None] = "upstream_error"
    action: ClassVar[Action] = "retry"
    label: ClassVar[str] = "error"
    counts_against_health: ClassVar[bool] = True
    """Whether this failure moves the target towards cooldown (the request's fault does not)."""

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int | None = None,
        param: str | None = None,
        code: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, param=param, code=code)
        self.upstream_status = upstream_status
        self.retry_after_s = retry_after_s

    def describe(self) -> str:
        """A short, secret-free description of the attempt for the final error message."""
        if self.upstream_status is not None:
            return f"{self.upstream_status} {self.label}"
        return self.label


class UpstreamClientError(UpstreamError):
    """The provider rejected the request itself (400/404/413/422): the client must change it."""

    type = "invalid_request_error"
    code = None
    action = "return"
    label = "rejected request"
    counts_against_health = False

    @property
    def http_status(self) -> int:
        return self.upstream_status or 400


class UpstreamUnsupported(UpstreamError):
    """The target's API cannot serve a feature of this request (raised by an adapter before any
    I/O): the target is skipped; if no target can serve it, the client gets a 400 naming it."""

    status = 400
    type = "invalid_request_error"
    code = "unsupported_parameter"
    action = "skip"
    label = "unsupported"
    counts_against_health = False

    def describe(self) -> str:
        return f"cannot serve '{self.param}'" if self.param else self.label


class UpstreamAuthError(UpstreamError):
    action = "skip"
    label = "auth failed"
    code = "upstream_auth_failed"


class UpstreamRedirected(UpstreamError):
    """A 3xx: redirects are never followed (they could point anywhere), so the target is skipped."""

    action = "skip"
    label = "redirect (not followed)"
    code = "upstream_redirect"


class UpstreamRateLimited(UpstreamError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"
    action = "rate_limited"
    label = "rate limited"


class UpstreamServerError(UpstreamError):
    label = "server error"

    @property
    def http_status(self) -> int:
        return 503 if self.upstream_status == 503 else 502


class UpstreamTimeout(UpstreamError):
    status = 504
    type = "timeout_error"
    code = "upstream_timeout"
    label = "timeout"


class UpstreamConnectError(UpstreamError):
    label = "connect error"
    code = "upstream_unreachable"


class UpstreamProtocolError(UpstreamError):
    label = "malformed response"
    code = "upstream_bad_response"


class AllTargetsFailed(GatewayError):
    """Every target failed; status and Retry-After come from the last meaningful failure."""

    type = "upstream_error"
    code = "all_targets_failed"

    def __init__(self, message: str, *, status: int, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self._status = status
        self.retry_after_s = retry_after_s

    @property
    def http_status(self) -> int:
        return self._status

    @property
    def error_code(self) -> str | None:
        return "rate_limit_exceeded" if self._status == 429 else self.code

    def to_dict(self) -> dict[str, object]:
        body = super().to_dict()
        if self._status == 429:
            body["error"]["type"] = "rate_limit_error"  # type: ignore[index]
        elif self._status == 504:
            body["error"]["type"] = "timeout_error"  # type: ignore[index]
        return body

    def headers(self) -> list[tuple[bytes, bytes]]:
        if self._status == 429:
            seconds = max(1, round(self.retry_after_s or 1))
            return [(H_RETRY_AFTER, str(seconds).encode())]
        return []


class DeadlineExceeded(GatewayError):
    status = 504
    type = "timeout_error"
    code = "deadline_exceeded"


def _forms(secret: str) -> set[str]:
    """The ways a configured secret may show up in a provider's message: as it is, upper- or
    lower-cased, URL-encoded, base64 (standard or URL-safe, padding or not), and any run of 12 of its
    characters (a key cut or split across two strings)."""
    raw = secret.encode()
    forms = {secret, secret.upper(), secret.lower(), quote(secret, safe="")}
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        forms.add(encoded.decode())
        forms.add(encoded.decode().rstrip("="))
    if len(secret) >= 16:
        forms.update(secret[i : i + 12] for i in range(len(secret) - 11))
    return {form for form in forms if len(form) >= 8}


def mask_secrets(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` with every form of the configured secrets (see `_forms`) and anything shaped like a
    provider key or bearer token replaced by `***`. Used on every message that leaves the process."""
    for secret in secrets:
        if secret:
            for form in sorted(_forms(secret), key=len, reverse=True):
                if form in text:
                    text = text.replace(form, "***")
    return _KEY_LIKE.sub("***", text)


def safe_upstream_message(content: bytes, secrets: tuple[str, ...] = (), limit: int = 500) -> str | None:
    """The provider's own `error.message`, parsed (never the raw body), cut and with secrets masked.

    Only used for `UpstreamClientError`, where the message tells the caller what to fix
    (e.g. "maximum context length is 128000 tokens").
    """
    try:
        parsed = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    err = parsed.get("error") if isinstance(parsed, dict) else None
    message = err.get("message") if isinstance(err, dict) else None
    if not isinstance(message, str) or not message:
        return None
    return mask_secrets(message, secrets)[:limit]
