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
required / {function} -> `auto` / `any` / `tool`. Dropped by rule: `seed`, `presence_penalty`,
`frequency_penalty`, `logit_bias`, `user`, `metadata`, `store`, `service_tier`,
`parallel_tool_calls`, `reasoning_effort`, `top_k`, `stream_options`. Refused: `n` > 1,
`logprobs`, `response_format` other than text, `tool_choice: none`, `audio`, http(s) image URLs,
unknown fields.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

import orjson

from switchboard.errors import (
    UpstreamAuthError,
    UpstreamClientError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnsupported,
)
from switchboard.providers.base import (
    AwsCredentials,
    StreamTranslator,
    UpstreamCall,
    classify_status,
    parse_retry_after,
)
from switchboard.providers.common import (
    check_fields,
    data_url,
    image_url,
    text_content,
    tool_arguments,
    unsupported,
)
from switchboard.providers.embeddings import openai_embeddings, texts_of
from switchboard.upstream.http import UpstreamRequest

STOP_REASONS: Final = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
DROPPED: Final = frozenset(
    {
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "user",
        "metadata",
        "store",
        "service_tier",
        "parallel_tool_calls",
        "reasoning_effort",
        "top_k",
        "stream_options",
    }
)
HANDLED: Final = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "stream",
        "tools",
        "tool_choice",
        "n",
        "logprobs",
        "top_logprobs",
        "response_format",
    }
)
IMAGE_FORMATS: Final = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
# exception type (lower case, as both header spellings appear) -> routing class
EXCEPTIONS: Final[dict[str, type[UpstreamError]]] = {
    "throttlingexception": UpstreamRateLimited,
    "servicequotaexceededexception": UpstreamRateLimited,
    "toomanyrequestsexception": UpstreamRateLimited,
    "validationexception": UpstreamClientError,
    "resourcenotfoundexception": UpstreamClientError,
    "accessdeniedexception": UpstreamAuthError,
    "unrecognizedclientexception": UpstreamAuthError,
    "expiredtokenexception": UpstreamAuthError,
    "invalidsignatureexception": UpstreamAuthError,
    "modeltimeoutexception": UpstreamTimeout,
    "modelstreamerrorexception": UpstreamServerError,
    "modelerrorexception": UpstreamServerError,
    "modelnotreadyexception": UpstreamServerError,
    "internalserverexception": UpstreamServerError,
    "serviceunavailableexception": UpstreamServerError,
}


def _unsupported(field: str, why: str) -> UpstreamUnsupported:
    return unsupported("Bedrock", field, why)


def classify_exception(
    kind: str, message: str, status: int | None = None, retry_after_s: float | None = None
) -> UpstreamError:
    """By exception type, whatever the HTTP status (a throttled stream frame arrives under a 200)."""
    name = kind.split(":", 1)[0].strip().lower()
    cls = EXCEPTIONS.get(name, UpstreamServerError)
    text = message[:500] if cls is UpstreamClientError else f"Bedrock {kind.split(':', 1)[0]}"
    error = cls(text, upstream_status=status)
    if cls is UpstreamClientError and status is not None and status >= 500:
        error.upstream_status = 400
    error.retry_after_s = retry_after_s
    return error


# --------------------------------------------------------------------------- request


def _text(content: Any, where: str) -> str:
    return text_content(content, where, "Bedrock")


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        raise _unsupported(where, "content must be a string or a list of parts")
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            blocks.append({"text": str(part.get("text", ""))})
        elif kind == "image_url":
            inline = data_url(image_url(part))
            if inline is None or inline[0] not in IMAGE_FORMATS:
                raise _unsupported(f"{where}[{j}]", "images must be base64 data URLs (png, jpeg, gif, webp)")
            blocks.append({"image": {"format": IMAGE_FORMATS[inline[0]], "source": {"bytes": inline[1]}}})
        else:
            raise _unsupported(f"{where}[{j}]", f"content parts of type {kind!r} are not supported")
    return blocks


def build_converse_body(body: Mapping[str, Any]) -> dict[str, Any]:
    check_fields(body, HANDLED, DROPPED, "Bedrock")
    if body.get("n") not in (None, 1):
        raise _unsupported("n", "one choice per request only")
    fmt = body.get("response_format")
    if fmt is not None and not (isinstance(fmt, dict) and fmt.get("type") == "text"):
        raise _unsupported("response_format", "structured output formats are not available")
    system: list[dict[str, str]] = []
    messages: list[dict[str, Any]] = []
    for i, message in enumerate(body["messages"]):
        role = message.get("role")
        where = f"messages[{i}]"
        if role in ("system", "developer"):
            system.append({"text": _text(message.get("content"), f"{where}.content")})
            continue
        if role == "user":
            blocks = _user_blocks(message.get("content"), f"{where}.content")
        elif role == "assistant":
            blocks = []
            if text := _text(message.get("content"), f"{where}.content"):
                blocks.append({"text": text})
            for k, call in enumerate(message.get("tool_calls") or []):
                function = call.get("function") or {}
                where_args = f"{where}.tool_calls[{k}].function.arguments"
                arguments = tool_arguments(function.get("arguments"), where_args, "Bedrock")
                blocks.append(
                    {
                        "toolUse": {
                            "toolUseId": call.get("id"),
                            "name": function.get("name"),
                            "input": arguments,
                        }
                    }
                )
        elif role == "tool":
            role = "user"
            result = _text(message.get("content"), f"{where}.content")
            try:
                parsed = orjson.loads(result)
            except orjson.JSONDecodeError:
                parsed = None
            content = [{"json": parsed}] if isinstance(parsed, dict) else [{"text": result}]
            blocks = [
                {
                    "toolResult": {
                        "toolUseId": message.get("tool_call_id"),
                        "content": content,
                        "status": "success",
                    }
                }
            ]
        else:
            raise _unsupported(f"{where}.role", f"role {role!r} is not supported")
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": blocks})
    out: dict[str, Any] = {"messages": messages}
    if system:
        out["system"] = system
    config: dict[str, Any] = {}
    if (tokens := body.get("max_completion_tokens") or body.get("max_tokens")) is not None:
        config["maxTokens"] = tokens
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP")):
        if body.get(ours) is not None:
            config[theirs] = body[ours]
    if stop := body.get("stop"):
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if config:
        out["inferenceConfig"] = config
    if body.get("tools"):
        specs = []
        for k, tool in enumerate(body["tools"]):
            function = (
                tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
            )
            if not isinstance(function, dict):
                raise _unsupported(f"tools[{k}]", "only function tools are supported")
            specs.append(
                {
                    "toolSpec": {
                        "name": function.get("name"),
                        "description": function.get("description") or function.get("name"),
                        "inputSchema": {
                            "json": function.get("parameters") or {"type": "object", "properties": {}}
                        },
                    }
                }
            )
        out["toolConfig"] = {"tools": specs}
        choice = body.get("tool_choice")
        if choice == "required":
            out["toolConfig"]["toolChoice"] = {"any": {}}
        elif choice == "auto":
            out["toolConfig"]["toolChoice"] = {"auto": {}}
        elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
            out["toolConfig"]["toolChoice"] = {"tool": {"name": choice["function"].get("name")}}
        elif choice is not None:
            raise _unsupported("tool_choice", "Converse has no 'none'; omit tools instead")
    return out


def build_embedding_body(body: Mapping[str, Any], model: str) -> dict[str, Any]:
    """InvokeModel bodies: Titan Text Embeddings (one text per call) and Cohere Embed (a batch)."""
    texts = texts_of(body, "Bedrock")
    if model.startswith("amazon.titan-embed"):
        if len(texts) != 1:
            raise _unsupported("input", "Titan embeds one text per request")
        out: dict[str, Any] = {"inputText": texts[0]}
        if body.get("dimensions") is not None:
            out["dimensions"] = body["dimensions"]
        return out
    if model.startswith("cohere.embed"):
        return {"texts": texts, "input_type": "search_document"}
    raise _unsupported("model", "embeddings are served by amazon.titan-embed-* and cohere.embed-* models")


# --------------------------------------------------------------------------- response


def openai_usage(usage: Mapping[str, Any]) -> dict[str, Any]:
    cache_read = int(usage.get("cacheReadInputTokens") or 0)
    prompt = int(usage.get("inputTokens") or 0) + cache_read + int(usage.get("cacheWriteInputTokens") or 0)
    completion = int(usage.get("outputTokens") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cache_read},
    }


def completion_id() -> str:
    """A fresh `chatcmpl-` id: Converse answers carry none, and `created` (seconds) alone collides
    between answers of the same second."""
    return "chatcmpl-bedrock-" + secrets.token_hex(12)


def to_chat_completion(
    response: Mapping[str, Any], model: str, created: int, response_id: str | None = None
) -> dict[str, Any]:
    blocks = response["output"]["message"]["content"]
    text = "".join(b["text"] for b in blocks if "text" in b)
    calls = [
        {
            "id": b["toolUse"]["toolUseId"],
            "type": "function",
            "function": {
                "name": b["toolUse"]["name"],
                "arguments": orjson.dumps(b["toolUse"].get("input") or {}).decode(),
            },
        }
        for b in blocks
        if "toolUse" in b
    ]
    message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": response_id or completion_id(),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": STOP_REASONS.get(response.get("stopReason", ""), "stop"),
            }
        ],
        "usage": openai_usage(response.get("usage") or {}),
    }


class BedrockStream:
    """ConverseStream event-stream frames (raw bytes) -> OpenAI chunk events."""

    raw_framing = True

    def __init__(self, model: str, include_usage: bool, created: int) -> None:
        from botocore.eventstream import EventStreamBuffer

        self._buffer = EventStreamBuffer()
        self._model = model
        self._include_usage = include_usage
        self._created = created
        self._id = completion_id()
        self._tools: dict[int, int] = {}
        self._done = False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        payload = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        return b"data: " + orjson.dumps(payload) + b"\n\n"

    def feed(self, data: bytes) -> list[bytes]:
        from botocore.eventstream import ParserError
        from botocore.exceptions import EventStreamError

        out: list[bytes] = []
        try:
            self._buffer.add_data(data)
            for message in self._buffer:
                headers = message.headers
                if headers.get(":message-type") == "exception" or headers.get(":message-type") == "error":
                    kind = str(
                        headers.get(":exception-type")
                        or headers.get(":error-code")
                        or "InternalServerException"
                    )
                    try:
                        detail = str(orjson.loads(message.payload).get("message", ""))
                    except (orjson.JSONDecodeError, AttributeError):
                        detail = ""
                    body = {
                        "error": {
                            "message": f"Bedrock {kind}: {detail}"[:500],
                            "type": "api_error",
                            "param": None,
                            "code": kind,
                        }
                    }
                    out.append(b"data: " + orjson.dumps(body) + b"\n\n")
                    continue
                out.extend(self._event(str(headers.get(":event-type")), orjson.loads(message.payload)))
        except (ParserError, EventStreamError, orjson.JSONDecodeError, KeyError, TypeError):
            body = {
                "error": {
                    "message": "malformed Bedrock event stream",
                    "type": "api_error",
                    "param": None,
                    "code": "bad_upstream_event",
                }
            }
            out.append(b"data: " + orjson.dumps(body) + b"\n\n")
        return out

    def _event(self, kind: str, payload: dict[str, Any]) -> list[bytes]:
        if self._done:
            return []
        if kind == "contentBlockDelta":
            delta = payload["delta"]
            if "text" in delta:
                return [self._chunk({"content": delta["text"]})]
            if "toolUse" in delta and delta["toolUse"].get("input"):
                index = self._tools[payload["contentBlockIndex"]]
                return [
                    self._chunk(
                        {
                            "tool_calls": [
                                {"index": index, "function": {"arguments": delta["toolUse"]["input"]}}
                            ]
                        }
                    )
                ]
            return []
        if kind == "messageStart":
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "contentBlockStart":
            tool = (payload.get("start") or {}).get("toolUse")
            if tool:
                index = self._tools[payload["contentBlockIndex"]] = len(self._tools)
                call = {
                    "index": index,
                    "id": tool["toolUseId"],
                    "type": "function",
                    "function": {"name": tool["name"], "arguments": ""},
                }
                return [self._chunk({"tool_calls": [call]})]
            return []
        if kind == "messageStop":
            return [self._chunk({}, STOP_REASONS.get(payload.get("stopReason", ""), "stop"))]
        if kind == "metadata":
            self._done = True
            out = []
            if self._include_usage:
                usage = {
                    "id": self._id,
                    "object": "chat.completion.chunk",
                    "created": self._created,
                    "model": self._model,
                    "choices": [],
                    "usage": openai_usage(payload.get("usage") or {}),
                }
                out.append(b"data: " + orjson.dumps(usage) + b"\n\n")
            out.append(b"data: [DONE]\n\n")
            return out
        return []  # contentBlockStop and event types added later


# --------------------------------------------------------------------------- adapter


def sigv4_headers(
    url: str, content: bytes, headers: dict[str, str], credential: AwsCredentials, region: str
) -> list[tuple[str, str]]:
    """The request headers plus SigV4's (Authorization, X-Amz-Date, X-Amz-Security-Token), signed by
    botocore exactly as boto3 signs bedrock-runtime calls (service `bedrock`)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    aws_request = AWSRequest(method="POST", url=url, data=content, headers=headers)
    SigV4Auth(
        BotoCredentials(credential.access_key, credential.secret_key, credential.token), "bedrock", region
    ).add_auth(aws_request)
    return list(aws_request.headers.items())


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
            content = orjson.dumps(build_converse_body(call.body))
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

    def parse_response(self, content: bytes) -> bytes:
        try:
            return orjson.dumps(to_chat_completion(orjson.loads(content), "", int(time.time())))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise UpstreamProtocolError(
                "Bedrock returned a malformed response", upstream_status=200
            ) from None

    def stream_translator(self, call: UpstreamCall) -> StreamTranslator | None:
        options = call.body.get("stream_options")
        include_usage = bool(options.get("include_usage")) if isinstance(options, dict) else False
        return BedrockStream(call.model, include_usage, int(time.time()))

    def parse_embeddings(self, content: bytes, call: UpstreamCall) -> bytes:
        try:
            data = orjson.loads(content)
            if call.model.startswith("cohere.embed"):
                embeddings = data["embeddings"]
                vectors = embeddings["float"] if isinstance(embeddings, dict) else embeddings
                tokens = 0
            else:
                vectors, tokens = [data["embedding"]], int(data.get("inputTextTokenCount") or 0)
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise UpstreamProtocolError(
                "Bedrock returned malformed embeddings", upstream_status=200
            ) from None
        return openai_embeddings(vectors, call.model, call.body.get("encoding_format"), tokens)

    def map_error(
        self, status: int, headers: Mapping[str, str], content: bytes, secrets: tuple[str, ...]
    ) -> UpstreamError:
        kind = headers.get("x-amzn-errortype") or ""
        try:
            message = str(orjson.loads(content).get("message") or "")
        except (orjson.JSONDecodeError, AttributeError):
            message = ""
        for secret in secrets:
            message = message.replace(secret, "***") if secret else message
        if not kind:
            return classify_status(status, headers, content, secrets)
        return classify_exception(
            kind, message or f"Bedrock rejected the request ({status})", status, parse_retry_after(headers)
        )
