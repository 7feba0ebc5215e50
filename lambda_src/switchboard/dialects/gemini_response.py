"""Gemini answers for Gemini-API clients whose request was translated: an OpenAI chat.completion
becomes a `GenerateContentResponse` (`to_response`), an OpenAI chunk stream becomes
`streamGenerateContent` events (`ChunksToEvents`), and errors are Google-shaped (`error_body`).
Tables, usage, framing and errors come from `wire/gemini.py`. Answers from Gemini targets never
come here (passed through).

Per candidate: text -> a `text` part, tool calls -> `functionCall` parts (`id`, `name`, `args`),
`finish_reason` -> `finishReason` (stop / tool_calls STOP, length MAX_TOKENS, content_filter SAFETY);
usage -> `usageMetadata`; the chat id -> `responseId`, the model -> `modelVersion`. A stream sends
one event per text delta; tool calls (whose arguments arrive in pieces) go out whole, with the
final event, which also carries `finishReason` and `usageMetadata` (Gemini's own streams end the
same way).
"""

from __future__ import annotations

from typing import Any

import orjson

from switchboard.errors import GatewayError
from switchboard.wire import gemini as wire_gemini
from switchboard.wire.sse import SSESplitter


def error_body(exc: GatewayError) -> bytes:
    return wire_gemini.error_body(exc.http_status, exc.message)


def _args(arguments: Any) -> Any:
    try:
        parsed = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {"_raw": arguments}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def _call_part(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    return {"functionCall": {"id": call_id, "name": name, "args": _args(arguments)}}


def to_response(completion: bytes) -> bytes:
    data = orjson.loads(completion)
    candidates = []
    for position, choice in enumerate(data.get("choices") or []):
        message = choice.get("message") or {}
        parts: list[dict[str, Any]] = []
        if message.get("content"):
            parts.append({"text": message["content"]})
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            parts.append(_call_part(call.get("id"), function.get("name"), function.get("arguments")))
        candidates.append(
            {
                "content": {"parts": parts or [{"text": ""}], "role": "model"},
                "finishReason": wire_gemini.gemini_finish(choice.get("finish_reason")),
                "index": int(choice.get("index", position)),
            }
        )
    return orjson.dumps(
        {
            "candidates": candidates,
            "usageMetadata": wire_gemini.usage_metadata(data.get("usage")),
            "modelVersion": data.get("model", ""),
            "responseId": str(data.get("id") or ""),
        }
    )


class ChunksToEvents:
    """OpenAI chunk events (as Switchboard relays them) -> Gemini `streamGenerateContent` events."""

    def __init__(self, model: str) -> None:
        self._model = model
        self._id = ""
        self._calls: dict[tuple[int, int], dict[str, Any]] = {}
        self._finish: dict[int, str] = {}
        self._usage: dict[str, Any] | None = None
        self._splitter = SSESplitter()

    def feed(self, body: bytes) -> bytes:
        return b"".join(out for event in self._splitter.feed(body) for out in self._translate(event))

    def _envelope(self, candidates: list[dict[str, Any]]) -> dict[str, Any]:
        return {"candidates": candidates, "modelVersion": self._model, "responseId": self._id}

    def _final(self) -> bytes:
        indexes = sorted({i for i, _ in self._calls} | set(self._finish) or {0})
        candidates = []
        for index in indexes:
            calls = [c for (i, _), c in sorted(self._calls.items()) if i == index]
            parts = [_call_part(c["id"], c["name"], c["arguments"]) for c in calls] or [{"text": ""}]
            candidates.append(
                {
                    "content": {"parts": parts, "role": "model"},
                    "finishReason": wire_gemini.gemini_finish(self._finish.get(index)),
                    "index": index,
                }
            )
        payload = self._envelope(candidates)
        payload["usageMetadata"] = wire_gemini.usage_metadata(self._usage)
        return wire_gemini.event(payload)

    def _translate(self, event: bytes) -> list[bytes]:
        if event.startswith(b":"):
            return [event]  # timing comment and keep-alives pass as they are
        if event.startswith(b"data: [DONE]"):
            return [self._final()]
        try:
            chunk = orjson.loads(event[6:] if event.startswith(b"data: ") else event)
        except orjson.JSONDecodeError:
            return []
        if "error" in chunk:
            error = chunk["error"] or {}
            return [wire_gemini.error_event(502, str(error.get("message", "upstream error")))]
        self._id = self._id or str(chunk.get("id") or "")
        self._model = str(chunk.get("model") or self._model)
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        out: list[bytes] = []
        for choice in chunk.get("choices") or []:
            index = int(choice.get("index", 0))
            delta = choice.get("delta") or {}
            if delta.get("content"):
                candidate = {
                    "content": {"parts": [{"text": delta["content"]}], "role": "model"},
                    "index": index,
                }
                out.append(wire_gemini.event(self._envelope([candidate])))
            for call in delta.get("tool_calls") or []:
                key = (index, int(call.get("index", 0)))
                function = call.get("function") or {}
                kept = self._calls.setdefault(key, {"id": None, "name": None, "arguments": ""})
                kept["id"] = kept["id"] or call.get("id")
                kept["name"] = kept["name"] or function.get("name")
                kept["arguments"] += function.get("arguments") or ""
            if choice.get("finish_reason"):
                self._finish[index] = choice["finish_reason"]
        return out
