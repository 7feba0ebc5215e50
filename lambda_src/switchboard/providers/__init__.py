"""Provider registry: one descriptor per provider type, one line each.

Adding a provider touches its package here (an `Adapter`: build the upstream request, parse an
answer and its usage, translate a stream, map an error; `anthropic/`, `gemini/` and `bedrock/` show
the layout) and one line in `_REGISTRY` (its descriptor), plus its fixtures folder under
`tests/fixtures/providers/<id>/` and its test file. Central code asks the descriptor: the
configuration for the fields a type requires, the executor for its credential kind and the client
APIs it serves as they are (pass-through), `x-switchboard-dropped` for what it honours of a
translation, check-config for whether it is priced. Providers are pure translation (no I/O,
environment, logging or timing); the wire bytes they emit are built by the `wire/` modules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

from switchboard.config import ProviderConfig, ProviderFields
from switchboard.providers.anthropic import AnthropicAdapter
from switchboard.providers.base import Adapter
from switchboard.providers.bedrock import BedrockAdapter
from switchboard.providers.gemini import GeminiAdapter
from switchboard.providers.mock import MockAdapter
from switchboard.providers.openai import OpenAIAdapter
from switchboard.wire.readers import (
    ANTHROPIC_COUNT_TOKENS,
    ANTHROPIC_MESSAGES,
    GEMINI_COUNT_TOKENS,
    GEMINI_GENERATE,
    OPENAI_INPUT_TOKENS,
    OPENAI_RESPONSE_RESOURCE,
    OPENAI_RESPONSES,
)

if TYPE_CHECKING:
    import httpx

NONE: Final = frozenset[str]()


def _none(provider: ProviderConfig) -> frozenset[str]:
    return NONE


@dataclass(frozen=True, slots=True)
class ProviderType:
    """What central code needs to know about one provider type."""

    adapter: Adapter
    fields: ProviderFields = field(default_factory=ProviderFields)
    """The `[providers.NAME]` fields it requires."""
    credential: Literal["key", "aws"] = "key"
    """`key`: an API key from `api_key_env` / `api_key_secret`; `aws`: the AWS credential chain (SigV4)."""
    native_apis: Callable[[ProviderConfig], frozenset[str]] = _none
    """The client APIs a provider of this type serves as they are (same-dialect pass-through)."""
    chat_native: bool = False
    """Its API is Chat Completions, the executor's own form: a chat request is not translated."""
    honours: frozenset[str] = NONE
    """Request fields a translation leaves out of the chat form that this type's adapter carries
    anyway (not named in `x-switchboard-dropped`)."""
    thinking_budget: bool = False
    """Its translation turns `reasoning_effort` into a thinking budget (Claude on Bedrock)."""
    priced: bool = True
    """Its answers cost money (check-config names its unpriced targets)."""
    local_transport: Callable[[], httpx.AsyncBaseTransport] | None = None
    """Providers that answer in-process (the mock) get their own client over this transport."""


def _mock_upstream() -> httpx.AsyncBaseTransport:
    from switchboard.providers.mock_upstream import MockUpstream  # httpx: off the production import path

    return MockUpstream()


_ANTHROPIC_APIS: Final = frozenset({ANTHROPIC_MESSAGES, ANTHROPIC_COUNT_TOKENS})
_OPENAI_APIS: Final = frozenset({OPENAI_RESPONSES, OPENAI_INPUT_TOKENS, OPENAI_RESPONSE_RESOURCE})
_GEMINI_APIS: Final = frozenset({GEMINI_GENERATE, GEMINI_COUNT_TOKENS})


def _openai_apis(provider: ProviderConfig) -> frozenset[str]:
    """The Responses API, unless the server lacks it (`responses_api = false`) or is Azure's."""
    return _OPENAI_APIS if provider.responses_api and not provider.azure_deployments else NONE


_CACHE_MARKERS: Final = frozenset({"cache_control"})

_REGISTRY: dict[str, ProviderType] = {
    "openai": ProviderType(OpenAIAdapter(), native_apis=_openai_apis, chat_native=True),
    "anthropic": ProviderType(
        AnthropicAdapter(), native_apis=lambda p: _ANTHROPIC_APIS, honours=_CACHE_MARKERS
    ),
    "gemini": ProviderType(GeminiAdapter(), native_apis=lambda p: _GEMINI_APIS),
    "bedrock": ProviderType(
        BedrockAdapter(),
        fields=ProviderFields(base_url=False, region=True),
        credential="aws",
        honours=_CACHE_MARKERS,
        thinking_budget=True,
    ),
    "mock": ProviderType(
        MockAdapter(),
        fields=ProviderFields(base_url=False),
        chat_native=True,
        priced=False,
        local_transport=_mock_upstream,
    ),
}


def registered_types() -> frozenset[str]:
    return frozenset(_REGISTRY)


def provider_type(name: str) -> ProviderType:
    return _REGISTRY[name]


def provider_fields() -> Mapping[str, ProviderFields]:
    """What each registered type requires of its configuration (`config.parse_config` asks)."""
    return {name: kind.fields for name, kind in _REGISTRY.items()}


def native_apis(provider: ProviderConfig) -> frozenset[str]:
    """The client APIs this provider serves as they are."""
    return _REGISTRY[provider.type].native_apis(provider)
