"""AWS Bedrock Converse / ConverseStream: OpenAI Chat Completions <-> Converse.

Embeddings (`/v1/embeddings`) go to InvokeModel for `amazon.titan-embed-*` (one text per request)
and `cohere.embed-*` (a batch, `input_type: search_document`).

Requests are signed with SigV4 by botocore's signer and sent through the same httpx transport as
every other provider (no blocking boto3 call on the event loop); ConverseStream's binary
`application/vnd.amazon.eventstream` body is decoded incrementally with botocore's event-stream
parser. Exceptions are classified by their exception type (`x-amzn-ErrorType`, or the
`:exception-type` header of a stream frame), never by the HTTP status of a frame. botocore is
imported on first use (the Lambda runtime ships it; locally `pip install switchboard-gateway[aws]`).

Mapped: `system` / `developer` -> `system`; text, base64 `image_url` (png/jpeg/gif/webp) -> `text`
/ `image` blocks; assistant `tool_calls` -> `toolUse`; `tool` messages -> `toolResult` (JSON
objects as `json`, else `text`); `max_completion_tokens` / `max_tokens`, `temperature`, `top_p`,
`stop` -> `inferenceConfig`; function tools -> `toolConfig.tools[].toolSpec`; `tool_choice` auto /
required / {function} -> `auto` / `any` / `tool`; `cache_control` markers on parts, tool calls and
tools -> a `cachePoint` block after the marked block (Claude and Nova models; left out for others);
`reasoning_effort` -> Claude's `thinking` in `additionalModelRequestFields` (README for the budget
rules; other models refuse it unless it is `none`). Dropped by rule: `seed`, `presence_penalty`,
`frequency_penalty`, `logit_bias`, `user`, `metadata`, `store`, `service_tier`,
`parallel_tool_calls`, `top_k`, `stream_options`. `response_format` json_schema ->
`outputConfig.textFormat` (Claude 4.5 and later), else (and json_object) a forced JSON-output tool
(`providers/structured.py`). Refused: `n` > 1, `logprobs`, a `response_format` of another type or
one needing the forced tool alongside the request's own tools, `tool_choice: none`, `audio`,
http(s) image URLs, unknown fields. Answers:
`reasoningContent` blocks are not relayed.

Layout: `request.py` builds Converse and InvokeModel bodies, `response.py` maps answers and usage,
`stream.py` decodes ConverseStream, `signing.py` signs with SigV4, `errors.py` classifies
exceptions by type; this module is the adapter that ties them to the executor's contract. Pure
translation: no I/O, no environment, no logging, no timing (the executor owns them; credentials are
passed in resolved, and the clock is read only to stamp `created`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from urllib.parse import quote

import orjson

from switchboard.errors import UpstreamAuthError, UpstreamError, UpstreamProtocolError, mask_secrets
from switchboard.providers.base import (
    Answer,
    StreamTranslator,
    UpstreamCall,
    classify_status,
    parse_retry_after,
)
from switchboard.providers.bedrock.errors import EXCEPTIONS, classify_exception
from switchboard.providers.bedrock.request import build_converse_body, build_embedding_body
from switchboard.providers.bedrock.response import (
    STOP_REASONS,
    completion_id,
    openai_usage,
    to_chat_completion,
    usage_from_converse,
)
from switchboard.providers.bedrock.signing import sigv4_headers
from switchboard.providers.bedrock.stream import BedrockStream
from switchboard.providers.embeddings import openai_embeddings
from switchboard.upstream.http import UpstreamRequest
from switchboard.values import AwsCredentials, Usage

__all__ = [
    "EXCEPTIONS",
    "STOP_REASONS",
    "BedrockAdapter",
    "BedrockStream",
    "build_converse_body",
    "build_embedding_body",
    "classify_exception",
    "completion_id",
    "openai_usage",
    "sigv4_headers",
    "to_chat_completion",
]


class BedrockAdapter:
    def build_request(self, call: UpstreamCall) -> UpstreamRequest:
        region = call.provider.region
        if not region:
            raise UpstreamAuthError(f"provider {call.provider.name!r} has no region")
        base = call.provider.base_url or f"https://bedrock-runtime.{region}.amazonaws.com"
        if call.endpoint == "embeddings":
            action, content = "invoke", orjson.dumps(build_embedding_body(call.body, call.model))
        else:
            action = "converse-stream" if call.stream else "converse"
            content = orjson.dumps(build_converse_body(call.body, call.model))
        url = f"{base}/model/{quote(call.model, safe='')}/{action}"
        headers = {
            "content-type": "application/json",
            "accept": "application/vnd.amazon.eventstream" if call.stream else "application/json",
        }
        credential = call.credential
        if not isinstance(credential, AwsCredentials):
            raise UpstreamAuthError(f"provider {call.provider.name!r} has no AWS credentials")
        signed = sigv4_headers(url, content, headers, credential, region)
        return UpstreamRequest("POST", url, {k.lower(): v for k, v in signed}, content)

    def parse_response(self, content: bytes) -> Answer:
        try:
            response = orjson.loads(content)
            usage = usage_from_converse(response.get("usage") or {})
            return Answer(orjson.dumps(to_chat_completion(response, "", int(time.time()))), usage)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise UpstreamProtocolError(
                "Bedrock returned a malformed response", upstream_status=200
            ) from None

    def stream_translator(self, call: UpstreamCall) -> StreamTranslator | None:
        return BedrockStream(call.model, call.include_usage, int(time.time()))

    def parse_embeddings(self, content: bytes, call: UpstreamCall) -> Answer:
        try:
            data = orjson.loads(content)
            if call.model.startswith("cohere.embed"):
                embeddings = data["embeddings"]
                vectors = embeddings["float"] if isinstance(embeddings, dict) else embeddings
                tokens = None  # Cohere's answer reports no token count
            else:
                vectors, tokens = [data["embedding"]], int(data.get("inputTextTokenCount") or 0)
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise UpstreamProtocolError(
                "Bedrock returned malformed embeddings", upstream_status=200
            ) from None
        body = openai_embeddings(vectors, call.model, call.body.get("encoding_format"), tokens or 0)
        return Answer(body, None if tokens is None else Usage(tokens))

    def map_error(
        self, status: int, headers: Mapping[str, str], content: bytes, secrets: tuple[str, ...]
    ) -> UpstreamError:
        kind = headers.get("x-amzn-errortype") or ""
        try:
            message = str(orjson.loads(content).get("message") or "")
        except (orjson.JSONDecodeError, AttributeError):
            message = ""
        message = mask_secrets(message, secrets)
        if not kind:
            return classify_status(status, headers, content, secrets)
        return classify_exception(
            kind, message or f"Bedrock rejected the request ({status})", status, parse_retry_after(headers)
        )
