"""Same-dialect pass-through: the client's own request, forwarded to a target that serves its API.

When a client speaks a provider's native API (Anthropic Messages to an `anthropic` provider, the
OpenAI Responses API to an `openai` provider, Gemini generateContent / countTokens to a `gemini`
provider), the body goes upstream as the client sent it: only `model` is rewritten (in Gemini's URL
path) (Switchboard's routing fields were removed when it was parsed), so fields
Switchboard does not know - new betas, `context_management`, `cache_control`, thinking - reach the
provider untouched. Client headers of that API come from an allow-list (the pipeline reads only
`anthropic-version`, `anthropic-beta`, `openai-beta`; repeated betas joined) and go only to their own
API; the credential is the provider's, never the client's. Pure: builds the request, no I/O.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

import orjson

from switchboard.config import ProviderConfig
from switchboard.providers.base import UpstreamCall
from switchboard.providers.openai import auth_headers
from switchboard.upstream.http import UpstreamRequest
from switchboard.values import NativeRequest
from switchboard.wire.readers import (
    ANTHROPIC_COUNT_TOKENS,
    ANTHROPIC_MESSAGES,
    GEMINI_COUNT_TOKENS,
    GEMINI_GENERATE,
)

DEFAULT_ANTHROPIC_VERSION: Final = "2023-06-01"
_GEMINI: Final = frozenset({GEMINI_GENERATE, GEMINI_COUNT_TOKENS})


def _url(provider: ProviderConfig, api: str, model: str, stream: bool) -> str:
    if api in _GEMINI:  # the model is part of Gemini's path; streams are always asked for as SSE
        method = "countTokens" if api == GEMINI_COUNT_TOKENS else "generateContent"
        if stream:
            method = "streamGenerateContent?alt=sse"
        return f"{provider.base_url}/models/{quote(model, safe='')}:{method}"
    if api == ANTHROPIC_MESSAGES:
        return provider.base_url + "/messages"
    if api == ANTHROPIC_COUNT_TOKENS:
        return provider.base_url + "/messages/count_tokens"
    url = provider.base_url + "/responses"
    return f"{url}?api-version={provider.api_version}" if provider.api_version else url


def passthrough_request(call: UpstreamCall, native: NativeRequest) -> UpstreamRequest:
    body = dict(native.body)
    provider = call.provider
    gemini = native.api in _GEMINI
    if not gemini:  # Gemini names the model in the path (`_url`), never in the body
        body["model"] = call.model
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream" if call.stream else "application/json",
    }
    anthropic = native.api in (ANTHROPIC_MESSAGES, ANTHROPIC_COUNT_TOKENS)
    if anthropic:
        headers["anthropic-version"] = DEFAULT_ANTHROPIC_VERSION
    # each API's own headers only: `openai-beta` never reaches Anthropic, `anthropic-*` never OpenAI
    own = "anthropic-" if anthropic else "openai-"
    if not gemini:  # the Gemini API has no such headers
        headers.update((name, value) for name, value in native.headers if name.startswith(own))
    headers.update(provider.headers)  # the operator's configured headers win
    if anthropic or gemini:
        if isinstance(call.credential, str):
            headers["x-goog-api-key" if gemini else "x-api-key"] = call.credential
    else:
        headers.update(auth_headers(provider, call.credential))
    url = _url(provider, native.api, call.model, call.stream)
    return UpstreamRequest("POST", url, headers, orjson.dumps(body))
