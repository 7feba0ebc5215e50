"""Value types shared by every layer: what one request's facts are made of.

They sit below every package (they import nothing of Switchboard), so a provider adapter, a wire
reader, the executor, the pipeline and the state layer can all pass them around without importing
each other. Readers and builders of each wire format live in `wire/`; these are only the values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one answer, whatever format reported them, as the adapter or stream reader
    read them from the provider's own answer (never re-parsed from bytes we wrote).

    `prompt` counts every input token, cache reads and cache writes included; `cached` (cache
    reads) and `cache_write` are parts of it. `reasoning` is part of `completion` (where the
    provider reports it). `service_tier` is the tier that processed the request, when the answer
    says so (it can change the price)."""

    prompt: int = 0
    completion: int = 0
    cached: int = 0
    cache_write: int = 0
    cache_write_1h: int = 0
    """The part of `cache_write` kept for an hour (Anthropic prices it above the 5-minute writes)."""
    reasoning: int = 0
    service_tier: str | None = None

    @property
    def total(self) -> int:
        return self.prompt + self.completion


NO_USAGE = Usage()


@dataclass(frozen=True, slots=True)
class NativeRequest:
    """The client's request in its own API, for targets that serve that API (pass-through)."""

    api: str
    """`anthropic.messages` or `openai.responses` (see `wire/readers.py`)."""
    body: dict[str, Any]
    """The client's body with Switchboard's routing fields removed (`model` is rewritten per target)."""
    headers: tuple[tuple[str, str], ...] = ()
    """Allow-listed client headers of that API (`anthropic-version`, `anthropic-beta`, `openai-beta`)."""
    method: str = "POST"
    resource: str = ""
    """For calls on a stored object (`openai.responses.resource`): the path below the API's root,
    built by Switchboard from validated parts (e.g. `/resp_1/input_items?order=asc`); no body."""


@dataclass(frozen=True, slots=True)
class AwsCredentials:
    """Frozen AWS credentials for SigV4 providers (resolved by `credentials.py`, never by adapters)."""

    access_key: str
    secret_key: str
    token: str | None = None

    def secrets(self) -> tuple[str, ...]:
        return (self.secret_key, *((self.token,) if self.token else ()))


Credential = str | AwsCredentials | None


def format_usd(nano: int) -> str:
    """A decimal string of dollars without float rounding: 123000 -> "0.000123", 0 -> "0"."""
    whole, frac = divmod(max(0, nano), 1_000_000_000)
    return f"{whole}.{frac:09d}".rstrip("0").rstrip(".")
