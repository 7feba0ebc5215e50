"""The `mock` provider: an offline, deterministic OpenAI-compatible upstream.

Requests go through the executor like any other provider, but over an in-process transport
(`MockUpstream`, in `mock_upstream.py`, loaded on first use: it is built on httpx, which the
production path does not import) instead of the network, so fallback, retries, timing and
streaming all behave as they do in production. The upstream model name selects the behaviour:

| model                  | behaviour                                                                 |
|------------------------|---------------------------------------------------------------------------|
| `echo`                 | answers `echo: <last user message>`; streamed one word per chunk         |
| `delay-<ms>`           | `echo` after waiting `<ms>` milliseconds                                  |
| `stream-<n>`           | answers `<n>` words (`w1 w2 ...`); streamed as `<n>` content chunks       |
| `stream-<n>-<ms>`      | as `stream-<n>`, waiting `<ms>` before each chunk                        |
| `error-<status>`       | answers HTTP `<status>` with an OpenAI error body (429: `retry-after-ms: 100`) |
| `cut-<n>`              | streams `<n>` chunks, then the connection drops (no `[DONE]`)             |
| `hang`                 | never answers (for timeout and disconnect tests)                         |
| `tools`                | calls the first tool in `tools` with `{"echo": "<last user message>"}`    |
| `embed`                | (embeddings) 8 numbers per input, derived from a hash of its text        |

Usage is counted in words (prompt: every message's text; completion: the answer). Bodies and
events are built by `wire.openai`, as a real OpenAI-compatible server would send them.
"""

from __future__ import annotations

from switchboard.providers.base import UpstreamCall
from switchboard.providers.openai import OpenAIAdapter, _static_headers, encode_body
from switchboard.upstream.http import UpstreamRequest

MOCK_URL = "http://mock.switchboard.internal/v1/chat/completions"
MOCK_EMBEDDINGS_URL = "http://mock.switchboard.internal/v1/embeddings"
CREATED = 1_700_000_000


class MockAdapter(OpenAIAdapter):
    def build_request(self, call: UpstreamCall) -> UpstreamRequest:
        body = dict(call.body)
        body["model"] = call.model
        url = MOCK_URL if call.endpoint == "chat" else MOCK_EMBEDDINGS_URL
        return UpstreamRequest(
            "POST", url, dict(_static_headers(call.provider, call.stream)), encode_body(body)
        )
