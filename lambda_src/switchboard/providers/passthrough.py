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
    OPENAI_INPUT_TOKENS,
    OPENAI_RESPONSE_RESOURCE,
)

DEFAULT_ANTHROPIC_VERSION: Final = "2023-06-01"
_GEMINI: Final = frozenset({GEMINI_GENERATE, GEMINI_COUNT_TOKENS})


def _url(provider: ProviderConfig, native: NativeRequest, model: str, stream: bool) -> str:
    api = native.api
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
    if api == OPENAI_INPUT_TOKENS:
        url += "/input_tokens"
    elif api == OPENAI_RESPONSE_RESOURCE:
        url += native.resource
    if provider.api_version:
        url += f"{'&' if '?' in url else '?'}api-version={provider.api_version}"
    return url


def passthrough_request(call: UpstreamCall, native: NativeRequest) -> UpstreamRequest:
    provider = call.provider
    if native.api == OPENAI_RESPONSE_RESOURCE:  # a stored response: no body, no model
        headers = {"accept": "application/json", **dict(provider.headers)}
        headers.update(auth_headers(provider, call.credential))
        return UpstreamRequest(native.method, _url(provider, native, call.model, False), headers, b"")
    body = dict(native.body)
    gemini = native.api in _GEMINI
    if not gemini:  # Gemini names the model in the path (`_url`)...
        body["model"] = call.model
    elif isinstance(inner := body.get("generateContentRequest"), dict) and "model" in inner:
        body["generateContentRequest"] = {**inner, "model": f"models/{call.model}"}  # ...and here
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
    url = _url(provider, native, call.model, call.stream)
    return UpstreamRequest("POST", url, headers, orjson.dumps(body))
