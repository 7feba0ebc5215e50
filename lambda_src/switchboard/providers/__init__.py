"""Provider registry: one line per provider type.

Adding a provider touches four places: its module here (or a package once it outgrows one module:
`anthropic/`, `gemini/` and `bedrock/` split request building, answers and streams), one line in
`_REGISTRY`, its fixtures folder under `tests/fixtures/providers/<id>/`, and its test file.
Providers are pure translation (no I/O, environment, logging or timing); the OpenAI and Anthropic
wire bytes they emit are built by `wire/openai.py` and `wire/anthropic.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from switchboard.providers.anthropic import AnthropicAdapter
from switchboard.providers.base import Adapter
from switchboard.providers.bedrock import BedrockAdapter
from switchboard.providers.gemini import GeminiAdapter
from switchboard.providers.mock import MockAdapter
from switchboard.providers.openai import OpenAIAdapter

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True, slots=True)
class ProviderType:
    adapter: Adapter
    local_transport: Callable[[], httpx.AsyncBaseTransport] | None = None
    """Providers that answer in-process (the mock) get their own client over this transport."""


def _mock_upstream() -> httpx.AsyncBaseTransport:
    from switchboard.providers.mock_upstream import MockUpstream  # httpx: off the production import path

    return MockUpstream()


_REGISTRY: dict[str, ProviderType] = {
    "openai": ProviderType(OpenAIAdapter()),
    "anthropic": ProviderType(AnthropicAdapter()),
    "gemini": ProviderType(GeminiAdapter()),
    "bedrock": ProviderType(BedrockAdapter()),
    "mock": ProviderType(MockAdapter(), local_transport=_mock_upstream),
}


def registered_types() -> frozenset[str]:
    return frozenset(_REGISTRY)


def provider_type(name: str) -> ProviderType:
    return _REGISTRY[name]
