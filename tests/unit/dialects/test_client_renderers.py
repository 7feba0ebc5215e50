"""The client-side stream renderers (Anthropic Messages events, Responses events) over relayed
OpenAI chunks: usage equal to the upstream's counts (cache reads and writes included), the best
available counts in the first event, and malformed upstream events ending the stream with an error
in the client's dialect; plus the `x-switchboard-dropped` value built from client-chosen names."""

from __future__ import annotations

import orjson
import pytest

from switchboard.dialects.anthropic_messages import ChunksToEvents as AnthropicEvents
from switchboard.dialects.anthropic_messages import to_message
from switchboard.pipeline.dropped import for_target, header_value
from switchboard.wire.openai import DONE, chunk, usage_chunk, usage_object
from switchboard.wire.responses import ChunksToEvents as ResponsesEvents
from switchboard.wire.responses import to_response

USAGE = usage_object(40, 7, cached=10, cache_write=5)  # 25 fresh + 10 read + 5 written


def events(out: bytes) -> list[tuple[str, dict]]:
    found = []
    for block in out.split(b"\n\n"):
        lines = dict(line.split(b": ", 1) for line in block.split(b"\n") if b": " in line)
        if b"event" in lines:
            found.append((lines[b"event"].decode(), orjson.loads(lines[b"data"])))
    return found


def stream(*parts: bytes) -> list[bytes]:
    return [chunk("c1", "gpt", 0, {"role": "assistant", "content": ""}), *parts]


def test_anthropic_events_carry_the_upstreams_counts_in_full() -> None:
    renderer = AnthropicEvents("m", input_estimate=99)
    out = renderer.feed(stream(chunk("c1", "gpt", 0, {"content": "hi"}))[0])
    out += renderer.feed(chunk("c1", "gpt", 0, {"content": "hi"}))
    out += renderer.feed(chunk("c1", "gpt", 0, {}, "stop") + usage_chunk("c1", "gpt", 0, USAGE) + DONE)
    found = events(out)
    start = found[0][1]["message"]["usage"]
    assert start["input_tokens"] == 99  # the prompt estimate: the upstream has not reported yet
    final = [e for name, e in found if name == "message_delta"][-1]["usage"]
    assert final == {
        "input_tokens": 25,
        "output_tokens": 7,
        "cache_read_input_tokens": 10,
        "cache_creation_input_tokens": 5,
    }
    assert found[-1][0] == "message_stop"


def test_anthropic_message_start_takes_the_upstreams_counts_when_they_come_first() -> None:
    renderer = AnthropicEvents("m", input_estimate=99)
    body = b"".join(
        stream(chunk("c1", "gpt", 0, {"content": "x"}, "stop"), usage_chunk("c1", "gpt", 0, USAGE), DONE)
    )
    found = events(renderer.feed(body))
    assert found[0][1]["message"]["usage"]["input_tokens"] == 25


def test_anthropic_json_answer_usage() -> None:
    completion = {
        "id": "c",
        "model": "gpt",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}],
        "usage": USAGE,
    }
    usage = orjson.loads(to_message(orjson.dumps(completion)))["usage"]
    assert usage["cache_creation_input_tokens"] == 5 and usage["input_tokens"] == 25


@pytest.mark.parametrize(
    "bad", [b"data: not json\n\n", b"data: [1, 2]\n\n", b'data: "text"\n\n', b"data: {\n\n"]
)
def test_anthropic_a_malformed_event_ends_with_an_error_event(bad: bytes) -> None:
    renderer = AnthropicEvents("m")
    out = renderer.feed(
        stream(chunk("c1", "gpt", 0, {"content": "a"}))[0] + chunk("c1", "gpt", 0, {"content": "a"})
    )
    out += renderer.feed(bad)
    out += renderer.feed(chunk("c1", "gpt", 0, {"content": "b"}) + chunk("c1", "gpt", 0, {}, "stop") + DONE)
    names = [name for name, _ in events(out)]
    assert names[-1] == "error"
    assert "message_stop" not in names and "message_delta" not in names


def test_anthropic_choices_that_are_not_objects_are_malformed() -> None:
    out = AnthropicEvents("m").feed(b'data: {"id":"c","choices":[7]}\n\n')
    assert [name for name, _ in events(out)][-1] == "error"


def test_responses_completed_carries_cache_writes() -> None:
    renderer = ResponsesEvents("m", response_id="resp_1")
    out = renderer.feed(
        b"".join(
            stream(chunk("c1", "gpt", 0, {"content": "x"}, "stop"), usage_chunk("c1", "gpt", 0, USAGE), DONE)
        )
    )
    completed = next(e for name, e in events(out) if name == "response.completed")["response"]["usage"]
    assert completed["input_tokens"] == 40 and completed["output_tokens"] == 7
    assert completed["input_tokens_details"] == {"cached_tokens": 10, "cache_write_tokens": 5}
    completion = {
        "id": "c",
        "model": "gpt",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}],
        "usage": USAGE,
    }
    assert orjson.loads(to_response(orjson.dumps(completion), {}))["usage"] == completed


@pytest.mark.parametrize("bad", [b"data: not json\n\n", b"data: [1]\n\n", b"data: 3\n\n"])
def test_responses_a_malformed_event_ends_with_response_failed(bad: bytes) -> None:
    renderer = ResponsesEvents("m")
    out = renderer.feed(b"".join(stream(chunk("c1", "gpt", 0, {"content": "a"}))))
    out += renderer.feed(bad + chunk("c1", "gpt", 0, {}, "stop") + DONE)
    names = [name for name, _ in events(out)]
    assert names[-1] == "response.failed" and "response.completed" not in names
    assert renderer.outcome == "failed"


def test_dropped_names_are_decided_for_the_target() -> None:
    dropped = ("context_management", "cache_control", "top_k")
    assert for_target(dropped, "bedrock") == ("context_management", "top_k")
    assert for_target(dropped, "openai") == dropped
    assert for_target(dropped, "gemini", also=("temperature", "top_k")) == (*dropped, "temperature")


def test_dropped_header_value_is_always_a_valid_header() -> None:
    value = header_value(["tools.a\r\nb", "fïeld", "a,b", "x" * 500, "ok"])
    assert value.isascii() and all(32 <= c < 127 for c in value)
    names = value.decode().split(", ")
    assert names[0] == "tools.a%0D%0Ab" and names[1] == "f%C3%AFeld" and names[2] == "a%2Cb"
    assert len(names[3]) == 64 and names[4] == "ok"
    many = header_value([f"field{i}" for i in range(1000)])
    assert len(many) <= 1024 + 5 and many.endswith(b", ...")
