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
  `responseJsonSchema`), tools -> `functionDeclarations`, `tool_choice` -> `functionCallingConfig`.
- Dropped by rule: `parallel_tool_calls`, `user`, `metadata`, `store`, `service_tier`,
  `reasoning_effort`, `stream_options` (usage is added by Switchboard when asked), `logit_bias`.
- Refused (target skipped, or 400 naming the field): `logprobs`, `top_logprobs`, `audio`, http(s)
  image URLs (Gemini reads only inline data or its own file URIs), non-function tools, unknown fields.

Responses: candidates -> choices; `finishReason` STOP -> stop, MAX_TOKENS -> length, SAFETY /
RECITATION / BLOCKLIST / PROHIBITED_CONTENT / SPII -> content_filter, a function call -> tool_calls;
a prompt blocked by safety (`promptFeedback.blockReason`, no candidates) -> an empty answer with
finish_reason content_filter; `usageMetadata` -> usage (cached content as cached_tokens).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

import orjson

from switchboard.errors import UpstreamError, UpstreamProtocolError, UpstreamUnsupported
from switchboard.providers.base import StreamTranslator, UpstreamCall, classify_status
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
from switchboard.wire.sse import event_data

FILTERED: Final = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
)
DROPPED: Final = frozenset(
    {
        "parallel_tool_calls",
        "user",
        "metadata",
        "store",
        "service_tier",
        "reasoning_effort",
        "stream_options",
        "logit_bias",
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
        "top_k",
        "stop",
        "stream",
        "tools",
        "tool_choice",
        "n",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "response_format",
        "logprobs",
        "top_logprobs",
    }
)
_CONFIG: Final = (
    ("temperature", "temperature"),
    ("top_p", "topP"),
    ("top_k", "topK"),
    ("seed", "seed"),
    ("presence_penalty", "presencePenalty"),
    ("frequency_penalty", "frequencyPenalty"),
)


def _unsupported(field: str, why: str) -> UpstreamUnsupported:
    return unsupported("Gemini", field, why)


def finish_reason(reason: str | None, has_calls: bool) -> str | None:
    if reason is None:
        return None
    if has_calls:
        return "tool_calls"
    if reason == "MAX_TOKENS":
        return "length"
    if reason in FILTERED:
        return "content_filter"
    return "stop"


# --------------------------------------------------------------------------- request


def _text(content: Any, where: str) -> str:
    return text_content(content, where, "Gemini")


def _user_parts(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        raise _unsupported(where, "content must be a string or a list of parts")
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"text": str(part.get("text", ""))})
        elif kind == "image_url":
            inline = data_url(image_url(part))
            if inline is None:
                raise _unsupported(f"{where}[{j}]", "images must be base64 data URLs")
            parts.append({"inlineData": {"mimeType": inline[0], "data": inline[1]}})
        else:
            raise _unsupported(f"{where}[{j}]", f"content parts of type {kind!r} are not supported")
    return parts


def _parse_arguments(raw: Any, where: str) -> Any:
    return tool_arguments(raw, where, "Gemini")


def convert_messages(messages: list[Any]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}
    for i, message in enumerate(messages):
        role = message.get("role")
        where = f"messages[{i}]"
        if role in ("system", "developer"):
            system.append(_text(message.get("content"), f"{where}.content"))
            continue
        if role == "user":
            gemini_role, parts = "user", _user_parts(message.get("content"), f"{where}.content")
        elif role == "assistant":
            gemini_role, parts = "model", []
            text = _text(message.get("content"), f"{where}.content")
            if text:
                parts.append({"text": text})
            for k, call in enumerate(message.get("tool_calls") or []):
                function = call.get("function") or {}
                call_names[str(call.get("id"))] = str(function.get("name"))
                args = _parse_arguments(
                    function.get("arguments"), f"{where}.tool_calls[{k}].function.arguments"
                )
                parts.append({"functionCall": {"name": function.get("name"), "args": args}})
        elif role == "tool":
            name = call_names.get(str(message.get("tool_call_id")))
            if name is None:
                raise _unsupported(f"{where}.tool_call_id", "no earlier assistant tool call has this id")
            result = _text(message.get("content"), f"{where}.content")
            try:
                response = orjson.loads(result)
            except orjson.JSONDecodeError:
                response = None
            if not isinstance(response, dict):
                response = {"content": result}
            gemini_role, parts = "user", [{"functionResponse": {"name": name, "response": response}}]
        else:
            raise _unsupported(f"{where}.role", f"role {role!r} is not supported")
        if contents and contents[-1]["role"] == gemini_role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": gemini_role, "parts": parts})
    instruction = {"parts": [{"text": "\n\n".join(system)}]} if system else None
    return instruction, contents


def build_generate_body(body: Mapping[str, Any]) -> dict[str, Any]:
    check_fields(body, HANDLED, DROPPED, "Gemini")
    system, contents = convert_messages(body["messages"])
    out: dict[str, Any] = {"contents": contents}
    if system is not None:
        out["systemInstruction"] = system
    config: dict[str, Any] = {}
    for ours, theirs in _CONFIG:
        if body.get(ours) is not None:
            config[theirs] = body[ours]
    if (tokens := body.get("max_completion_tokens") or body.get("max_tokens")) is not None:
        config["maxOutputTokens"] = tokens
    if stop := body.get("stop"):
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("n") not in (None, 1):
        config["candidateCount"] = body["n"]
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema") if fmt["type"] == "json_schema" else None
        if schema is not None:
            config["responseJsonSchema"] = schema
    elif fmt is not None and not (isinstance(fmt, dict) and fmt.get("type") == "text"):
        raise _unsupported("response_format", "expected text, json_object or json_schema")
    if config:
        out["generationConfig"] = config
    tools = body.get("tools")
    if tools:
        declarations = []
        for k, tool in enumerate(tools):
            function = (
                tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
            )
            if not isinstance(function, dict):
                raise _unsupported(f"tools[{k}]", "only function tools are supported")
            declaration = {"name": function.get("name"), "description": function.get("description", "")}
            if function.get("parameters"):
                declaration["parameters"] = function["parameters"]
            declarations.append(declaration)
        out["tools"] = [{"functionDeclarations": declarations}]
    choice = body.get("tool_choice")
    if choice is not None:
        modes = {"auto": "AUTO", "required": "ANY", "none": "NONE"}
        if isinstance(choice, str) and choice in modes:
            out["toolConfig"] = {"functionCallingConfig": {"mode": modes[choice]}}
        elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
            name = choice["function"].get("name")
            out["toolConfig"] = {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
        else:
            raise _unsupported("tool_choice", "expected auto, required, none or a function")
    return out


def build_embed_body(body: Mapping[str, Any], model: str) -> dict[str, Any]:
    """`batchEmbedContents`: one request per input text (`dimensions` -> `outputDimensionality`)."""
    request: dict[str, Any] = {"model": f"models/{model}"}
    if body.get("dimensions") is not None:
        request["outputDimensionality"] = body["dimensions"]
    return {"requests": [{**request, "content": {"parts": [{"text": t}]}} for t in texts_of(body, "Gemini")]}


# --------------------------------------------------------------------------- response


def openai_usage(meta: Mapping[str, Any]) -> dict[str, Any]:
    prompt = int(meta.get("promptTokenCount") or 0)
    completion = int(meta.get("candidatesTokenCount") or 0) + int(meta.get("thoughtsTokenCount") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": int(meta.get("totalTokenCount") or prompt + completion),
        "prompt_tokens_details": {"cached_tokens": int(meta.get("cachedContentTokenCount") or 0)},
    }


def _split_parts(parts: list[Any], call_prefix: str, first_call: int) -> tuple[str, list[dict[str, Any]]]:
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in parts:
        if "text" in part and not part.get("thought"):
            text.append(part["text"])
        elif "functionCall" in part:
            call = part["functionCall"]
            calls.append(
                {
                    "id": call.get("id") or f"{call_prefix}_{first_call + len(calls)}",
                    "type": "function",
                    "function": {
                        "name": call["name"],
                        "arguments": orjson.dumps(call.get("args") or {}).decode(),
                    },
                }
            )
    return "".join(text), calls


def to_chat_completion(response: Mapping[str, Any], created: int) -> dict[str, Any]:
    rid = str(response.get("responseId") or "gemini")
    choices = []
    for position, candidate in enumerate(response.get("candidates") or []):
        index = int(candidate.get("index", position))
        text, calls = _split_parts(
            (candidate.get("content") or {}).get("parts") or [], f"call_{rid}_{index}", 0
        )
        message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
        if calls:
            message["tool_calls"] = calls
        choices.append(
            {
                "index": index,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(candidate.get("finishReason") or "STOP", bool(calls)),
            }
        )
    if not choices:  # the prompt itself was blocked
        if not (response.get("promptFeedback") or {}).get("blockReason"):
            raise KeyError("candidates")
        choices.append(
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "refusal": None},
                "logprobs": None,
                "finish_reason": "content_filter",
            }
        )
    return {
        "id": f"chatcmpl-{rid}",
        "object": "chat.completion",
        "created": created,
        "model": response.get("modelVersion", ""),
        "choices": choices,
        "usage": openai_usage(response.get("usageMetadata") or {}),
    }


class GeminiStream:
    """Gemini SSE chunks (whole GenerateContentResponse objects) -> OpenAI chunks. Gemini ends a
    stream by closing it after the chunk with `finishReason`, so that chunk also yields `[DONE]`."""

    __slots__ = ("_calls", "_created", "_done", "_include_usage", "_started", "_usage")
    raw_framing = False

    def __init__(self, include_usage: bool, created: int) -> None:
        self._include_usage = include_usage
        self._created = created
        self._started: set[int] = set()
        self._calls: dict[int, int] = {}
        self._usage: dict[str, Any] = {}
        self._done = False

    def feed(self, event: bytes) -> list[bytes]:
        data = event_data(event)
        if data is None or self._done:
            return []
        try:
            return self._translate(orjson.loads(data))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            error = {
                "error": {
                    "message": "malformed upstream stream event",
                    "type": "api_error",
                    "param": None,
                    "code": "bad_upstream_event",
                }
            }
            return [b"data: " + orjson.dumps(error) + b"\n\n"]

    def _chunk(self, rid: str, model: str, index: int, delta: dict[str, Any], finish: str | None) -> bytes:
        payload = {
            "id": rid,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": model,
            "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        return b"data: " + orjson.dumps(payload) + b"\n\n"

    def _translate(self, response: dict[str, Any]) -> list[bytes]:
        if "error" in response:
            error = response["error"] or {}
            body = {
                "error": {
                    "message": str(error.get("message") or "upstream error"),
                    "type": "api_error",
                    "param": None,
                    "code": str(error.get("status") or "api_error"),
                }
            }
            return [b"data: " + orjson.dumps(body) + b"\n\n"]
        rid = f"chatcmpl-{response.get('responseId') or 'gemini'}"
        model = str(response.get("modelVersion", ""))
        self._usage.update(response.get("usageMetadata") or {})
        out: list[bytes] = []
        finished = False
        candidates = response.get("candidates") or []
        if not candidates and (response.get("promptFeedback") or {}).get("blockReason"):
            out.append(self._chunk(rid, model, 0, {}, "content_filter"))
            finished = True
        for position, candidate in enumerate(candidates):
            index = int(candidate.get("index", position))
            delta: dict[str, Any] = {}
            if index not in self._started:
                self._started.add(index)
                delta["role"] = "assistant"
            first = self._calls.get(index, 0)
            text, calls = _split_parts(
                (candidate.get("content") or {}).get("parts") or [], f"call_{rid}_{index}", first
            )
            if text:
                delta["content"] = text
            if calls:
                delta["tool_calls"] = [{"index": first + k, **call} for k, call in enumerate(calls)]
                self._calls[index] = first + len(calls)
            reason = candidate.get("finishReason")
            if delta:
                out.append(self._chunk(rid, model, index, delta, None))
            if reason:
                finished = True
                out.append(
                    self._chunk(rid, model, index, {}, finish_reason(reason, self._calls.get(index, 0) > 0))
                )
        if finished:
            self._done = True
            if self._include_usage:
                usage = {
                    "id": rid,
                    "object": "chat.completion.chunk",
                    "created": self._created,
                    "model": model,
                    "choices": [],
                    "usage": openai_usage(self._usage),
                }
                out.append(b"data: " + orjson.dumps(usage) + b"\n\n")
            out.append(b"data: [DONE]\n\n")
        return out


# --------------------------------------------------------------------------- adapter


class GeminiAdapter:
    def build_request(self, call: UpstreamCall) -> UpstreamRequest:
        model = quote(call.model, safe="")
        if call.endpoint == "embeddings":
            url = f"{call.provider.base_url}/models/{model}:batchEmbedContents"
            body = build_embed_body(call.body, call.model)
        elif call.stream:
            url = f"{call.provider.base_url}/models/{model}:streamGenerateContent?alt=sse"
            body = build_generate_body(call.body)
        else:
            url = f"{call.provider.base_url}/models/{model}:generateContent"
            body = build_generate_body(call.body)
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if call.stream else "application/json",
            **dict(call.provider.headers),
        }
        if isinstance(call.credential, str):
            headers["x-goog-api-key"] = call.credential
        return UpstreamRequest("POST", url, headers, orjson.dumps(body))

    def parse_response(self, content: bytes) -> bytes:
        try:
            return orjson.dumps(to_chat_completion(orjson.loads(content), int(time.time())))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            raise UpstreamProtocolError("Gemini returned a malformed response", upstream_status=200) from None

    def stream_translator(self, call: UpstreamCall) -> StreamTranslator | None:
        options = call.body.get("stream_options")
        include_usage = bool(options.get("include_usage")) if isinstance(options, dict) else False
        return GeminiStream(include_usage, int(time.time()))

    def parse_embeddings(self, content: bytes, call: UpstreamCall) -> bytes:
        try:
            vectors = [item["values"] for item in orjson.loads(content)["embeddings"]]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise UpstreamProtocolError("Gemini returned malformed embeddings", upstream_status=200) from None
        return openai_embeddings(vectors, call.model, call.body.get("encoding_format"))

    def map_error(
        self, status: int, headers: Mapping[str, str], content: bytes, secrets: tuple[str, ...]
    ) -> UpstreamError:
        # RESOURCE_EXHAUSTED (429), PERMISSION_DENIED (403), UNAVAILABLE (503)... map by status;
        # an invalid key is a 400 API_KEY_INVALID in Gemini: a dead credential, so skip the target.
        if status == 400 and b"API_KEY_INVALID" in content:
            return classify_status(401, headers, content, secrets)
        return classify_status(status, headers, content, secrets)
