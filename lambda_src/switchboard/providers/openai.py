"""OpenAI and every OpenAI-compatible API (Groq, Mistral, Together, DeepSeek, vLLM, Ollama, Azure...).

Requests and responses are passed through: only `model` is rewritten to the upstream model, and
`cache_control` prompt-cache markers (the chat form's extension key, see `common.py`) are left out:
OpenAI-compatible servers do not know them (OpenAI caches prompt prefixes by itself).
Azure OpenAI: `auth_header = "api-key"`, `api_version = "..."`, and `azure_deployments = true` for the
deployment-in-path URL form (`/openai/deployments/<deployment>/chat/completions`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from urllib.parse import quote

import orjson

from switchboard.config import ProviderConfig
from switchboard.errors import UpstreamError
from switchboard.providers.base import Answer, StreamTranslator, UpstreamCall, classify_status
from switchboard.providers.common import strip_cache_markers
from switchboard.upstream.http import UpstreamRequest
from switchboard.values import Credential
from switchboard.wire.openai import answer_usage

_JSON_HEADERS = (("content-type", "application/json"),)
_MARKER = b'"cache_control"'


def encode_body(body: dict[str, object]) -> bytes:
    """The body's JSON without prompt-cache markers (re-encoded only when the bytes hold one)."""
    content = orjson.dumps(body)
    if _MARKER in content:
        content = orjson.dumps(strip_cache_markers(body))
    return content


@lru_cache(maxsize=1024)
def _url(provider: ProviderConfig, model: str, endpoint: str) -> str:
    if provider.azure_deployments:
        path = f"/openai/deployments/{quote(model, safe='')}/{endpoint}"
    else:
        path = f"/{endpoint}"
    url = provider.base_url + path  # the configuration refuses base URLs with a query
    if provider.api_version:
        url += "?api-version=" + quote(provider.api_version, safe="")
    return url


@lru_cache(maxsize=256)
def _static_headers(provider: ProviderConfig, stream: bool) -> tuple[tuple[str, str], ...]:
    accept = "text/event-stream" if stream else "application/json"
    return (*_JSON_HEADERS, ("accept", accept), *provider.headers)


def auth_headers(provider: ProviderConfig, credential: Credential) -> tuple[tuple[str, str], ...]:
    if not isinstance(credential, str) or provider.auth_header == "none":
        return ()
    if provider.auth_header == "authorization":
        return (("authorization", f"Bearer {credential}"),)
    return ((provider.auth_header, credential),)


class OpenAIAdapter:
    endpoint = "chat/completions"

    def build_request(self, call: UpstreamCall) -> UpstreamRequest:
        body = dict(call.body)
        body["model"] = call.model
        if not call.provider.stream_usage:
            body.pop("stream_options", None)
        headers = dict(_static_headers(call.provider, call.stream))
        headers.update(auth_headers(call.provider, call.credential))
        path = self.endpoint if call.endpoint == "chat" else "embeddings"
        return UpstreamRequest("POST", _url(call.provider, call.model, path), headers, encode_body(body))

    def parse_response(self, content: bytes) -> Answer:
        return Answer(content, answer_usage(content))

    def stream_translator(self, call: UpstreamCall) -> StreamTranslator | None:
        return None

    def parse_embeddings(self, content: bytes, call: UpstreamCall) -> Answer:
        return Answer(content, answer_usage(content))

    def map_error(
        self, status: int, headers: Mapping[str, str], content: bytes, secrets: tuple[str, ...]
    ) -> UpstreamError:
        return classify_status(status, headers, content, secrets)
