"""Bedrock Converse translation, SigV4 signing (checked against boto3's own signature for the same
request), event-stream decoding and exception classification by type."""

from __future__ import annotations

import datetime
from pathlib import Path
from unittest import mock

import boto3
import httpx
import orjson
import pytest

from switchboard.config import ProviderConfig
from switchboard.errors import (
    UpstreamAuthError,
    UpstreamClientError,
    UpstreamRateLimited,
    UpstreamServerError,
    UpstreamUnsupported,
)
from switchboard.providers.base import UpstreamCall, classify_stream_error
from switchboard.providers.bedrock import BedrockAdapter, BedrockStream, build_converse_body, sigv4_headers
from switchboard.values import AwsCredentials

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "providers" / "bedrock"
PROVIDER = ProviderConfig(name="bedrock", type="bedrock", region="us-west-2")
CREDS = AwsCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token")
MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
FROZEN = datetime.datetime(2026, 11, 22, 12, 0, 0, tzinfo=datetime.UTC)
BODY = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 50, "temperature": 0.2}


def test_signature_matches_boto3_for_the_same_request() -> None:
    """Sign the bytes boto3 sends with our signing path: URL form, service name, region, headers and
    signature must equal boto3's own."""
    with mock.patch("botocore.auth.get_current_datetime", return_value=FROZEN):
        ours = BedrockAdapter().build_request(UpstreamCall(PROVIDER, MODEL, BODY, False, CREDS))
        captured: dict[str, object] = {}

        def grab(request, **_):
            captured["url"] = request.url
            captured["headers"] = {
                k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()
            }
            captured["body"] = request.body
            return _FakeResponse()

        client = boto3.client(
            "bedrock-runtime",
            region_name="us-west-2",
            aws_access_key_id=CREDS.access_key,
            aws_secret_access_key=CREDS.secret_key,
            aws_session_token=CREDS.token,
        )
        client.meta.events.register("before-send.bedrock-runtime.Converse", grab)
        client.converse(modelId=MODEL, **orjson.loads(ours.content))
        theirs = captured["headers"]
        resigned = dict(
            sigv4_headers(
                str(captured["url"]),
                captured["body"],
                {"Content-Type": theirs["content-type"]},  # type: ignore[arg-type,index]
                CREDS,
                "us-west-2",
            )
        )
    assert str(ours.url) == captured["url"]  # same path encoding of the model id (%3A)
    assert "%3A0/converse" in str(ours.url)
    assert orjson.loads(ours.content) == orjson.loads(captured["body"])  # type: ignore[arg-type]
    assert resigned["Authorization"] == theirs["authorization"]  # type: ignore[index]
    assert ours.headers["x-amz-date"] == theirs["x-amz-date"] == "20261122T120000Z"  # type: ignore[index]
    assert ours.headers["x-amz-security-token"] == "session-token"
    assert ours.headers["authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-west-2/bedrock/aws4_request"
    )


class _FakeResponse:
    status_code = 200
    headers: dict[str, str] = {}
    content = b'{"output": {"message": {"role": "assistant", "content": [{"text": "x"}]}}, "stopReason": "end_turn", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}, "metrics": {"latencyMs": 1}}'
    raw = None

    @property
    def text(self) -> str:
        return self.content.decode()


def test_stream_url_and_no_credentials() -> None:
    stream = BedrockAdapter().build_request(UpstreamCall(PROVIDER, MODEL, BODY, True, CREDS))
    assert str(stream.url).endswith("/converse-stream")
    assert stream.headers["accept"] == "application/vnd.amazon.eventstream"
    with pytest.raises(UpstreamAuthError):
        BedrockAdapter().build_request(UpstreamCall(PROVIDER, MODEL, BODY, False, "not-aws"))


def test_body_mapping() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "sys"},
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}}],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "t1", "content": '{"ok": true}'},
        ],
        "max_completion_tokens": 10,
        "top_p": 0.5,
        "stop": "X",
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": "required",
        "seed": 1,
        "user": "u",
    }
    out = build_converse_body(body)
    assert out["system"] == [{"text": "sys"}]
    assert out["messages"][0]["content"][0] == {"image": {"format": "jpeg", "source": {"bytes": "/9j/"}}}
    assert out["messages"][1]["content"][0] == {
        "toolUse": {"toolUseId": "t1", "name": "f", "input": {"a": 1}}
    }
    assert out["messages"][2]["content"][0]["toolResult"]["content"] == [{"json": {"ok": True}}]
    assert out["inferenceConfig"] == {"maxTokens": 10, "topP": 0.5, "stopSequences": ["X"]}
    assert out["toolConfig"]["toolChoice"] == {"any": {}}
    assert out["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"] == {"json": {"type": "object"}}


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("ThrottlingException", UpstreamRateLimited),
        ("ValidationException", UpstreamClientError),
        ("AccessDeniedException", UpstreamAuthError),
        ("ModelStreamErrorException", UpstreamServerError),
        ("ServiceUnavailableException", UpstreamServerError),
    ],
)
def test_exceptions_classified_by_type_not_status(kind: str, expected: type) -> None:
    # a throttling error reported under an unexpected status is still a rate limit
    headers = httpx.Headers(
        {"x-amzn-errortype": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"}
    )
    error = BedrockAdapter().map_error(
        400 if expected is not UpstreamClientError else 500, headers, b'{"message": "m"}', ()
    )
    assert type(error) is expected


def stream_out(name: str, include_usage: bool = True) -> list[bytes]:
    translator = BedrockStream(MODEL, include_usage, 1)
    data = (FIXTURES / name).read_bytes()
    out: list[bytes] = []
    for i in range(0, len(data), 7):  # arbitrary re-chunking of the binary stream
        out += translator.feed(data[i : i + 7])
    return out


def test_stream_translation_under_rechunking() -> None:
    out = stream_out("stream_text.eventstream")
    assert out[-1] == b"data: [DONE]\n\n"
    text = "".join(orjson.loads(c[6:])["choices"][0]["delta"].get("content", "") for c in out[:-2])
    assert text == "Hello from the fixture."
    assert orjson.loads(out[-2][6:])["usage"]["prompt_tokens"] == 12


def test_stream_exceptions_become_classified_error_events() -> None:
    throttled = stream_out("stream_throttled.eventstream")
    payload = orjson.loads(throttled[-1][6:])
    assert payload["error"]["code"] == "throttlingException"
    assert isinstance(classify_stream_error(payload), UpstreamRateLimited)
    validation = orjson.loads(stream_out("stream_validation.eventstream")[-1][6:])
    assert isinstance(classify_stream_error(validation), UpstreamClientError)
    midway = stream_out("stream_model_error_midway.eventstream")
    assert b"partial" in midway[1] and b"modelStreamErrorException" in midway[-1]


def test_corrupt_frame_is_an_error_event() -> None:
    data = bytearray((FIXTURES / "stream_text.eventstream").read_bytes())
    data[20] ^= 0xFF  # break the first frame's CRC
    out = BedrockStream(MODEL, False, 1).feed(bytes(data))
    assert b"malformed Bedrock event stream" in out[-1]


def test_completion_ids_are_unique_within_one_second() -> None:
    """Two answers in the same second must not share an id (clients and logs key on it)."""
    completion = (FIXTURES / "completion.json").read_bytes()
    adapter = BedrockAdapter()
    call = UpstreamCall(PROVIDER, MODEL, {**BODY, "stream": True}, True, CREDS)
    with mock.patch("time.time", return_value=1_800_000_000.0):
        answers = [orjson.loads(adapter.parse_response(completion).body) for _ in range(2)]
        streams = []
        for _ in range(2):
            translator = adapter.stream_translator(call)
            assert translator is not None
            events = translator.feed((FIXTURES / "stream_text.eventstream").read_bytes())
            streams.append({orjson.loads(e[6:])["id"] for e in events if e != b"data: [DONE]\n\n"})
    assert answers[0]["created"] == answers[1]["created"]
    assert answers[0]["id"] != answers[1]["id"]
    assert all(a["id"].startswith("chatcmpl-") for a in answers)
    assert all(len(ids) == 1 for ids in streams)  # one id per stream, on every chunk
    assert streams[0] != streams[1]


CLAUDE_4 = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
EPHEMERAL = {"type": "ephemeral"}
POINT = {"cachePoint": {"type": "default"}}


def test_reasoning_effort_becomes_claude_thinking() -> None:
    body = {**BODY, "max_tokens": 30000, "top_p": 0.5, "reasoning_effort": "medium"}
    out = build_converse_body(body, CLAUDE_4)
    assert out["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 8192}}
    # Claude takes only temperature 1 and top_p >= 0.95 with thinking: both left out
    assert out["inferenceConfig"] == {"maxTokens": 30000}
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/global.anthropic.claude-opus-4-1-v1:0"
    high = build_converse_body({"messages": BODY["messages"], "reasoning_effort": "high"}, arn)
    assert high["additionalModelRequestFields"]["thinking"]["budget_tokens"] == 24576
    assert high["inferenceConfig"] == {"maxTokens": 24576 + 4096}  # room for the answer


def test_thinking_budget_stays_below_max_tokens_and_is_skipped_when_it_cannot() -> None:
    out = build_converse_body({**BODY, "max_tokens": 10000, "reasoning_effort": "high"}, CLAUDE_4)
    assert out["additionalModelRequestFields"]["thinking"]["budget_tokens"] == 9999
    small = build_converse_body({**BODY, "max_tokens": 1000, "reasoning_effort": "low"}, CLAUDE_4)
    assert "additionalModelRequestFields" not in small and small["inferenceConfig"]["temperature"] == 0.2


def test_thinking_is_left_out_for_forced_tools_and_tool_loops() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    forced = {**BODY, "tools": tools, "tool_choice": "required", "reasoning_effort": "low"}
    assert "additionalModelRequestFields" not in build_converse_body(forced, CLAUDE_4)
    call = {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    loop = {
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "t1", "content": "done"},
        ],
        "tools": tools,
        "reasoning_effort": "low",
    }
    assert "additionalModelRequestFields" not in build_converse_body(loop, CLAUDE_4)
    loop["messages"].append({"role": "user", "content": "next question"})  # a new turn: thinking again
    assert "additionalModelRequestFields" in build_converse_body(loop, CLAUDE_4)


@pytest.mark.parametrize(
    "model", ["amazon.nova-pro-v1:0", "meta.llama3-70b-instruct-v1:0", MODEL, "anthropic.claude-v2"]
)
def test_reasoning_effort_is_refused_by_models_that_do_not_think(model: str) -> None:
    with pytest.raises(UpstreamUnsupported) as caught:
        build_converse_body({**BODY, "reasoning_effort": "low"}, model)
    assert caught.value.param == "reasoning_effort"
    out = build_converse_body({**BODY, "reasoning_effort": "none"}, model)  # nothing asked for
    assert "additionalModelRequestFields" not in out


def test_cache_markers_become_cache_points() -> None:
    call = {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    body = {
        "messages": [
            {
                "role": "system",
                "content": [
                    {"type": "text", "text": "rules", "cache_control": EPHEMERAL},
                    {"type": "text", "text": "today"},
                ],
            },
            {"role": "system", "content": "plain"},
            {"role": "user", "content": [{"type": "text", "text": "q", "cache_control": EPHEMERAL}]},
            {"role": "assistant", "content": None, "tool_calls": [{**call, "cache_control": EPHEMERAL}]},
            {
                "role": "tool",
                "tool_call_id": "t1",
                "content": [{"type": "text", "text": "r", "cache_control": EPHEMERAL}],
            },
            {"role": "user", "content": [{"type": "text", "text": "unmarked"}]},
        ],
        "tools": [
            {"type": "function", "function": {"name": "f"}, "cache_control": EPHEMERAL},
            {"type": "function", "function": {"name": "g"}},
        ],
    }
    out = build_converse_body(body, CLAUDE_4)
    assert out["system"] == [{"text": "rules"}, POINT, {"text": "today"}, {"text": "plain"}]
    assert out["messages"][0]["content"] == [{"text": "q"}, POINT]
    assert out["messages"][1]["content"][1] == POINT
    assert out["messages"][2]["content"][1:] == [POINT, {"text": "unmarked"}]
    assert [next(iter(t)) for t in out["toolConfig"]["tools"]] == ["toolSpec", "cachePoint", "toolSpec"]
    plain = build_converse_body(body, "meta.llama3-70b-instruct-v1:0")  # no prompt caching there
    assert b"cachePoint" not in orjson.dumps(plain)
    assert plain["system"] == [{"text": "rules"}, {"text": "today"}, {"text": "plain"}]


def test_reasoning_content_is_not_answer_text() -> None:
    answer = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "let me think", "signature": "s"}}},
                    {"text": "42"},
                ],
            }
        },
        "stopReason": "end_turn",
        "usage": {"inputTokens": 3, "outputTokens": 9, "cacheReadInputTokens": 7},
    }
    parsed = orjson.loads(BedrockAdapter().parse_response(orjson.dumps(answer)).body)
    assert parsed["choices"][0]["message"]["content"] == "42"
    assert parsed["usage"]["prompt_tokens"] == 10
    assert parsed["usage"]["prompt_tokens_details"]["cached_tokens"] == 7
    stream = BedrockStream("m", True, 0)
    delta = {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hmm"}}}
    assert stream._event("contentBlockDelta", delta) == []
