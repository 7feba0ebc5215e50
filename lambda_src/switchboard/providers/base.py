"""The provider adapter contract.

An adapter is pure translation: it builds the `UpstreamRequest` for one call, turns a
successful upstream body into an OpenAI Chat Completions body and the `Usage` the provider reported
(an `Answer`), turns one upstream stream event into OpenAI `chat.completion.chunk` events (its
stream translator keeps the stream's `Usage` as it goes), and maps an upstream failure to an
`UpstreamError`. Usage is read once, from the provider's own format, and travels as a value: nothing
downstream reads it back out of the bytes the adapter wrote.
It never owns a client, reads the environment, logs or times anything: the executor does that.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from switchboard.config import ProviderConfig
from switchboard.errors import (
    UpstreamAuthError,
    UpstreamClientError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRedirected,
    UpstreamServerError,
    UpstreamTimeout,
    mask_secrets,
    safe_upstream_message,
)
from switchboard.upstream.http import UpstreamRequest
from switchboard.values import Credential, Usage


@dataclass(slots=True)
class UpstreamCall:
    """Everything an adapter needs to build one upstream request."""

    provider: ProviderConfig
    model: str
    body: Mapping[str, Any]
    """The client's request body with Switchboard's own fields removed."""
    stream: bool
    credential: Credential
    endpoint: str = "chat"
    """`chat` or `embeddings`."""

    @property
    def include_usage(self) -> bool:
        """Whether the client asked for a usage chunk at the end of the stream."""
        options = self.body.get("stream_options")
        return bool(options.get("include_usage")) if isinstance(options, dict) else False


@dataclass(slots=True)
class Answer:
    """A complete upstream answer, translated: the OpenAI body and what the provider reported using."""

    body: bytes
    usage: Usage | None


class StreamTranslator(Protocol):
    """Per-stream state for providers whose events are not OpenAI chunks. With `raw_framing`
    (binary event streams) `feed` receives raw body bytes instead of one SSE event. `usage` is the
    stream's usage so far, read from the provider's own events (None until it reports some)."""

    raw_framing: bool
    usage: Usage | None

    def feed(self, event: bytes) -> list[bytes]:
        """One upstream SSE event -> zero or more OpenAI SSE events (`data: ...\\n\\n`)."""
        ...


class Adapter(Protocol):
    def build_request(self, call: UpstreamCall) -> UpstreamRequest:
        """May raise `UpstreamUnsupported` (naming the parameter) before any I/O."""
        ...

    def parse_response(self, content: bytes) -> Answer:
        """A successful upstream body -> an OpenAI chat.completion body and its usage."""
        ...

    def stream_translator(self, call: UpstreamCall) -> StreamTranslator | None:
        """None when upstream events already are OpenAI chunks (relayed as bytes)."""
        ...

    def parse_embeddings(self, content: bytes, call: UpstreamCall) -> Answer:
        """A successful upstream embeddings body -> an OpenAI embeddings list and its usage."""
        ...

    def map_error(
        self, status: int, headers: Mapping[str, str], content: bytes, secrets: tuple[str, ...]
    ) -> UpstreamError: ...


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms` (OpenAI, Azure) or `retry-after` (seconds or HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            value = float(raw_ms) / 1000.0
            if value >= 0 and value == value:  # rejects NaN
                return value
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return float(raw)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify_stream_error(payload: Mapping[str, Any], secrets: tuple[str, ...] = ()) -> UpstreamError:
    """An error event that arrived before any output: classified by its code or type (a Bedrock
    `throttlingException` frame moves on like a 429; a validation error goes back to the client)."""
    error = payload.get("error")
    error = error if isinstance(error, Mapping) else {}
    kind = f"{error.get('code') or ''} {error.get('type') or ''}".lower()
    if "throttl" in kind or "rate_limit" in kind or "quota" in kind:
        return UpstreamRateLimited("upstream stream rate limited before the first token")
    if "validation" in kind or "invalid_request" in kind:
        message = mask_secrets(str(error.get("message") or "upstream rejected the request"), secrets)
        return UpstreamClientError(message[:500], upstream_status=400)
    return UpstreamServerError("upstream stream failed before the first token")


def classify_status(
    status: int, headers: Mapping[str, str], content: bytes, secrets: tuple[str, ...] = ()
) -> UpstreamError:
    """The routing classification of an upstream HTTP failure (shared by every adapter)."""
    if status == 429:
        return UpstreamRateLimited(
            "upstream rate limited", upstream_status=status, retry_after_s=parse_retry_after(headers)
        )
    if status in (401, 402, 403):
        return UpstreamAuthError("upstream refused the credential", upstream_status=status)
    if 300 <= status < 400:
        return UpstreamRedirected("upstream answered with a redirect", upstream_status=status)
    if status == 408:
        return UpstreamTimeout("upstream request timeout", upstream_status=status)
    if 400 <= status < 500:
        message = safe_upstream_message(content, secrets) or f"upstream rejected the request ({status})"
        return UpstreamClientError(message, upstream_status=status)
    if status == 504:
        return UpstreamTimeout("upstream gateway timeout", upstream_status=status)
    return UpstreamServerError(f"upstream error {status}", upstream_status=status)
