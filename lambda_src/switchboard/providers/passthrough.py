"""Same-dialect pass-through: the client's own request, forwarded to a target that serves its API.

When a client speaks a provider's native API (Anthropic Messages to an `anthropic` provider, the
OpenAI Responses API to an `openai` provider), the body goes upstream as the client sent it: only
`model` is rewritten (Switchboard's routing fields were removed when it was parsed), so fields
Switchboard does not know - new betas, `context_management`, `cache_control`, thinking - reach the
provider untouched. Client headers of that API come from an allow-list (the pipeline reads only
`anthropic-version`, `anthropic-beta`, `openai-beta`; repeated betas joined) and go only to their own
API; the credential is the provider's, never the client's. Pure: builds the request, no I/O.
"""

from __future__ import annotations

from typing import Final

import orjson

from switchboard.config import ProviderConfig
from switchboard.providers.base import UpstreamCall
from switchboard.providers.openai import auth_headers
from switchboard.upstream.http import UpstreamRequest
from switchboard.values import NativeRequest
from switchboard.wire.readers import ANTHROPIC_COUNT_TOKENS, ANTHROPIC_MESSAGES

DEFAULT_ANTHROPIC_VERSION: Final = "2023-06-01"


def _url(provider: ProviderConfig, api: str) -> str:
    if api == ANTHROPIC_MESSAGES:
        return provider.base_url + "/messages"
    if api == ANTHROPIC_COUNT_TOKENS:
        return provider.base_url + "/messages/count_tokens"
    url = provider.base_url + "/responses"
    return f"{url}?api-version={provider.api_version}" if provider.api_version else url


def passthrough_request(call: UpstreamCall, native: NativeRequest) -> UpstreamRequest:
    body = dict(native.body)
    body["model"] = call.model
    provider = call.provider
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream" if call.stream else "application/json",
    }
    anthropic = native.api in (ANTHROPIC_MESSAGES, ANTHROPIC_COUNT_TOKENS)
    if anthropic:
        headers["anthropic-version"] = DEFAULT_ANTHROPIC_VERSION
    # each API's own headers only: `openai-beta` never reaches Anthropic, `anthropic-*` never OpenAI
    own = "anthropic-" if anthropic else "openai-"
    headers.update((name, value) for name, value in native.headers if name.startswith(own))
    headers.update(provider.headers)  # the operator's configured headers win
    if anthropic:
        if isinstance(call.credential, str):
            headers["x-api-key"] = call.credential
    else:
        headers.update(auth_headers(provider, call.credential))
    return UpstreamRequest("POST", _url(provider, native.api), headers, orjson.dumps(body))
