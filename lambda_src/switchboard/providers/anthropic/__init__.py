"""Anthropic Messages API: OpenAI Chat Completions request -> Messages request, and back.

Pure translation (the executor does the I/O). What maps where is tabled in the README
("Translation: OpenAI -> Anthropic"); in short:

- `system` / `developer` messages -> `system`; `tool` messages -> `tool_result` blocks in a user turn;
  assistant `tool_calls` -> `tool_use` blocks (arguments parsed from their JSON string); consecutive
  turns of one role are merged, as the Messages API wants alternating roles.
- `image_url` parts -> `image` blocks (data URLs as base64 sources, http(s) URLs as url sources).
- `max_completion_tokens` / `max_tokens` -> `max_tokens` (default 4096: the Messages API requires it);
  `stop` -> `stop_sequences`; `temperature` clamped to Anthropic's 0..1; `top_p`; `user` ->
  `metadata.user_id`; tools / `tool_choice` (`required` -> `any`); `parallel_tool_calls: false` ->
  `disable_parallel_tool_use`; `cache_control` markers (the chat form's extension key on parts, tool
  calls, `tool` message parts and tools) -> `cache_control` on that block (`system` then as text blocks).
- Dropped by rule (no Anthropic equivalent, no effect on the answer's format): `frequency_penalty`,
  `presence_penalty`, `seed`, `logit_bias`, `service_tier`, `store`, `metadata`, `reasoning_effort`,
  `prediction`, `stream_options` (usage is added to the stream by Switchboard when asked).
- `response_format` json_schema -> `output_config.format` (Claude 4.5 and later), else (and for
  json_object) a forced JSON-output tool whose call comes back as the answer text
  (`providers/structured.py`).
- Refused (the target is skipped; 400 naming the field if no target can serve it): `n` > 1,
  `logprobs`, `top_logprobs`, a `response_format` of another type or one needing the forced tool
  alongside the request's own tools, audio, non-function tools, file and audio content parts, and
  any field this module does not know.

Responses: text blocks -> `content`, `tool_use` -> `tool_calls` (arguments as a JSON string),
`stop_reason` -> `finish_reason`, usage with cache reads and writes counted in `prompt_tokens`
(cache reads also as `prompt_tokens_details.cached_tokens`). Thinking blocks are not relayed.

Layout: `request.py` builds the Messages body, `response.py` turns answers and stream events back
into OpenAI form (tables, usage and framing shared with the `/v1/messages` dialect through
`wire/anthropic.py`); this module is the adapter that ties them to the executor's contract. Pure
translation: no I/O, no environment, no logging, no timing (the executor owns them; the clock is read
only to stamp `created`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Final

import orjson

from switchboard.errors import UpstreamError, UpstreamProtocolError, UpstreamUnsupported
from switchboard.providers.anthropic.request import DEFAULT_MAX_TOKENS, build_messages_body, convert_messages
from switchboard.providers.anthropic.response import AnthropicStream, openai_usage, to_chat_completion
from switchboard.providers.base import Answer, StreamTranslator, UpstreamCall, classify_status
from switchboard.upstream.http import UpstreamRequest
from switchboard.wire import anthropic as wire_anthropic

__all__ = [
    "ANTHROPIC_VERSION",
    "DEFAULT_MAX_TOKENS",
    "AnthropicAdapter",
    "AnthropicStream",
    "build_messages_body",
    "convert_messages",
    "openai_usage",
    "to_chat_completion",
]

ANTHROPIC_VERSION: Final = "2023-06-01"


class AnthropicAdapter:
    def build_request(self, call: UpstreamCall) -> UpstreamRequest:
        if call.endpoint != "chat":
            raise UpstreamUnsupported("Anthropic has no embeddings API", param="model")
        body = build_messages_body(call.body, call.model, call.stream)
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if call.stream else "application/json",
            "anthropic-version": ANTHROPIC_VERSION,
            **dict(call.provider.headers),
        }
        if isinstance(call.credential, str):
            headers["x-api-key"] = call.credential
        return UpstreamRequest("POST", call.provider.base_url + "/messages", headers, orjson.dumps(body))

    def parse_response(self, content: bytes) -> Answer:
        try:
            message = orjson.loads(content)
            usage = wire_anthropic.usage_from_anthropic(message.get("usage") or {})
            return Answer(orjson.dumps(to_chat_completion(message, int(time.time()))), usage)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise UpstreamProtocolError(
                "Anthropic returned a malformed message", upstream_status=200
            ) from None

    def stream_translator(self, call: UpstreamCall) -> StreamTranslator | None:
        return AnthropicStream(call.include_usage, int(time.time()))

    def parse_embeddings(self, content: bytes, call: UpstreamCall) -> Answer:
        raise UpstreamUnsupported("Anthropic has no embeddings API", param="model")

    def map_error(
        self, status: int, headers: Mapping[str, str], content: bytes, secrets: tuple[str, ...]
    ) -> UpstreamError:
        # 529 overloaded_error and 500 api_error are 5xx: retried / fallen back like any 5xx.
        return classify_status(status, headers, content, secrets)
