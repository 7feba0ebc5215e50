"""The OpenAI Responses wire format, built from Switchboard's chat-completions form (pure; no I/O).

`to_response` turns a `chat.completion` body into a Responses `response` object; `ChunksToEvents`
turns a relayed `chat.completion.chunk` SSE stream into the Responses event stream:

    response.created, response.in_progress
    per text answer:  response.output_item.added (message), response.content_part.added,
                      response.output_text.delta ..., response.output_text.done,
                      response.content_part.done, response.output_item.done
    per tool call:    response.output_item.added (function_call),
                      response.function_call_arguments.delta ..., ...done, response.output_item.done
    then one of:      response.completed | response.incomplete (finish_reason length / content_filter)
                      | response.failed (an upstream error event: status "failed", `error`)

Every event carries `event:` and a `sequence_number` from 0. There is no `data: [DONE]` (the
Responses API ends with its terminal event). SSE comments pass through; Switchboard's `: switchboard-
timing` comment goes just before the terminal event (the relay sends it after an error event: it is
moved up when both arrive in one body message, as the relay sends them). A stream that
ends without `[DONE]` or an error gets no terminal event (`end()` can add a `response.failed`).
An event that is not a chunk object (not JSON, a JSON array, ...) ends the stream with
`response.failed` (code `bad_upstream_event`): output was lost, the client must not see a clean end.

A refusal becomes a `refusal` content part. Item ids are `msg_...` / `fc_...`; the response id is
`resp_...` unless the caller passes one (it needs it for the conversation store).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any, Final

import orjson

from switchboard.wire.openai import BAD_UPSTREAM_EVENT, error_payload, is_done, usage_from_openai
from switchboard.wire.sse import SSESplitter, event_data

# What a response object repeats of its request when the request did not say (the API's defaults).
ECHO_DEFAULTS: Final[Mapping[str, Any]] = {
    "instructions": None,
    "max_output_tokens": None,
    "metadata": {},
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "reasoning": {"effort": None, "summary": None},
    "store": True,
    "temperature": 1.0,
    "text": {"format": {"type": "text"}},
    "tool_choice": "auto",
    "tools": [],
    "top_p": 1.0,
    "truncation": "disabled",
    "user": None,
}
INCOMPLETE: Final = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_id(prefix: str = "resp") -> str:
    """A fresh id in the API's shape (`resp_` + 48 hex digits, `msg_...`, `fc_...`)."""
    return f"{prefix}_{secrets.token_hex(24)}"


def sse_event(name: str, payload: Mapping[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def usage(chat_usage: Any) -> dict[str, Any] | None:
    """Chat-completions usage -> Responses usage (None when the answer carried none): the input
    count includes cache reads (`cached_tokens`) and writes (`cache_write_tokens`), as the API's does."""
    counts = usage_from_openai(chat_usage)
    if counts is None:
        return None
    details = chat_usage.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else 0
    total = chat_usage.get("total_tokens")
    return {
        "input_tokens": counts.prompt,
        "input_tokens_details": {"cached_tokens": counts.cached, "cache_write_tokens": counts.cache_write},
        "output_tokens": counts.completion,
        "output_tokens_details": {"reasoning_tokens": reasoning if isinstance(reasoning, int) else 0},
        "total_tokens": total if isinstance(total, int) and total > 0 else counts.total,
    }


def response_object(
    response_id: str,
    created_at: int,
    model: str,
    echo: Mapping[str, Any],
    *,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
    incomplete_reason: str | None = None,
) -> dict[str, Any]:
    """A `response` object; `echo` holds the request parameters it repeats (missing ones default)."""
    obj: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "error": error,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "model": model,
        "output": output,
        "usage": usage,
    }
    for field, default in ECHO_DEFAULTS.items():
        obj[field] = echo.get(field, default)
    for field in ("safety_identifier", "prompt_cache_key"):
        if echo.get(field) is not None:
            obj[field] = echo[field]
    if status in ("completed", "incomplete"):
        obj["completed_at"] = int(time.time())
    return obj


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def refusal_part(refusal: str) -> dict[str, Any]:
    return {"type": "refusal", "refusal": refusal}


def message_item(item_id: str, status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content}


def function_call_item(item_id: str, status: str, call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def failure(error: Any) -> dict[str, Any]:
    """An OpenAI error object -> a Responses `error` ({code, message}; codes the API documents)."""
    error = error if isinstance(error, dict) else {}
    hint = f"{error.get('code') or ''} {error.get('type') or ''}"
    code = "rate_limit_exceeded" if "rate_limit" in hint else "server_error"
    return {"code": code, "message": str(error.get("message") or "upstream error")}


def to_response(
    completion: bytes,
    echo: Mapping[str, Any],
    *,
    response_id: str | None = None,
    created_at: int | None = None,
) -> bytes:
    """A `chat.completion` body -> a Responses `response` object (JSON bytes)."""
    data = orjson.loads(completion)
    choice = (data.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    reason = INCOMPLETE.get(choice.get("finish_reason") or "")
    item_status = "incomplete" if reason else "completed"
    output: list[dict[str, Any]] = []
    content: list[dict[str, Any]] = []
    if message.get("content"):
        content.append(text_part(str(message["content"])))
    if message.get("refusal"):
        content.append(refusal_part(str(message["refusal"])))
    if content:
        output.append(message_item(new_id("msg"), item_status, content))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        output.append(
            function_call_item(
                new_id("fc"),
                "completed",
                str(call.get("id") or new_id("call")),
                str(function.get("name") or ""),
                str(function.get("arguments") or ""),
            )
        )
    return orjson.dumps(
        response_object(
            response_id or new_id(),
            created_at if created_at is not None else int(data.get("created") or time.time()),
            str(data.get("model") or echo.get("model") or ""),
            echo,
            status="incomplete" if reason else "completed",
            output=output,
            usage=usage(data.get("usage")),
            incomplete_reason=reason,
        )
    )


class _Item:
    """One output item being streamed: a message (text and/or refusal parts) or a function call."""

    __slots__ = ("call_id", "id", "index", "kind", "name", "parts", "status")

    def __init__(self, kind: str, index: int, call_id: str = "", name: str = "") -> None:
        self.kind = kind
        self.index = index
        self.id = new_id("msg" if kind == "message" else "fc")
        self.call_id = call_id
        self.name = name
        self.parts: list[list[str]] = []  # message: [part type, text]; function call: [arguments]
        self.status: str | None = None  # set when the item is done

    def snapshot(self, status: str) -> dict[str, Any]:
        if self.kind == "function_call":
            args = self.parts[0][1] if self.parts else ""
            return function_call_item(self.id, status, self.call_id, self.name, args)
        content = [text_part(t) if k == "output_text" else refusal_part(t) for k, t in self.parts]
        return message_item(self.id, status, content)


class ChunksToEvents:
    """OpenAI chunk SSE (as Switchboard relays it) -> Responses stream events. One per stream.

    `feed(body)` takes each ASGI body message and returns the translated bytes (possibly empty).
    After the terminal event, `response` is the final response object (what `GET
    /v1/responses/{id}` and the conversation store keep) and `outcome` says which terminal event was
    sent: "completed", "incomplete" or "failed" (None while the stream is unfinished).
    """

    def __init__(
        self,
        model: str,
        echo: Mapping[str, Any] | None = None,
        *,
        response_id: str | None = None,
        created_at: int | None = None,
    ) -> None:
        self.id = response_id or new_id()
        self._model = model
        self._echo: Mapping[str, Any] = echo or {}
        self._created = created_at if created_at is not None else int(time.time())
        self._splitter = SSESplitter()
        self._seq = 0
        self._started = False
        self._items: list[_Item] = []
        self._message: _Item | None = None
        self._calls: dict[int, _Item] = {}
        self._finish: str | None = None
        self._usage: dict[str, Any] | None = None
        self.response: dict[str, Any] | None = None
        self.outcome: str | None = None

    def feed(self, body: bytes) -> bytes:
        out: list[bytes] = []
        terminal: int | None = None  # where this call's terminal event is in `out`
        for event in self._splitter.feed(body):
            if terminal is not None and event.startswith(b":"):
                out.insert(terminal, event)  # the relay's timing comment follows an error event
                terminal += 1
                continue
            running = self.outcome is None
            out.extend(self._translate(event))
            if running and self.outcome is not None:
                terminal = len(out) - 1
        return b"".join(out)

    def end(self) -> bytes:
        """Call when the upstream body is over: a stream cut before its end gets `response.failed`."""
        if self.outcome is not None:
            return b""
        error = {"message": "upstream stream ended before completion", "code": "stream_interrupted"}
        return b"".join(self._fail(error))

    # -- building events

    def _emit(self, name: str, payload: dict[str, Any]) -> bytes:
        payload = {"type": name, "sequence_number": self._seq, **payload}
        self._seq += 1
        return sse_event(name, payload)

    def _snapshot(self, status: str, **extra: Any) -> dict[str, Any]:
        item_status = "incomplete" if status in ("incomplete", "failed") else "completed"
        output = [i.snapshot(i.status or item_status) for i in self._items]
        if status == "in_progress":
            output = []
        return response_object(
            self.id, self._created, self._model, self._echo, status=status, output=output, **extra
        )

    def _start(self, chunk: Mapping[str, Any]) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        if isinstance(chunk.get("model"), str) and chunk["model"]:
            self._model = chunk["model"]
        created = self._snapshot("in_progress")
        return [
            self._emit("response.created", {"response": created}),
            self._emit("response.in_progress", {"response": created}),
        ]

    def _open(self, item: _Item) -> bytes:
        self._items.append(item)
        return self._emit(
            "response.output_item.added",
            {"output_index": item.index, "item": item.snapshot("in_progress")},
        )

    def _text(self, kind: str, delta: str) -> list[bytes]:
        out: list[bytes] = []
        item = self._message
        if item is None:
            item = self._message = _Item("message", len(self._items))
            out.append(self._open(item))
        if not item.parts or item.parts[-1][0] != kind:
            out += self._close_part(item)
            item.parts.append([kind, ""])
            added = text_part("") if kind == "output_text" else refusal_part("")
            out.append(self._emit("response.content_part.added", {**self._at(item), "part": added}))
        item.parts[-1][1] += delta
        name = "response.output_text.delta" if kind == "output_text" else "response.refusal.delta"
        extra: dict[str, Any] = {"logprobs": []} if kind == "output_text" else {}
        out.append(self._emit(name, {**self._at(item), "delta": delta, **extra}))
        return out

    def _at(self, item: _Item) -> dict[str, Any]:
        return {"item_id": item.id, "output_index": item.index, "content_index": max(0, len(item.parts) - 1)}

    def _close_part(self, item: _Item) -> list[bytes]:
        if not item.parts:
            return []
        kind, text = item.parts[-1]
        if kind == "output_text":
            done = self._emit("response.output_text.done", {**self._at(item), "text": text, "logprobs": []})
            part = text_part(text)
        else:
            done = self._emit("response.refusal.done", {**self._at(item), "refusal": text})
            part = refusal_part(text)
        return [done, self._emit("response.content_part.done", {**self._at(item), "part": part})]

    def _close(self, item: _Item, status: str) -> list[bytes]:
        if item.status is not None:
            return []
        out: list[bytes] = []
        if item.kind == "message":
            out += self._close_part(item)
            self._message = None
        else:
            if not item.parts:
                item.parts.append(["arguments", ""])
            done = {"item_id": item.id, "output_index": item.index, "arguments": item.parts[0][1]}
            out.append(self._emit("response.function_call_arguments.done", done))
        item.status = status
        snapshot = item.snapshot(status)
        out.append(self._emit("response.output_item.done", {"output_index": item.index, "item": snapshot}))
        return out

    def _tool_call(self, call: Mapping[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        index = call.get("index")
        key = index if isinstance(index, int) else 0
        function = call.get("function") or {}
        item = self._calls.get(key)
        if item is not None and call.get("id") and call["id"] != item.call_id:
            key, item = -1 - len(self._calls), None  # calls without indexes, told apart by their ids
        if item is None:
            # Items are finished in order, as the API streams them: the text before a tool call, the
            # call before the next one. (No provider interleaves calls; if one did, a late fragment
            # would still reach the final response, but not that call's `.done` events.)
            for earlier in self._items:
                out += self._close(earlier, "completed")
            call_id = str(call.get("id") or new_id("call"))
            item = _Item("function_call", len(self._items), call_id, str(function.get("name") or ""))
            item.parts.append(["arguments", ""])
            self._calls[key] = item
            out.append(self._open(item))
        elif function.get("name") and not item.name:
            item.name = str(function["name"])
        delta = function.get("arguments")
        if isinstance(delta, str) and delta:
            item.parts[0][1] += delta
            if item.status is not None:
                return out
            payload = {"item_id": item.id, "output_index": item.index, "delta": delta}
            out.append(self._emit("response.function_call_arguments.delta", payload))
        return out

    # -- the terminal events

    def _finish_items(self) -> list[bytes]:
        status = "incomplete" if self._finish in INCOMPLETE else "completed"
        out: list[bytes] = []
        for item in self._items:
            out += self._close(item, status)
        return out

    def _complete(self) -> list[bytes]:
        out = [*self._start({}), *self._finish_items()]
        reason = INCOMPLETE.get(self._finish or "")
        status = "incomplete" if reason else "completed"
        self.response = self._snapshot(status, usage=self._usage, incomplete_reason=reason)
        self.outcome = status
        out.append(self._emit(f"response.{status}", {"response": self.response}))
        return out

    def _fail(self, error: Any) -> list[bytes]:
        out = self._start({})
        self.response = self._snapshot("failed", usage=self._usage, error=failure(error))
        self.outcome = "failed"
        out.append(self._emit("response.failed", {"response": self.response}))
        return out

    def _translate(self, event: bytes) -> list[bytes]:
        if event.startswith(b":"):
            return [event]  # the timing comment and keep-alives pass as they are
        if self.outcome is not None:
            return []
        if is_done(event):
            return self._complete()
        if (payload := error_payload(event)) is not None:
            return self._fail(payload.get("error"))
        data = event_data(event)
        if data is None:
            return []
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            chunk = None
        if not isinstance(chunk, dict):  # not a chunk: output was lost, the client must know
            return self._fail({"message": "malformed upstream stream event", "code": BAD_UPSTREAM_EVENT})
        out = self._start(chunk)
        if isinstance(chunk.get("usage"), dict):
            self._usage = usage(chunk["usage"])
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                delta = {}
            if isinstance(delta.get("content"), str) and delta["content"]:
                out += self._text("output_text", delta["content"])
            if isinstance(delta.get("refusal"), str) and delta["refusal"]:
                out += self._text("refusal", delta["refusal"])
            calls = delta.get("tool_calls")
            for call in calls if isinstance(calls, list) else ():
                if isinstance(call, dict):
                    out += self._tool_call(call)
            if choice.get("finish_reason"):
                self._finish = str(choice["finish_reason"])
                out += self._finish_items()
        return out
