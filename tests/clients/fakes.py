"""Tiny fake providers on 127.0.0.1 for the real-client tests: a fake Anthropic Messages API and a
fake OpenAI API (Responses + Chat Completions). Each records every request it gets (method, path,
query, headers, parsed body) and answers with a fixed text, or, when `tool_call` is set and the
request offers tools but carries no tool result yet, with one call of that tool (so an agent runs the
tool once, sends the result back, gets text and stops).

Answers follow the providers' published wire formats: JSON bodies and SSE streams with the real
event sequences (Anthropic: message_start, content_block_start, ping, content_block_delta...,
content_block_stop, message_delta, message_stop; Responses: response.created, response.in_progress,
response.output_item.added, response.content_part.added, response.output_text.delta...,
response.output_text.done, response.content_part.done, response.output_item.done,
response.completed, each with a sequence_number; Chat Completions: chunks then [DONE]).
Streams are written event by event with chunked transfer encoding (HTTP/1.1, keep-alive)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ANTHROPIC_ANSWER = "Hello from the fake Anthropic provider."
OPENAI_ANSWER = "Hello from the fake OpenAI provider."


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


def _pieces(text: str) -> list[str]:
    """The answer cut in three deltas, as a real stream would deliver it."""
    third = max(1, len(text) // 3)
    return [text[:third], text[third : 2 * third], text[2 * third :]]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _record(self) -> Recorded:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        split = urlsplit(self.path)
        rec = Recorded(self.command, split.path, parse_qs(split.query), headers, body)
        with self.server.lock:
            self.server.requests.append(rec)
        return rec

    def send_json(self, status: int, payload: Any, extra: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_sse(self, events: Iterator[bytes], extra: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        edit = self.server.fake.edit_stream
        for event in edit(list(events)) if edit else events:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_GET(self) -> None:
        self._record()
        self.server.fake.handle_get(self)

    def do_POST(self) -> None:
        rec = self._record()
        self.server.fake.handle_post(self, rec)

    def do_HEAD(self) -> None:
        self._record()
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    lock: threading.Lock
    requests: list[Recorded]
    fake: FakeProvider


class FakeProvider:
    """Base: a ThreadingHTTPServer on 127.0.0.1:<free port> in a daemon thread (`with` starts/stops)."""

    answer: str = ""

    def __init__(self, answer: str | None = None, tool_call: tuple[str, dict[str, Any]] | None = None):
        if answer is not None:
            self.answer = answer
        self.tool_call = tool_call
        self.edit_stream: Callable[[list[bytes]], list[bytes]] | None = None
        """Rewrites a stream's events before they are sent (experiments on what a client tolerates)."""
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.lock = threading.Lock()
        self._server.requests = []
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[Recorded]:
        with self._server.lock:
            return list(self._server.requests)

    def reset(self, tool_call: tuple[str, dict[str, Any]] | None = None) -> None:
        """Forget the recorded requests and set the tool behaviour (None: always answer text)."""
        with self._server.lock:
            self._server.requests.clear()
        self.tool_call = tool_call
        self.edit_stream = None

    def posts(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path == path]

    def __enter__(self) -> FakeProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def handle_get(self, h: _Handler) -> None:
        h.send_json(404, {"error": {"message": f"no route {h.path}", "type": "not_found"}})

    def handle_post(self, h: _Handler, rec: Recorded) -> None:
        raise NotImplementedError


def _sse(event: str | None, data: Any) -> bytes:
    head = f"event: {event}\n" if event else ""
    body = data if isinstance(data, str) else json.dumps(data)
    return f"{head}data: {body}\n\n".encode()


# --------------------------------------------------------------------------- Anthropic


def _anthropic_has_tool_result(body: dict[str, Any]) -> bool:
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, list) and any(
            isinstance(b, dict) and b.get("type") == "tool_result" for b in content
        ):
            return True
    return False


class FakeAnthropic(FakeProvider):
    """POST /v1/messages (JSON and SSE), POST /v1/messages/count_tokens; GET anything: 404."""

    answer = ANTHROPIC_ANSWER

    def handle_post(self, h: _Handler, rec: Recorded) -> None:
        body = rec.body if isinstance(rec.body, dict) else {}
        if rec.path.endswith("/v1/messages/count_tokens"):
            h.send_json(200, {"input_tokens": max(1, len(json.dumps(body)) // 4)})
            return
        if not rec.path.endswith("/v1/messages"):
            h.send_json(404, {"type": "error", "error": {"type": "not_found_error", "message": "not found"}})
            return
        model = body.get("model", "unknown")
        use_tool = (
            self.tool_call is not None and bool(body.get("tools")) and not _anthropic_has_tool_result(body)
        )
        msg_id = f"msg_fake{uuid.uuid4().hex[:20]}"
        usage_in = {"input_tokens": 25, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        if use_tool:
            assert self.tool_call is not None
            name, args = self.tool_call
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": f"toolu_fake{uuid.uuid4().hex[:16]}",
                "name": name,
                "input": args,
            }
            stop_reason = "tool_use"
        else:
            block = {"type": "text", "text": self.answer}
            stop_reason = "end_turn"
        if not body.get("stream"):
            h.send_json(
                200,
                {
                    "id": msg_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [block],
                    "stop_reason": stop_reason,
                    "stop_sequence": None,
                    "usage": {**usage_in, "output_tokens": 9},
                },
                {"request-id": "req_fake"},
            )
            return

        def events() -> Iterator[bytes]:
            yield _sse(
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": msg_id,
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {**usage_in, "output_tokens": 1},
                    },
                },
            )
            if block["type"] == "text":
                yield _sse(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
                yield _sse("ping", {"type": "ping"})
                for piece in _pieces(self.answer):
                    yield _sse(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": 0,
                            "delta": {"type": "text_delta", "text": piece},
                        },
                    )
            else:
                yield _sse(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {
                            "type": "tool_use",
                            "id": block["id"],
                            "name": block["name"],
                            "input": {},
                        },
                    },
                )
                yield _sse("ping", {"type": "ping"})
                args_json = json.dumps(block["input"])
                for piece in _pieces(args_json):
                    yield _sse(
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": 0,
                            "delta": {"type": "input_json_delta", "partial_json": piece},
                        },
                    )
            yield _sse("content_block_stop", {"type": "content_block_stop", "index": 0})
            yield _sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": 9},
                },
            )
            yield _sse("message_stop", {"type": "message_stop"})

        h.send_sse(events(), {"request-id": "req_fake"})


# --------------------------------------------------------------------------- OpenAI


def _responses_has_tool_output(body: dict[str, Any]) -> bool:
    items = body.get("input")
    return isinstance(items, list) and any(
        isinstance(i, dict) and i.get("type") in ("function_call_output", "custom_tool_call_output")
        for i in items
    )


def _chat_has_tool_output(body: dict[str, Any]) -> bool:
    return any(isinstance(m, dict) and m.get("role") == "tool" for m in body.get("messages") or [])


class FakeOpenAI(FakeProvider):
    """POST /v1/responses and /v1/chat/completions (JSON and SSE); GET /v1/models (empty list)."""

    answer = OPENAI_ANSWER

    def handle_get(self, h: _Handler) -> None:
        if urlsplit(h.path).path.endswith("/models"):
            h.send_json(200, {"object": "list", "data": []})
            return
        super().handle_get(h)

    def handle_post(self, h: _Handler, rec: Recorded) -> None:
        body = rec.body if isinstance(rec.body, dict) else {}
        if rec.path.endswith("/v1/responses"):
            self._responses(h, body)
        elif rec.path.endswith("/v1/chat/completions"):
            self._chat(h, body)
        else:
            h.send_json(
                404,
                {
                    "error": {
                        "message": f"no route {rec.path}",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "not_found",
                    }
                },
            )

    # ---- Responses API

    def _responses(self, h: _Handler, body: dict[str, Any]) -> None:
        model = body.get("model", "unknown")
        resp_id = f"resp_fake{uuid.uuid4().hex[:20]}"
        created = int(time.time())
        use_tool = (
            self.tool_call is not None and bool(body.get("tools")) and not _responses_has_tool_output(body)
        )
        if use_tool:
            assert self.tool_call is not None
            name, args = self.tool_call
            item: dict[str, Any] = {
                "id": f"fc_fake{uuid.uuid4().hex[:16]}",
                "type": "function_call",
                "status": "completed",
                "call_id": f"call_fake{uuid.uuid4().hex[:12]}",
                "name": name,
                "arguments": json.dumps(args),
            }
        else:
            item = {
                "id": f"msg_fake{uuid.uuid4().hex[:16]}",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": self.answer, "annotations": [], "logprobs": []}],
            }
        usage = {
            "input_tokens": 30,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 9,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 39,
        }

        def response(status: str, output: list[Any], with_usage: bool) -> dict[str, Any]:
            return {
                "id": resp_id,
                "object": "response",
                "created_at": created,
                "status": status,
                "error": None,
                "incomplete_details": None,
                "instructions": body.get("instructions"),
                "max_output_tokens": body.get("max_output_tokens"),
                "model": model,
                "output": output,
                "parallel_tool_calls": body.get("parallel_tool_calls", True),
                "previous_response_id": None,
                "reasoning": {"effort": None, "summary": None},
                "store": body.get("store", True),
                "temperature": 1.0,
                "text": {"format": {"type": "text"}},
                "tool_choice": "auto",
                "tools": [],
                "top_p": 1.0,
                "truncation": "disabled",
                "usage": usage if with_usage else None,
                "user": None,
                "metadata": {},
            }

        if not body.get("stream"):
            h.send_json(200, response("completed", [item], True))
            return

        def events() -> Iterator[bytes]:
            seq = 0

            def ev(kind: str, **fields: Any) -> bytes:
                nonlocal seq
                out = _sse(kind, {"type": kind, "sequence_number": seq, **fields})
                seq += 1
                return out

            yield ev("response.created", response=response("in_progress", [], False))
            yield ev("response.in_progress", response=response("in_progress", [], False))
            if item["type"] == "function_call":
                yield ev(
                    "response.output_item.added",
                    output_index=0,
                    item={**item, "status": "in_progress", "arguments": ""},
                )
                for piece in _pieces(item["arguments"]):
                    yield ev(
                        "response.function_call_arguments.delta",
                        item_id=item["id"],
                        output_index=0,
                        delta=piece,
                    )
                yield ev(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=0,
                    arguments=item["arguments"],
                )
            else:
                yield ev(
                    "response.output_item.added",
                    output_index=0,
                    item={**item, "status": "in_progress", "content": []},
                )
                yield ev(
                    "response.content_part.added",
                    item_id=item["id"],
                    output_index=0,
                    content_index=0,
                    part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
                )
                for piece in _pieces(self.answer):
                    yield ev(
                        "response.output_text.delta",
                        item_id=item["id"],
                        output_index=0,
                        content_index=0,
                        delta=piece,
                        logprobs=[],
                    )
                yield ev(
                    "response.output_text.done",
                    item_id=item["id"],
                    output_index=0,
                    content_index=0,
                    text=self.answer,
                    logprobs=[],
                )
                yield ev(
                    "response.content_part.done",
                    item_id=item["id"],
                    output_index=0,
                    content_index=0,
                    part=item["content"][0],
                )
            yield ev("response.output_item.done", output_index=0, item=item)
            yield ev("response.completed", response=response("completed", [item], True))

        h.send_sse(events(), {"x-request-id": "req_fake"})

    # ---- Chat Completions

    def _chat(self, h: _Handler, body: dict[str, Any]) -> None:
        model = body.get("model", "unknown")
        chat_id = f"chatcmpl-fake{uuid.uuid4().hex[:16]}"
        created = int(time.time())
        use_tool = self.tool_call is not None and bool(body.get("tools")) and not _chat_has_tool_output(body)
        usage = {"prompt_tokens": 30, "completion_tokens": 9, "total_tokens": 39}
        call: dict[str, Any] | None = None
        if use_tool:
            assert self.tool_call is not None
            name, args = self.tool_call
            call = {
                "id": f"call_fake{uuid.uuid4().hex[:12]}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
        finish = "tool_calls" if call else "stop"
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": None if call else self.answer}
            if call:
                message["tool_calls"] = [call]
            h.send_json(
                200,
                {
                    "id": chat_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": usage,
                },
            )
            return
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            return _sse(
                None,
                {
                    "id": chat_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
                },
            )

        def events() -> Iterator[bytes]:
            yield chunk({"role": "assistant", "content": ""})
            if call:
                yield chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": call["id"],
                                "type": "function",
                                "function": {"name": call["function"]["name"], "arguments": ""},
                            }
                        ]
                    }
                )
                for piece in _pieces(call["function"]["arguments"]):
                    yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            else:
                for piece in _pieces(self.answer):
                    yield chunk({"content": piece})
            yield chunk({}, finish)
            if include_usage:
                yield _sse(
                    None,
                    {
                        "id": chat_id,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "choices": [],
                        "usage": usage,
                    },
                )
            yield _sse(None, "[DONE]")

        h.send_sse(events())


# --------------------------------------------------------------------------- Gemini

GEMINI_ANSWER = "Hello from the fake Gemini provider."


def _gemini_has_function_response(body: dict[str, Any]) -> bool:
    return any(
        isinstance(part, dict) and "functionResponse" in part
        for turn in body.get("contents") or []
        if isinstance(turn, dict)
        for part in turn.get("parts") or []
    )


class FakeGemini(FakeProvider):
    """POST /v1beta/models/{model}:generateContent, :streamGenerateContent?alt=sse (SSE: one
    GenerateContentResponse per `data:` event, the last with finishReason and usageMetadata, then
    the stream closes) and :countTokens; GET /v1beta/models/{model}; errors Google-shaped."""

    answer = GEMINI_ANSWER

    def handle_get(self, h: _Handler) -> None:
        path = urlsplit(h.path).path
        if path.startswith("/v1beta/models/"):
            name = path.removeprefix("/v1beta/models/")
            h.send_json(200, {"name": f"models/{name}", "baseModelId": name, "version": "001"})
            return
        h.send_json(404, {"error": {"code": 404, "message": f"no route {path}", "status": "NOT_FOUND"}})

    def handle_post(self, h: _Handler, rec: Recorded) -> None:
        body = rec.body if isinstance(rec.body, dict) else {}
        model, _, method = rec.path.removeprefix("/v1beta/models/").rpartition(":")
        if method == "countTokens":
            h.send_json(200, {"totalTokens": max(1, len(json.dumps(body)) // 4)})
            return
        if method not in ("generateContent", "streamGenerateContent"):
            h.send_json(404, {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}})
            return
        use_tool = (
            self.tool_call is not None and bool(body.get("tools")) and not _gemini_has_function_response(body)
        )
        usage = {"promptTokenCount": 21, "candidatesTokenCount": 9, "totalTokenCount": 30}
        rid = f"fake{uuid.uuid4().hex[:12]}"
        if use_tool:
            assert self.tool_call is not None
            name, args = self.tool_call
            last: list[dict[str, Any]] = [{"functionCall": {"name": name, "args": args}}]
            pieces: list[str] = []
        else:
            last, pieces = [], _pieces(self.answer)

        def response(parts: list[dict[str, Any]], final: bool) -> dict[str, Any]:
            candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
            out: dict[str, Any] = {"candidates": [candidate], "modelVersion": model, "responseId": rid}
            if final:
                candidate["finishReason"] = "STOP"
                out["usageMetadata"] = usage
            return out

        if method == "generateContent":
            h.send_json(200, response(last or [{"text": self.answer}], True))
            return

        def events() -> Iterator[bytes]:
            for piece in pieces[:-1]:
                yield _sse(None, response([{"text": piece}], False))
            yield _sse(None, response(last or [{"text": pieces[-1]}], True))

        h.send_sse(events())
