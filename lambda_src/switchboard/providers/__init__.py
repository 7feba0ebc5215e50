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

import httpx

from switchboard.providers.anthropic import AnthropicAdapter
from switchboard.providers.base import Adapter
from switchboard.providers.bedrock import BedrockAdapter
from switchboard.providers.gemini import GeminiAdapter
from switchboard.providers.mock import MockAdapter, MockUpstream
from switchboard.providers.openai import OpenAIAdapter


@dataclass(frozen=True, slots=True)
class ProviderType:
    adapter: Adapter
    local_transport: Callable[[], httpx.AsyncBaseTransport] | None = None
    """Providers that answer in-process (the mock) get their own client over this transport."""


_REGISTRY: dict[str, ProviderType] = {
    "openai": ProviderType(OpenAIAdapter()),
    "anthropic": ProviderType(AnthropicAdapter()),
    "gemini": ProviderType(GeminiAdapter()),
    "bedrock": ProviderType(BedrockAdapter()),
    "mock": ProviderType(MockAdapter(), local_transport=MockUpstream),
}


def registered_types() -> frozenset[str]:
    return frozenset(_REGISTRY)


def provider_type(name: str) -> ProviderType:
    return _REGISTRY[name]
