"""The Vercel AI SDK (npm `ai` 7 with `@ai-sdk/openai` and `@ai-sdk/anthropic`, pinned in
scripts/install-clients) through a real `switchboard serve` to a fake of every target kind:
generateText, streamText, a tool the SDK runs (two steps) and generateObject, with
`openai.responses(...)`, `openai.chat(...)` and `anthropic(...)` models. The fakes (`tests/served.py`)
record what reached them: the structured-output request arrives in each upstream's native form.

What the SDK sends for generateObject (observed with these versions): `openai.responses` ->
`text.format` json_schema; `openai.chat` -> `response_format` json_schema; `anthropic` ->
`output_config.format` json_schema for model ids it knows (e.g. `claude-sonnet-4-5`), else a
`json` tool forced with `tool_choice: any`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clients.harness import run_vercel
from served import ANSWER, CACHE_READ, CACHE_WRITE, FRESH, OUTPUT, FakeProviders, Served, schema_sent

pytestmark = [pytest.mark.loopback, pytest.mark.usefixtures("vercel_ai")]

TARGETS = ("openai", "anthropic", "gemini", "bedrock")
APIS = ("responses", "chat", "anthropic")
# Where generateObject's schema reaches each target kind (the client's form, translated).
NATIVE = {
    "openai": "response_format",
    "anthropic": "output_config.format",
    "gemini": "responseJsonSchema",
    "bedrock": "outputConfig.textFormat",
}


def run(gateway: Served, api: str, model: str, scenario: str, tmp_path: Path) -> dict[str, Any]:
    result = run_vercel(api, f"{gateway.base}/v1", gateway.key, model, scenario, tmp_path)
    assert result.returncode == 0, (result.stdout, result.stderr[-2000:])
    return result.json()


def expected_usage(target: str) -> tuple[int, int, int, int]:
    """(input tokens in all, cache reads, cache writes, output) as the fake upstream reported them."""
    writes = CACHE_WRITE if target in ("anthropic", "bedrock") else 0
    return FRESH + CACHE_READ + writes, CACHE_READ, writes, OUTPUT


@pytest.mark.parametrize("scenario", ["text", "stream"])
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("api", APIS)
def test_text_and_stream(every_kind: Served, api: str, target: str, scenario: str, tmp_path: Path) -> None:
    out = run(every_kind, api, target, scenario, tmp_path)
    assert out["text"] == "plain answer" and out["finishReason"] == "stop"
    total, read, write, output = expected_usage(target)
    usage = out["usage"]
    assert (usage["inputTokens"], usage["outputTokens"]) == (total, output)
    details = usage["inputTokenDetails"]
    assert (details.get("cacheReadTokens") or 0, details.get("cacheWriteTokens") or 0) == (read, write)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("api", APIS)
def test_a_tool_the_sdk_runs(every_kind: Served, api: str, target: str, tmp_path: Path) -> None:
    out = run(every_kind, api, target, "tool", tmp_path)
    assert out["calls"] == [{"city": "Oslo"}] and out["steps"] == 2
    assert out["text"] == "plain answer"


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("api", APIS)
def test_generate_object(
    every_kind: Served, fakes: FakeProviders, api: str, target: str, tmp_path: Path
) -> None:
    out = run(every_kind, api, target, "object", tmp_path)
    assert out["object"] == ANSWER
    form, schema = schema_sent(fakes.last().body)
    if api == "anthropic":
        expected = "tool"  # the SDK's own json tool: these public model names are not Claude ids
    elif api == "responses" and target == "openai":
        expected = "text.format"  # passed through
    else:
        expected = NATIVE[target]
    assert form == expected
    assert set(schema["properties"]) == {"city", "temp"}


def test_generate_object_with_a_claude_id_reaches_an_openai_target_as_response_format(
    every_kind: Served, fakes: FakeProviders, tmp_path: Path
) -> None:
    out = run(every_kind, "anthropic", "claude-sonnet-4-5", "object", tmp_path)
    assert out["object"] == ANSWER
    body = fakes.last().body
    assert fakes.last().path.endswith("/chat/completions")
    assert (
        schema_sent(body)[0] == "response_format" and body["response_format"]["json_schema"]["strict"] is True
    )
