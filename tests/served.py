"""A real `switchboard serve` subprocess against one loopback fake of every provider API, for tests
of what clients see through a translated target (structured output, usage, malformed streams).

`FakeProviders` answers, by path, as OpenAI Chat Completions and Responses, Anthropic Messages,
Gemini `generateContent` / `streamGenerateContent?alt=sse` and Bedrock Converse / ConverseStream
(binary event stream) would, JSON and streamed, and records every request body. What it answers
follows what it was asked: a request for structured output (`response_format`, `text.format`,
`output_config.format`, `responseJsonSchema`, `outputConfig.textFormat`) gets `ANSWER` as JSON
text, a request forcing one tool gets a call of that tool with `ANSWER` as its input, a JSON request
offering tools and carrying no tool result yet gets a call of its first tool with an input made from
that tool's schema (required strings "Oslo", numbers 3: an agent runs it and comes back with the
result), anything else gets plain text. Every answer reports the same token counts (`USAGE`: 11 fresh input tokens, 3
cache reads, 2 cache writes where the API has them, 7 output tokens), each in its API's shape. A
model name starting with `bad-` makes an OpenAI chat stream carry one malformed event
(`bad-text`: not JSON, `bad-array`: a JSON array) between two good ones.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import real_serve

ANSWER = {"city": "Oslo", "temp": 3}
_RESULT_MARKS = ('"role": "tool"', "function_call_output", '"tool_result"', "functionResponse", "toolResult")
FRESH, CACHE_READ, CACHE_WRITE, OUTPUT = 11, 3, 2, 7
"""The counts every fake answer reports (OpenAI and Gemini have no cache writes)."""
UPSTREAM_KEY = "sk-fake-upstream-0123456789"
EVERY_KIND = {
    "openai": "oa/gpt-fake",
    "anthropic": "an/claude-sonnet-4-5",
    "gemini": "ge/gemini-2.5-flash",
    "bedrock": "br/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "claude-sonnet-4-5": "oc/gpt-fake",  # a Claude id the Anthropic SDKs know, served by a chat target
}
"""Public models, one per target kind, for a gateway in front of `FakeProviders` (`provider_config`)."""


@dataclass
class Seen:
    path: str
    body: Any


def _bedrock_frame(kind: str, payload: dict[str, Any]) -> bytes:
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    raw = b"".join(
        len(k).to_bytes(1, "big") + k.encode() + b"\x07" + len(v).to_bytes(2, "big") + v.encode()
        for k, v in headers.items()
    )
    data = json.dumps(payload).encode()
    total = 12 + len(raw) + len(data) + 4
    prelude = total.to_bytes(4, "big") + len(raw).to_bytes(4, "big")
    message = prelude + zlib.crc32(prelude).to_bytes(4, "big") + raw + data
    return message + zlib.crc32(message).to_bytes(4, "big")


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return (head + "data: " + (data if isinstance(data, str) else json.dumps(data)) + "\n\n").encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"null")
        path = self.path.split("?", 1)[0]
        self.server.seen.append(Seen(self.path, body))
        streamed = bool(body.get("stream")) or "stream" in path.lower() or path.endswith("converse-stream")
        if path.endswith("/chat/completions"):
            parts = _openai_chat(body, streamed)
        elif path.endswith("/responses"):
            parts = _openai_responses(body, streamed)
        elif path.endswith("/messages"):
            parts = _anthropic(body, streamed)
        elif ":generateContent" in path or ":streamGenerateContent" in path:
            parts = _gemini(body, streamed)
        elif path.endswith("/converse") or path.endswith("/converse-stream"):
            parts = _bedrock(body, streamed)
        else:
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        kind = "application/json"
        if streamed:
            kind = "application/vnd.amazon.eventstream" if "converse" in path else "text/event-stream"
        self.send_response(200)
        self.send_header("content-type", kind)
        if not streamed:
            self.send_header("content-length", str(len(parts[0])))
            self.end_headers()
            self.wfile.write(parts[0])
            return
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for part in parts:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    seen: list[Seen]


class FakeProviders:
    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.seen = []
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def seen(self) -> list[Seen]:
        return self._server.seen

    def last(self) -> Seen:
        return self._server.seen[-1]

    def __enter__(self) -> FakeProviders:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# --------------------------------------------------------------------------- what each API answers


def _forced_tool(body: dict[str, Any]) -> str | None:
    """The tool a request forces (OpenAI, Anthropic, Bedrock shapes), if any."""
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool":
        return str(choice["name"])
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return str(choice["function"]["name"])
    bedrock = (body.get("toolConfig") or {}).get("toolChoice") or {}
    return str(bedrock["tool"]["name"]) if "tool" in bedrock else None


def _tool_to_call(body: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The first offered tool and an input for it, when the conversation has no tool result yet
    (any API's shape)."""
    if _forced_tool(body) or any(mark in json.dumps(body) for mark in _RESULT_MARKS):
        return None
    tools = body.get("tools") or (body.get("toolConfig") or {}).get("tools") or []
    if not tools:
        return None
    first = tools[0]
    declared = (first.get("functionDeclarations") or [{}])[0]
    for name, schema in (
        (first.get("name"), first.get("input_schema") or first.get("parameters")),
        ((first.get("function") or {}).get("name"), (first.get("function") or {}).get("parameters")),
        (declared.get("name"), declared.get("parameters")),
        (
            (first.get("toolSpec") or {}).get("name"),
            ((first.get("toolSpec") or {}).get("inputSchema") or {}).get("json"),
        ),
    ):
        if isinstance(name, str):
            return name, _input_for(schema or {})
    return None


def _input_for(schema: dict[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties") or {}
    return {
        key: 3 if (properties.get(key) or {}).get("type") in ("number", "integer") else "Oslo"
        for key in schema.get("required") or list(properties)
    }


def _wants_json(body: dict[str, Any]) -> bool:
    fmt = body.get("response_format") or ((body.get("text") or {}).get("format")) or {}
    return (
        fmt.get("type") in ("json_schema", "json_object")
        or "format" in (body.get("output_config") or {})
        or "responseJsonSchema" in (body.get("generationConfig") or {})
        or "responseSchema" in (body.get("generationConfig") or {})  # google-genai's form for pydantic
        or "textFormat" in (body.get("outputConfig") or {})
    )


def _text(body: dict[str, Any]) -> str:
    return json.dumps(ANSWER) if _wants_json(body) else "plain answer"


def _openai_chat(body: dict[str, Any], streamed: bool) -> list[bytes]:
    usage = {
        "prompt_tokens": FRESH + CACHE_READ,
        "completion_tokens": OUTPUT,
        "total_tokens": FRESH + CACHE_READ + OUTPUT,
        "prompt_tokens_details": {"cached_tokens": CACHE_READ},
    }
    text = _text(body)
    base = {"id": "chatcmpl-fake", "created": 1, "model": body["model"]}
    if not streamed:
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
        finish = "stop"
        if (called := _tool_to_call(body)) is not None:
            call = {
                "id": "call_1",
                "type": "function",
                "function": {"name": called[0], "arguments": json.dumps(called[1])},
            }
            message, finish = {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        return [
            json.dumps({**base, "object": "chat.completion", "choices": [choice], "usage": usage}).encode()
        ]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _sse({**base, "object": "chat.completion.chunk", "choices": [choice]})

    half = len(text) // 2
    parts = [chunk({"role": "assistant", "content": ""}), chunk({"content": text[:half]})]
    if body["model"] == "bad-text":
        parts.append(b"data: this is not json\n\n")
    elif body["model"] == "bad-array":
        parts.append(b"data: [1, 2, 3]\n\n")
    parts += [chunk({"content": text[half:]}), chunk({}, "stop")]
    parts.append(_sse({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}))
    return [*parts, b"data: [DONE]\n\n"]


def _openai_responses(body: dict[str, Any], streamed: bool) -> list[bytes]:
    text = _text(body)
    usage = {
        "input_tokens": FRESH + CACHE_READ,
        "input_tokens_details": {"cached_tokens": CACHE_READ},
        "output_tokens": OUTPUT,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": FRESH + CACHE_READ + OUTPUT,
    }
    part = {"type": "output_text", "text": text, "annotations": []}
    item: dict[str, Any] = {
        "id": "msg_fake",
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [part],
    }
    if (called := _tool_to_call(body)) is not None:
        item = {
            "id": "fc_fake",
            "type": "function_call",
            "status": "completed",
            "call_id": "call_1",
            "name": called[0],
            "arguments": json.dumps(called[1]),
        }
    response = {
        "id": "resp_fake",
        "object": "response",
        "created_at": 1,
        "status": "completed",
        "model": body["model"],
        "output": [item],
        "usage": usage,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "text": body.get("text") or {"format": {"type": "text"}},
    }
    if not streamed:
        return [json.dumps(response).encode()]
    started = {**response, "status": "in_progress", "output": [], "usage": None}
    opened = {**item, "status": "in_progress", "content": []}
    at = {"item_id": "msg_fake", "output_index": 0, "content_index": 0}
    events: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": started}),
        ("response.in_progress", {"response": started}),
        ("response.output_item.added", {"output_index": 0, "item": opened}),
        ("response.content_part.added", {**at, "part": {**part, "text": ""}}),
        ("response.output_text.delta", {**at, "delta": text, "logprobs": []}),
        ("response.output_text.done", {**at, "text": text, "logprobs": []}),
        ("response.content_part.done", {**at, "part": part}),
        ("response.output_item.done", {"output_index": 0, "item": item}),
        ("response.completed", {"response": response}),
    ]
    return [_sse({"type": name, "sequence_number": n, **data}, name) for n, (name, data) in enumerate(events)]


def _anthropic(body: dict[str, Any], streamed: bool) -> list[bytes]:
    usage = {
        "input_tokens": FRESH,
        "cache_read_input_tokens": CACHE_READ,
        "cache_creation_input_tokens": CACHE_WRITE,
        "output_tokens": OUTPUT,
    }
    tool = _forced_tool(body)
    block: dict[str, Any] = (
        {"type": "tool_use", "id": "toolu_1", "name": tool, "input": ANSWER}
        if tool
        else {"type": "text", "text": _text(body)}
    )
    if not streamed and (called := _tool_to_call(body)) is not None:
        tool, block = called[0], {"type": "tool_use", "id": "toolu_1", "name": called[0], "input": called[1]}
    stop = "tool_use" if tool else "end_turn"
    message = {"id": "msg_fake", "type": "message", "role": "assistant", "model": body["model"]}
    if not streamed:
        full = {**message, "content": [block], "stop_reason": stop, "stop_sequence": None, "usage": usage}
        return [json.dumps(full).encode()]
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": 1},
    }
    if tool:
        opened = {**block, "input": {}}
        delta = {"type": "input_json_delta", "partial_json": json.dumps(ANSWER)}
    else:
        opened = {"type": "text", "text": ""}
        delta = {"type": "text_delta", "text": block["text"]}
    return [
        _sse({"type": "message_start", "message": start}, "message_start"),
        _sse({"type": "content_block_start", "index": 0, "content_block": opened}, "content_block_start"),
        _sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta"),
        _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": OUTPUT},
            },
            "message_delta",
        ),
        _sse({"type": "message_stop"}, "message_stop"),
    ]


def _gemini(body: dict[str, Any], streamed: bool) -> list[bytes]:
    meta = {
        "promptTokenCount": FRESH + CACHE_READ,
        "cachedContentTokenCount": CACHE_READ,
        "candidatesTokenCount": OUTPUT,
        "totalTokenCount": FRESH + CACHE_READ + OUTPUT,
    }
    part: dict[str, Any] = {"text": _text(body)}
    if not streamed and (called := _tool_to_call(body)) is not None:
        part = {"functionCall": {"name": called[0], "args": called[1]}}
    answer = {
        "candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": meta,
        "modelVersion": "gemini-fake",
    }
    return [_sse(answer).replace(b"\n\n", b"\r\n\r\n")] if streamed else [json.dumps(answer).encode()]


def _bedrock(body: dict[str, Any], streamed: bool) -> list[bytes]:
    usage = {
        "inputTokens": FRESH,
        "outputTokens": OUTPUT,
        "totalTokens": FRESH + CACHE_READ + CACHE_WRITE + OUTPUT,
        "cacheReadInputTokens": CACHE_READ,
        "cacheWriteInputTokens": CACHE_WRITE,
    }
    tool = _forced_tool(body)
    content: dict[str, Any] = (
        {"toolUse": {"toolUseId": "tooluse_1", "name": tool, "input": ANSWER}}
        if tool
        else {"text": _text(body)}
    )
    if not streamed and (called := _tool_to_call(body)) is not None:
        tool, content = (
            called[0],
            {"toolUse": {"toolUseId": "tooluse_1", "name": called[0], "input": called[1]}},
        )
    stop = "tool_use" if tool else "end_turn"
    if not streamed:
        answer = {
            "output": {"message": {"role": "assistant", "content": [content]}},
            "stopReason": stop,
            "usage": usage,
            "metrics": {"latencyMs": 5},
        }
        return [json.dumps(answer).encode()]
    frames = [_bedrock_frame("messageStart", {"role": "assistant"})]
    if tool:
        start = {"toolUse": {"toolUseId": "tooluse_1", "name": tool}}
        frames.append(_bedrock_frame("contentBlockStart", {"contentBlockIndex": 0, "start": start}))
        delta = {"toolUse": {"input": json.dumps(ANSWER)}}
    else:
        delta = {"text": content["text"]}
    frames += [
        _bedrock_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": delta}),
        _bedrock_frame("contentBlockStop", {"contentBlockIndex": 0}),
        _bedrock_frame("messageStop", {"stopReason": stop}),
        _bedrock_frame("metadata", {"usage": usage, "metrics": {"latencyMs": 5}}),
    ]
    return frames


# --------------------------------------------------------------------------- the gateway


@dataclass(frozen=True)
class Served:
    base: str
    """http://127.0.0.1:PORT (no /v1)."""
    key: str
    log: Path


def provider_config(root: str) -> str:
    """One provider of every type, all pointing at the fake."""
    return "\n".join(
        [
            "[providers.oa]",
            'type = "openai"',
            f'base_url = "{root}/v1"',
            'api_key_env = "FAKE_UPSTREAM_KEY"',
            "[providers.oc]",  # a chat-only OpenAI-compatible server: /v1/responses is translated
            'type = "openai"',
            f'base_url = "{root}/v1"',
            'api_key_env = "FAKE_UPSTREAM_KEY"',
            "responses_api = false",
            "[providers.an]",
            'type = "anthropic"',
            f'base_url = "{root}/v1"',
            'api_key_env = "FAKE_UPSTREAM_KEY"',
            "[providers.ge]",
            'type = "gemini"',
            f'base_url = "{root}/v1beta"',
            'api_key_env = "FAKE_UPSTREAM_KEY"',
            "[providers.br]",
            'type = "bedrock"',
            'region = "us-east-1"',
            f'base_url = "{root}"',
        ]
    )


@contextmanager
def serve(tmp: Path, providers: str, models: dict[str, str]) -> Iterator[Served]:
    """`switchboard serve` with `providers` (TOML) and `models` (public name -> one target)."""
    config = tmp / "switchboard.toml"
    lines = ["[routing]", "retry_budget = 0", "[store]", 'backend = "sqlite"']
    lines += [f"path = {json.dumps(str(tmp / 'state.db'))}", providers]
    for public, target in models.items():
        lines += [f'[models."{public}"]', f'targets = ["{target}"]']
    config.write_text("\n".join(lines) + "\n")
    env = {
        "FAKE_UPSTREAM_KEY": UPSTREAM_KEY,
        "AWS_ACCESS_KEY_ID": "AKIDFAKEFAKEFAKE",
        "AWS_SECRET_ACCESS_KEY": "fake-secret-key-for-tests",
    }
    with run_serve(config, env) as served:
        yield served


def create_key(config: Path, env: dict[str, str], *flags: str) -> str:
    """`switchboard keys create --config CONFIG FLAGS --json` (with `env`): the new key."""
    created = subprocess.run(
        [sys.executable, "-m", "switchboard", "keys", "create", "--config", str(config), *flags, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    key = json.loads(created.stdout)["key"]
    assert isinstance(key, str)
    return key


@contextmanager
def run_serve(config: Path, env: dict[str, str], tenant: str = "t") -> Iterator[Served]:
    """`switchboard serve --config CONFIG` (`tests/real_serve.py`) with one real gateway key of
    `tenant`; `env` is added to this process's environment."""
    key = real_serve.create_key(config, tenant=tenant, env=env)
    with real_serve.serve(config.parent, config.read_text(), env) as (server, _):
        yield Served(server.url, key, server.log)


def schema_sent(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(the form a structured-output request took upstream, its JSON schema), in any API's shape;
    `tool` for a JSON-output tool the model must call."""
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return "response_format", fmt["json_schema"]["schema"]
    text_format = (body.get("text") or {}).get("format") or {}
    if text_format.get("type") == "json_schema":
        return "text.format", text_format["schema"]
    if "format" in (body.get("output_config") or {}):
        return "output_config.format", body["output_config"]["format"]["schema"]
    if "responseJsonSchema" in (body.get("generationConfig") or {}):
        return "responseJsonSchema", body["generationConfig"]["responseJsonSchema"]
    if "textFormat" in (body.get("outputConfig") or {}):
        return "outputConfig.textFormat", json.loads(
            body["outputConfig"]["textFormat"]["structure"]["jsonSchema"]["schema"]
        )
    called = _tool_to_call(body) if _forced_tool(body) is None else None
    tools = body.get("tools") or (body.get("toolConfig") or {}).get("tools") or []
    if tools and (called is not None or _forced_tool(body) is not None):
        first = tools[0]
        schema = (
            first.get("input_schema")
            or (first.get("function") or {}).get("parameters")
            or ((first.get("functionDeclarations") or [{}])[0]).get("parameters")
            or ((first.get("toolSpec") or {}).get("inputSchema") or {}).get("json")
        )
        return "tool", schema or {}
    raise AssertionError(f"no structured-output request in {sorted(body)}")
