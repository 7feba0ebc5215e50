"""Google Gemini (Generative Language API): OpenAI Chat Completions <-> generateContent.

`POST {base_url}/models/{model}:generateContent`, streams from `:streamGenerateContent?alt=sse`;
the key travels in the `x-goog-api-key` header, never in the URL. Pure translation; the README
tables what maps where. In short:

- `system` / `developer` -> `systemInstruction`; `assistant` -> role `model` with `text` and
  `functionCall` parts; `tool` messages -> `functionResponse` parts (the function name is looked up
  from the assistant turn that made the call); `image_url` data URLs -> `inlineData`.
- `max_completion_tokens` / `max_tokens` -> `maxOutputTokens`, `stop` -> `stopSequences`,
  `temperature`, `top_p`, `top_k`, `seed`, `presence_penalty`, `frequency_penalty`, `n` ->
  `candidateCount`, `response_format` json_object / json_schema -> `responseMimeType` (+
  `responseJsonSchema`), tools -> `functionDeclarations`, `tool_choice` -> `functionCallingConfig`,
  `reasoning_effort` -> `thinkingConfig.thinkingBudget` (none 0, minimal / low 1024, medium 8192,
  high / xhigh 24576; left out for models without thinking: Gemini 1.x / 2.0, Gemma).
- Dropped by rule: `parallel_tool_calls`, `user`, `metadata`, `store`, `service_tier`,
  `stream_options` (usage is added by Switchboard when asked), `logit_bias`, `cache_control`
  markers on parts and tools (Gemini caches through its own cachedContents API).
- Refused (target skipped, or 400 naming the field): `logprobs`, `top_logprobs`, `audio`, http(s)
  image URLs (Gemini reads only inline data or its own file URIs), non-function tools, unknown fields.

Responses: candidates -> choices; `finishReason` STOP -> stop, MAX_TOKENS -> length, SAFETY /
RECITATION / BLOCKLIST / PROHIBITED_CONTENT / SPII -> content_filter, a function call -> tool_calls;
a prompt blocked by safety (`promptFeedback.blockReason`, no candidates) -> an empty answer with
finish_reason content_filter; `usageMetadata` -> usage (cached content as cached_tokens).

Layout: `request.py` builds generateContent and batchEmbedContents bodies, `response.py` turns
answers and stream chunks back into OpenAI form; this module is the adapter that ties them to the
executor's contract. Pure translation: no I/O, no environment, no logging, no timing (the executor
owns them; the clock is read only to stamp `created`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from urllib.parse import quote

import orjson

from switchboard.errors import UpstreamError, UpstreamProtocolError
from switchboard.providers.base import Answer, StreamTranslator, UpstreamCall, classify_status
from switchboard.providers.embeddings import openai_embeddings
from switchboard.providers.gemini.request import build_embed_body, build_generate_body, convert_messages
from switchboard.providers.gemini.response import GeminiStream, to_chat_completion
from switchboard.upstream.http import UpstreamRequest
from switchboard.wire.gemini import finish_reason, openai_usage, usage_from_gemini

__all__ = [
    "GeminiAdapter",
    "GeminiStream",
    "build_embed_body",
    "build_generate_body",
    "convert_messages",
    "finish_reason",
    "openai_usage",
    "to_chat_completion",
]


class GeminiAdapter:
    def build_request(self, call: UpstreamCall) -> UpstreamRequest:
        model = quote(call.model, safe="")
        if call.endpoint == "embeddings":
            url = f"{call.provider.base_url}/models/{model}:batchEmbedContents"
            body = build_embed_body(call.body, call.model)
        elif call.stream:
            url = f"{call.provider.base_url}/models/{model}:streamGenerateContent?alt=sse"
            body = build_generate_body(call.body, call.model)
        else:
            url = f"{call.provider.base_url}/models/{model}:generateContent"
            body = build_generate_body(call.body, call.model)
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if call.stream else "application/json",
            **dict(call.provider.headers),
        }
        if isinstance(call.credential, str):
            headers["x-goog-api-key"] = call.credential
        return UpstreamRequest("POST", url, headers, orjson.dumps(body))

    def parse_response(self, content: bytes) -> Answer:
        try:
            response = orjson.loads(content)
            usage = usage_from_gemini(response.get("usageMetadata") or {})
            return Answer(orjson.dumps(to_chat_completion(response, int(time.time()))), usage)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            raise UpstreamProtocolError("Gemini returned a malformed response", upstream_status=200) from None

    def stream_translator(self, call: UpstreamCall) -> StreamTranslator | None:
        return GeminiStream(call.include_usage, int(time.time()))

    def parse_embeddings(self, content: bytes, call: UpstreamCall) -> Answer:
        try:
            vectors = [item["values"] for item in orjson.loads(content)["embeddings"]]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise UpstreamProtocolError("Gemini returned malformed embeddings", upstream_status=200) from None
        # the embedContent answer reports no token count
        return Answer(openai_embeddings(vectors, call.model, call.body.get("encoding_format")), None)

    def map_error(
        self, status: int, headers: Mapping[str, str], content: bytes, secrets: tuple[str, ...]
    ) -> UpstreamError:
        # RESOURCE_EXHAUSTED (429), PERMISSION_DENIED (403), UNAVAILABLE (503)... map by status;
        # an invalid key is a 400 API_KEY_INVALID in Gemini: a dead credential, so skip the target.
        if status == 400 and b"API_KEY_INVALID" in content:
            return classify_status(401, headers, content, secrets)
        return classify_status(status, headers, content, secrets)
