"""The in-process OpenAI-compatible server behind the `mock` provider (see `mock.py` for the
behaviours a model name selects). An httpx transport: loaded only when a mock provider is used."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from switchboard.providers.embeddings import openai_embeddings
from switchboard.providers.mock import CREATED
from switchboard.wire.openai import (
    DONE,
    choice,
    chunk,
    completion_body,
    error_object,
    usage_chunk,
    usage_object,
)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def _prompt_words(messages: list[Any]) -> int:
    return sum(len(_text_of(m.get("content")).split()) for m in messages if isinstance(m, dict))


class _Behaviour:
    def __init__(self, model: str) -> None:
        self.kind = model
        self.count = 0
        self.delay_ms = 0
        self.status = 200
        if m := re.fullmatch(r"delay-(\d+)", model):
            self.kind, self.delay_ms = "echo", int(m[1])
        elif m := re.fullmatch(r"stream-(\d+)(?:-(\d+))?", model):
            self.kind, self.count, self.delay_ms = "stream", int(m[1]), int(m[2] or 0)
        elif m := re.fullmatch(r"error-(\d{3})", model):
            self.kind, self.status = "error", int(m[1])
        elif m := re.fullmatch(r"cut-(\d+)", model):
            self.kind, self.count = "cut", int(m[1])
        elif model not in ("echo", "hang", "tools", "embed"):
            self.kind, self.status = "unknown", 404


class MockUpstream(httpx.AsyncBaseTransport):
    """An in-process OpenAI-compatible server for the `mock` provider."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = orjson.loads(await request.aread())
        model = str(body.get("model", ""))
        if request.url.path.endswith("/embeddings"):
            return self._embeddings(body, model, request)
        behaviour = _Behaviour(model)
        if behaviour.kind == "hang":
            await asyncio.Event().wait()
        if behaviour.delay_ms and behaviour.kind == "echo":
            await asyncio.sleep(behaviour.delay_ms / 1000)
        if behaviour.status != 200:
            return self._error(behaviour.status, model)
        messages = body.get("messages") or []
        rid = "chatcmpl-mock-" + hashlib.sha256(orjson.dumps(messages)).hexdigest()[:24]
        tool_call = self._tool_call(body, behaviour, messages)
        words = self._words(behaviour, messages)
        usage = usage_object(_prompt_words(messages), len(words), cached=None)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            events = self._stream(rid, model, words, tool_call, usage if include_usage else None, behaviour)
            return httpx.Response(
                200, headers={"content-type": "text/event-stream"}, stream=_Stream(events), request=request
            )
        message: dict[str, Any] = {"role": "assistant", "content": " ".join(words) if not tool_call else None}
        if tool_call:
            message["tool_calls"] = [tool_call]
        if behaviour.kind == "cut":
            content = b'{"id": "' + rid.encode() + b'", "object": "chat.completion", "choi'
        else:
            answer = choice(0, message, "tool_calls" if tool_call else "stop")
            content = orjson.dumps(
                {**completion_body(rid, model, CREATED, [answer], usage), "system_fingerprint": "fp_mock"}
            )
        return httpx.Response(
            200, headers={"content-type": "application/json"}, content=content, request=request
        )

    @staticmethod
    def _embeddings(body: dict[str, Any], model: str, request: httpx.Request) -> httpx.Response:
        """`embed` (or anything but `error-<status>`): 8 numbers per input, derived from its text."""
        behaviour = _Behaviour(model)
        if behaviour.kind == "error":
            return MockUpstream._error(behaviour.status, model)
        value = body.get("input")
        texts = [value] if isinstance(value, str) else [str(v) for v in value or []]
        vectors = [[b / 255.0 for b in hashlib.sha256(t.encode()).digest()[:8]] for t in texts]
        tokens = sum(len(t.split()) for t in texts)
        return httpx.Response(
            200,
            content=openai_embeddings(vectors, model, body.get("encoding_format"), tokens),
            request=request,
        )

    @staticmethod
    def _error(status: int, model: str) -> httpx.Response:
        headers = {"content-type": "application/json"}
        if status == 429:
            headers["retry-after-ms"] = "100"
        kind = "invalid_request_error" if status < 500 else "server_error"
        message = f"mock error {status}" if status != 404 else f"mock model {model!r} does not exist"
        body = error_object(message, kind, None)
        return httpx.Response(status, headers=headers, content=orjson.dumps(body))

    @staticmethod
    def _words(behaviour: _Behaviour, messages: list[Any]) -> list[str]:
        if behaviour.kind in ("stream", "cut"):
            return [f"w{i}" for i in range(1, behaviour.count + 1)]
        return ["echo:", *_last_user_text(messages).split()]

    @staticmethod
    def _tool_call(body: dict[str, Any], behaviour: _Behaviour, messages: list[Any]) -> dict[str, Any] | None:
        tools = body.get("tools")
        if behaviour.kind != "tools" or not isinstance(tools, list) or not tools:
            return None
        function = tools[0].get("function", {}) if isinstance(tools[0], dict) else {}
        arguments = orjson.dumps({"echo": _last_user_text(messages)}).decode()
        return {
            "id": "call_mock_1",
            "type": "function",
            "function": {"name": function.get("name", ""), "arguments": arguments},
        }

    @staticmethod
    async def _stream(
        rid: str,
        model: str,
        words: list[str],
        tool_call: dict[str, Any] | None,
        usage: dict[str, Any] | None,
        behaviour: _Behaviour,
    ) -> AsyncIterator[bytes]:
        yield chunk(rid, model, CREATED, {"role": "assistant", "content": ""})
        if tool_call:
            args = tool_call["function"]["arguments"]
            half = len(args) // 2
            first = {
                **tool_call,
                "function": {"name": tool_call["function"]["name"], "arguments": args[:half]},
            }
            yield chunk(rid, model, CREATED, {"tool_calls": [{"index": 0, **first}]})
            yield chunk(
                rid, model, CREATED, {"tool_calls": [{"index": 0, "function": {"arguments": args[half:]}}]}
            )
        else:
            for i, word in enumerate(words):
                if behaviour.delay_ms:
                    await asyncio.sleep(behaviour.delay_ms / 1000)
                yield chunk(rid, model, CREATED, {"content": word if i == 0 else " " + word})
        if behaviour.kind == "cut":
            raise httpx.RemoteProtocolError("mock: connection dropped mid-stream")
        yield chunk(rid, model, CREATED, {}, "tool_calls" if tool_call else "stop")
        if usage is not None:
            yield usage_chunk(rid, model, CREATED, usage)
        yield DONE


class _Stream(httpx.AsyncByteStream):
    def __init__(self, events: AsyncIterator[bytes]) -> None:
        self._events = events

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for event in self._events:
            yield event

    async def aclose(self) -> None:
        await self._events.aclose()  # type: ignore[attr-defined]
