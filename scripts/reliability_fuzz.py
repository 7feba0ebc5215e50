"""I4 of the reliability suite: fuzzed request bodies through a real `switchboard serve`, once per
provider type (openai, anthropic, gemini, bedrock, mock), must never get a 500, a dropped connection
or an error outside the route's shape (issue 16, item 4: 16 of 4,000 fuzzed bodies were 500s on
translated targets that trusted field types the dialect parser had not checked).

The corpus is deterministic (a seeded `random.Random`): rich valid bodies of each route (chat,
messages, responses, embeddings, count_tokens) with one to three values anywhere in them replaced
by a value of another type, deleted, or joined by an unknown key. `bodies(n, seed)` is also used by
the integration tests (a smaller slice). The fake upstream answers each provider's API validly
(fixtures under tests/fixtures/providers), so answers are translated back too; a 502/504 caused by
an upstream answer is not a failure, a 500 is.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "providers"
PROVIDER_TYPES = ("openai", "anthropic", "gemini", "bedrock", "mock")
PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def _templates() -> list[tuple[str, dict[str, Any]]]:
    chat = {
        "messages": [
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": PNG}}],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"x"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            {"role": "user", "content": "and now?", "name": "u"},
        ],
        "tools": [TOOL],
        "tool_choice": "auto",
        "stop": ["\n\n"],
        "temperature": 0.5,
        "top_p": 0.9,
        "max_tokens": 32,
        "n": 1,
        "seed": 1,
        "user": "u1",
        "metadata": {"a": "b"},
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "s",
                "schema": {"type": "object", "properties": {"a": {"type": "string"}}},
            },
        },
        "reasoning_effort": "low",
        "parallel_tool_calls": True,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.1,
        "logit_bias": {"50256": -100},
        "stream_options": {"include_usage": True},
    }
    messages = {
        "max_tokens": 32,
        "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG.split(",")[1]},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "calling"},
                    {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "x"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [{"type": "text", "text": "sunny"}],
                    }
                ],
            },
        ],
        "tools": [
            {"name": "get_weather", "description": "w", "input_schema": {"type": "object", "properties": {}}}
        ],
        "tool_choice": {"type": "auto"},
        "stop_sequences": ["END"],
        "temperature": 0.5,
        "top_k": 5,
        "metadata": {"user_id": "u"},
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    responses = {
        "instructions": "be brief",
        "input": [
            {
                "role": "user",
                "content": [{"type": "input_text", "text": "hi"}, {"type": "input_image", "image_url": PNG}],
            },
            {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": '{"city":"x"}'},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            {"role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
        ],
        "tools": [
            {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}
        ],
        "tool_choice": "auto",
        "reasoning": {"effort": "low", "summary": "auto"},
        "text": {"format": {"type": "json_schema", "name": "s", "schema": {"type": "object"}}},
        "max_output_tokens": 64,
        "temperature": 0.5,
        "top_p": 0.9,
        "store": False,
        "metadata": {"a": "b"},
        "parallel_tool_calls": True,
    }
    embeddings = {"input": ["a", "b"], "encoding_format": "float", "dimensions": 8}
    count = {"messages": [{"role": "user", "content": "hi"}], "system": "s", "tools": messages["tools"]}
    return [
        ("/v1/chat/completions", chat),
        ("/v1/messages", messages),
        ("/v1/responses", responses),
        ("/v1/embeddings", embeddings),
        ("/v1/messages/count_tokens", count),
    ]


def _value(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["none", "bool", "int", "float", "str", "emptystr", "list", "dict", "bigint", "negative"]
    if depth > 1:
        kinds = kinds[:6]
    kind = rng.choice(kinds)
    if kind == "none":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.randint(0, 5)
    if kind == "float":
        return rng.choice([1.5, 0.0, -2.5, 1e300])
    if kind == "str":
        return rng.choice(["x", "auto", "function", "text", "user", "a\u00e9", "none", "high"])
    if kind == "emptystr":
        return ""
    if kind == "bigint":
        return 2**62
    if kind == "negative":
        return -1
    if kind == "list":
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 2))]
    return {
        rng.choice(["type", "text", "name", "x", "url"]): _value(rng, depth + 1)
        for _ in range(rng.randint(0, 2))
    }


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from _paths(item, (*prefix, index))


def _mutate(rng: random.Random, body: dict[str, Any]) -> None:
    paths = [p for p in _paths(body) if p[0] != "model"]
    for _ in range(rng.randint(1, 3)):
        if not paths:
            return
        path = rng.choice(paths)
        parent: Any = body
        try:
            for step in path[:-1]:
                parent = parent[step]
            if isinstance(parent, dict) != isinstance(path[-1], str):  # an earlier change moved it
                continue
            action = rng.random()
            if action < 0.75:
                parent[path[-1]] = _value(rng)
            elif action < 0.9 and isinstance(parent, dict):
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent["zz_" + rng.choice(["x", "type", "id"])] = _value(rng)
        except (KeyError, IndexError, TypeError):
            continue


def bodies(count: int, seed: int = 16_004) -> Iterator[tuple[str, dict[str, Any]]]:
    """`count` (route, body without `model`) pairs; the same for the same seed."""
    rng = random.Random(seed)
    templates = _templates()
    for _ in range(count):
        route, template = rng.choice(templates)
        body = copy.deepcopy(template)
        if route != "/v1/embeddings" and route != "/v1/messages/count_tokens" and rng.random() < 0.4:
            body["stream"] = True
        _mutate(rng, body)
        yield route, body


def fixture(provider: str, name: str) -> bytes:
    return (FIXTURES / provider / name).read_bytes()


def upstream_answer(path: str, stream: bool) -> tuple[int, str, bytes] | None:
    """A valid answer of the provider API that `path` belongs to (Gemini, Bedrock), or None."""
    if ":streamGenerateContent" in path:
        return 200, "text/event-stream", fixture("gemini", "stream_text.sse")
    if ":generateContent" in path:
        return 200, "application/json", fixture("gemini", "completion.json")
    if ":embedContent" in path or ":batchEmbedContents" in path:
        return 200, "application/json", fixture("gemini", "embeddings.json")
    if path.endswith("/converse-stream"):
        return 200, "application/vnd.amazon.eventstream", fixture("bedrock", "stream_text.eventstream")
    if path.endswith("/converse"):
        return 200, "application/json", fixture("bedrock", "completion.json")
    if path.endswith("/invoke"):
        return 200, "application/json", fixture("bedrock", "embeddings_titan.json")
    return None


def config_lines(base: str) -> list[str]:
    """Providers and models of the fuzz run: model `fz-<type>` on each provider type."""
    root = base.removesuffix("/v1")
    return [
        f'[providers.fz-openai]\ntype = "openai"\nbase_url = "{base}"\napi_key_env = "REL_OPENAI_KEY"\n'
        "responses_api = false\n",
        f'[providers.fz-anthropic]\ntype = "anthropic"\nbase_url = "{base}"\napi_key_env = '
        f'"REL_ANTHROPIC_KEY"\n',
        f'[providers.fz-gemini]\ntype = "gemini"\nbase_url = "{root}/v1beta"\napi_key_env = '
        f'"REL_OPENAI_KEY"\n',
        f'[providers.fz-bedrock]\ntype = "bedrock"\nregion = "us-east-1"\nbase_url = "{root}"\n',
        '[providers.fz-mock]\ntype = "mock"\n',
        '[models.fz-openai]\ntargets = ["fz-openai/ok"]\n',
        '[models.fz-anthropic]\ntargets = ["fz-anthropic/ok"]\n',
        '[models.fz-gemini]\ntargets = ["fz-gemini/gemini-x"]\n',
        '[models.fz-bedrock]\ntargets = ["fz-bedrock/anthropic.claude-x"]\n',
        '[models.fz-mock]\ntargets = ["fz-mock/echo"]\n',
        # I8: a Bedrock answer echoing the credential; I13: malformed events on a translated stream
        '[models.fz-leak]\ntargets = ["fz-bedrock/anthropic.leak"]\n',
        '[models.fz-openai-stream-malformed]\ntargets = ["fz-openai/stream-malformed"]\n',
        '[models.fz-openai-stream-array-event]\ntargets = ["fz-openai/stream-array-event"]\n',
    ]


def failure(route: str, status: int, body: bytes) -> str | None:
    """Why an answer to a fuzzed body fails I4 (None: it holds)."""
    if status == 0:
        return "no answer (dropped connection or timeout)"
    if status == 500:
        return "500"
    if status < 400:
        return None
    try:
        payload = json.loads(body)
    except ValueError:
        return f"{status} with a body that is not JSON"
    if route.startswith("/v1/messages"):
        err = payload.get("error") if isinstance(payload, dict) else None
        ok = payload.get("type") == "error" and isinstance(err, dict) and set(err) == {"type", "message"}
    else:
        err = payload.get("error") if isinstance(payload, dict) else None
        ok = isinstance(err, dict) and set(err) == {"message", "type", "param", "code"}
    return None if ok else f"{status} not in the route's error shape"
