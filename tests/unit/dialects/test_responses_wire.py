"""Chat answers and chunk streams -> Responses objects and events (wire/responses.py), refereed by the
openai SDK's own types (`Response`, `ResponseStreamEvent`) and its typed stream parser, and compared
with the Responses API wire fixtures."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import BaseModel, TypeAdapter

from switchboard.dialects import openai_responses as responses
from switchboard.wire.responses import ChunksToEvents, to_response

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "providers" / "openai"
EVENTS = TypeAdapter(ResponseStreamEvent)
TIMING = b': switchboard-timing {"overhead_ms":0.3}\n\n'
ID = re.compile(r"\b(resp|msg|fc)_[0-9a-f]{48}\b|\"(created|completed)_at\":\d+")
"""What differs between two translations of the same stream: fresh ids, and the second they ran."""


# The API returns `store` on response objects (its reference examples do) though the spec's
# `Response` schema, and so the SDK type, does not declare it: the one extra field allowed.
ALLOWED_EXTRA = {Response: {"store"}}


def strict(model: BaseModel, where: str = "") -> None:
    """No field the SDK type does not know, anywhere (the SDK's models accept extras silently)."""
    extra = set(model.model_extra or ()) - ALLOWED_EXTRA.get(type(model), set())
    assert not extra, f"{where}: unknown fields {sorted(extra)}"
    for name in type(model).model_fields:
        value = getattr(model, name)
        for inner in value if isinstance(value, list) else [value]:
            if isinstance(inner, BaseModel):
                strict(inner, f"{where}.{name}")


def validated_response(raw: bytes | dict[str, Any]) -> Response:
    response = Response.model_validate(orjson.loads(raw) if isinstance(raw, bytes) else raw)
    strict(response, "response")
    return response


def parse_sse(raw: bytes) -> list[tuple[str | None, dict[str, Any] | None, bytes]]:
    """(event name, data, raw block) per SSE block; comments have neither name nor data."""
    out = []
    for block in raw.split(b"\n\n"):
        if not block:
            continue
        if block.startswith(b":"):
            out.append((None, None, block))
            continue
        name, data = block.split(b"\n")
        assert name.startswith(b"event: ") and data.startswith(b"data: ")
        out.append((name[7:].decode(), orjson.loads(data[6:]), block))
    return out


def check_events(raw: bytes) -> list[dict[str, Any]]:
    """Every event valid for the SDK, named as its type, numbered 0, 1, 2, ...; returns the data."""
    events = [(name, data) for name, data, _ in parse_sse(raw) if data is not None]
    for name, data in events:
        event = EVENTS.validate_python(data)
        strict(event, name or "")
        assert name == data["type"]
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    return [d for _, d in events]


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    choices = [{"index": 0, "delta": delta or {}, "finish_reason": finish}] if delta or finish else []
    body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "up-model"}
    return b"data: " + orjson.dumps({**body, "choices": choices, **extra}) + b"\n\n"


def tool_delta(index: int, args: str, call_id: str | None = None, name: str | None = None) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if call_id:
        call.update(id=call_id, type="function")
        call["function"]["name"] = name
    return {"tool_calls": [call]}


USAGE = {
    "prompt_tokens": 20,
    "completion_tokens": 7,
    "total_tokens": 27,
    "prompt_tokens_details": {"cached_tokens": 4},
    "completion_tokens_details": {"reasoning_tokens": 3},
}
ECHO = {
    "model": "public",
    "instructions": "be brief",
    "temperature": 0.3,
    "metadata": {"k": "v"},
    "store": False,
}


def fixture_types(name: str) -> list[str]:
    raw = (FIXTURES / "responses" / name).read_bytes()
    return [d["type"] for d in check_events(raw)]


# --------------------------------------------------------------------------- fixtures


@pytest.mark.parametrize(
    "name", ["response_text.json", "response_incomplete.json", "response_function_call.json"]
)
def test_response_fixtures_are_valid_sdk_responses(name: str) -> None:
    validated_response((FIXTURES / "responses" / name).read_bytes())


@pytest.mark.parametrize("name", ["stream_text.sse", "stream_function_call.sse", "stream_failed.sse"])
def test_stream_fixtures_are_valid_sdk_events(name: str) -> None:
    assert check_events((FIXTURES / "responses" / name).read_bytes())


def test_error_fixture_is_the_openai_error_shape() -> None:
    error = json.loads((FIXTURES / "responses" / "error_400.json").read_text())["error"]
    assert set(error) == {"message", "type", "param", "code"}


# --------------------------------------------------------------------------- to_response


def test_text_completion_becomes_a_completed_response() -> None:
    raw = to_response((FIXTURES / "completion.json").read_bytes(), ECHO, response_id="resp_fixed")
    response = validated_response(raw)
    assert (response.id, response.object, response.status) == ("resp_fixed", "response", "completed")
    assert response.output_text == "Hello from the fixture."
    assert response.model == "gpt-4o-mini-2024-07-18" and response.created_at == 1732200000
    message = response.output[0]
    assert message.type == "message" and message.status == "completed" and message.id.startswith("msg_")
    assert message.content[0].annotations == []
    assert response.usage is not None
    assert response.usage.model_dump(exclude_none=True) == {
        "input_tokens": 12,
        "input_tokens_details": {"cached_tokens": 2, "cache_write_tokens": 0},
        "output_tokens": 6,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 18,
    }
    assert (response.instructions, response.temperature, response.metadata, response.store) == (
        "be brief",
        0.3,
        {"k": "v"},
        False,
    )
    assert (response.tool_choice, response.tools, response.parallel_tool_calls, response.top_p) == (
        "auto",
        [],
        True,
        1.0,
    )
    assert response.incomplete_details is None and response.error is None


def test_tool_call_completion_becomes_function_call_items() -> None:
    response = validated_response(to_response((FIXTURES / "completion_tool_call.json").read_bytes(), {}))
    assert [item.type for item in response.output] == ["function_call"]
    call = response.output[0]
    assert (call.call_id, call.name, call.arguments, call.status) == (
        "call_fixture1",
        "get_weather",
        '{"city":"Paris"}',
        "completed",
    )
    assert call.id is not None and call.id.startswith("fc_")


def test_text_and_two_calls_and_a_refusal() -> None:
    completion = {
        "id": "c",
        "object": "chat.completion",
        "created": 5,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "Let me check.",
                    "refusal": "not that",
                    "tool_calls": [
                        {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                        {
                            "id": "call_b",
                            "type": "function",
                            "function": {"name": "g", "arguments": '{"x":1}'},
                        },
                    ],
                },
            }
        ],
    }
    response = validated_response(to_response(orjson.dumps(completion), {}))
    assert [i.type for i in response.output] == ["message", "function_call", "function_call"]
    assert [p.type for p in response.output[0].content] == ["output_text", "refusal"]
    assert [i.call_id for i in response.output[1:]] == ["call_a", "call_b"]
    assert response.usage is None


@pytest.mark.parametrize(
    ("finish", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")]
)
def test_truncated_answers_are_incomplete(finish: str, reason: str) -> None:
    data = json.loads((FIXTURES / "completion.json").read_text())
    data["choices"][0]["finish_reason"] = finish
    response = validated_response(to_response(orjson.dumps(data), {"max_output_tokens": 6}))
    assert response.status == "incomplete" and response.incomplete_details is not None
    assert response.incomplete_details.reason == reason
    assert response.output[0].status == "incomplete" and response.max_output_tokens == 6


def test_ids_are_unique_and_shaped_like_the_apis() -> None:
    raw = (FIXTURES / "completion.json").read_bytes()
    ids = {orjson.loads(to_response(raw, {}))["id"] for _ in range(50)}
    assert len(ids) == 50 and all(re.fullmatch(r"resp_[0-9a-f]{48}", i) for i in ids)


def test_response_has_the_fields_of_the_api_fixture() -> None:
    ours = orjson.loads(to_response((FIXTURES / "completion.json").read_bytes(), {}))
    theirs = json.loads((FIXTURES / "responses" / "response_text.json").read_text())
    assert set(ours) <= set(theirs)
    assert set(ours["output"][0]) == set(theirs["output"][0])
    assert set(ours["output"][0]["content"][0]) == set(theirs["output"][0]["content"][0])
    assert set(ours["usage"]) == set(theirs["usage"])
    assert ours["usage"]["input_tokens_details"] == theirs["usage"]["input_tokens_details"]


# --------------------------------------------------------------------------- ChunksToEvents


def translate(
    raw: bytes, echo: dict[str, Any] | None = None, *, step: int | None = None
) -> tuple[bytes, ChunksToEvents]:
    translator = ChunksToEvents("public", echo or {}, response_id="resp_stream")
    if step is None:
        return translator.feed(raw), translator
    return b"".join(translator.feed(raw[i : i + step]) for i in range(0, len(raw), step)), translator


def with_timing(raw: bytes) -> bytes:
    """As the relay sends it: the timing comment just before `data: [DONE]`."""
    return raw.replace(b"data: [DONE]\n\n", TIMING + b"data: [DONE]\n\n")


def test_text_stream_is_the_documented_event_sequence() -> None:
    raw, translator = translate(with_timing((FIXTURES / "stream_text.sse").read_bytes()), ECHO)
    events = check_events(raw)
    assert [e["type"] for e in events] == fixture_types("stream_text.sse")
    assert (
        "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
        == "Hello from the fixture."
    )
    done = next(e for e in events if e["type"] == "response.output_text.done")
    assert done["text"] == "Hello from the fixture." and (done["output_index"], done["content_index"]) == (
        0,
        0,
    )
    item_ids = {e["item_id"] for e in events if "item_id" in e}
    assert len(item_ids) == 1 and item_ids == {events[2]["item"]["id"]}
    created, final = events[0]["response"], events[-1]["response"]
    assert (created["status"], created["output"], created["id"]) == ("in_progress", [], "resp_stream")
    assert (final["status"], final["id"], final["instructions"]) == ("completed", "resp_stream", "be brief")
    assert final["usage"]["input_tokens"] == 12 and final["usage"]["output_tokens"] == 6
    assert validated_response(final).output_text == "Hello from the fixture."
    assert translator.outcome == "completed" and translator.response == final
    blocks = parse_sse(raw)
    assert (
        blocks[-2][2] + b"\n\n" == TIMING and blocks[-1][0] == "response.completed"
    )  # timing kept, just before
    assert b"[DONE]" not in raw


def test_output_is_the_same_whatever_the_chunking() -> None:
    raw = with_timing((FIXTURES / "stream_tool_call.sse").read_bytes())
    whole, _ = translate(raw)
    for step in (1, 7, 64):
        pieces, _ = translate(raw, step=step)
        assert ID.sub("ID", pieces.decode()) == ID.sub("ID", whole.decode())
    # CRLF framing from an upstream reads the same
    crlf, _ = translate(raw.replace(b"\n", b"\r\n"))
    assert ID.sub("ID", crlf.decode()) == ID.sub("ID", whole.decode())


def test_usage_comes_from_the_usage_chunk() -> None:
    raw = (
        chunk({"role": "assistant", "content": "hi"})
        + chunk(finish="stop")
        + chunk(usage=USAGE)
        + b"data: [DONE]\n\n"
    )
    events = check_events(translate(raw)[0])
    assert events[-1]["response"]["usage"] == {
        "input_tokens": 20,
        "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
        "output_tokens": 7,
        "output_tokens_details": {"reasoning_tokens": 3},
        "total_tokens": 27,
    }
    assert events[-1]["response"]["model"] == "up-model"


def test_two_parallel_tool_calls_with_split_arguments() -> None:
    raw = (
        chunk({"role": "assistant", "content": None})
        + chunk(tool_delta(0, "", "call_1", "get_weather"))
        + chunk(tool_delta(0, '{"city":'))
        + chunk(tool_delta(0, '"Paris"}'))
        + chunk(tool_delta(1, "", "call_2", "get_weather"))
        + chunk(tool_delta(1, '{"city":'))
        + chunk(tool_delta(1, '"Tokyo"}'))
        + chunk(finish="tool_calls")
        + chunk(usage={"prompt_tokens": 40, "completion_tokens": 32, "total_tokens": 72})
        + TIMING
        + b"data: [DONE]\n\n"
    )
    events = check_events(translate(raw)[0])
    assert [e["type"] for e in events] == fixture_types("stream_function_call.sse")
    added = [e for e in events if e["type"] == "response.output_item.added"]
    assert [(e["output_index"], e["item"]["call_id"], e["item"]["name"]) for e in added] == [
        (0, "call_1", "get_weather"),
        (1, "call_2", "get_weather"),
    ]
    for index, city in ((0, "Paris"), (1, "Tokyo")):
        item_id = added[index]["item"]["id"]
        deltas = [
            e["delta"] for e in events if e["type"].endswith("arguments.delta") and e["item_id"] == item_id
        ]
        assert deltas == ['{"city":', f'"{city}"}}']
        done = next(e for e in events if e["type"].endswith("arguments.done") and e["item_id"] == item_id)
        assert done["arguments"] == f'{{"city":"{city}"}}'
    final = validated_response(events[-1]["response"])
    assert [(i.call_id, i.arguments, i.status) for i in final.output] == [
        ("call_1", '{"city":"Paris"}', "completed"),
        ("call_2", '{"city":"Tokyo"}', "completed"),
    ]


def test_interleaved_tool_call_deltas_land_on_their_own_items() -> None:
    """No provider does this; if one did, the final response must still be whole and events valid."""
    raw = (
        chunk(tool_delta(0, '{"a":', "call_1", "f"))
        + chunk(tool_delta(1, '{"b":', "call_2", "g"))
        + chunk(tool_delta(0, "1}"))
        + chunk(tool_delta(1, "2}"))
        + chunk(finish="tool_calls")
        + b"data: [DONE]\n\n"
    )
    final = check_events(translate(raw)[0])[-1]["response"]
    assert [(i["name"], i["arguments"]) for i in final["output"]] == [("f", '{"a":1}'), ("g", '{"b":2}')]


def test_calls_without_indexes_are_told_apart_by_id() -> None:
    calls = [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
        {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": '{"x":1}'}},
    ]
    raw = chunk({"tool_calls": calls[:1]}) + chunk({"tool_calls": calls[1:]}) + chunk(finish="tool_calls")
    final = check_events(translate(raw + b"data: [DONE]\n\n")[0])[-1]["response"]
    assert [(i["call_id"], i["arguments"]) for i in final["output"]] == [
        ("call_1", "{}"),
        ("call_2", '{"x":1}'),
    ]


def test_text_then_a_tool_call_closes_the_message_first() -> None:
    raw = (
        chunk({"role": "assistant", "content": "Checking"})
        + chunk({"content": "..."})
        + chunk(tool_delta(0, "{}", "call_1", "f"))
        + chunk(finish="tool_calls")
        + b"data: [DONE]\n\n"
    )
    types = [e["type"] for e in check_events(translate(raw)[0])]
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]


def test_a_refusal_streams_as_a_refusal_part() -> None:
    raw = (
        chunk({"refusal": "I can't"})
        + chunk({"refusal": " help."})
        + chunk(finish="stop")
        + b"data: [DONE]\n\n"
    )
    events = check_events(translate(raw)[0])
    assert [e["type"] for e in events if "refusal" in e["type"]] == [
        "response.refusal.delta",
        "response.refusal.delta",
        "response.refusal.done",
    ]
    assert events[-1]["response"]["output"][0]["content"] == [{"type": "refusal", "refusal": "I can't help."}]


def test_length_finish_ends_with_response_incomplete() -> None:
    raw = chunk({"content": "Hello"}) + chunk(finish="length") + b"data: [DONE]\n\n"
    events = check_events(translate(raw, {"max_output_tokens": 1})[0])
    final = events[-1]
    assert final["type"] == "response.incomplete"
    assert final["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["response"]["output"][0]["status"] == "incomplete"
    assert not any(e["type"] == "response.completed" for e in events)


def test_an_error_event_becomes_response_failed_and_nothing_completes() -> None:
    error = b'data: {"error": {"message": "upstream overloaded", "type": "upstream_error", "param": null, "code": "upstream_error"}}\n\n'
    raw = chunk({"content": "Hel"}) + error + TIMING
    out, translator = translate(raw)
    events = check_events(out)
    assert [e["type"] for e in events][-1] == "response.failed"
    assert not any(e["type"] in ("response.completed", "response.output_item.done") for e in events)
    failed = validated_response(events[-1]["response"])
    assert failed.status == "failed" and failed.error is not None
    assert (failed.error.code, failed.error.message) == ("server_error", "upstream overloaded")
    assert failed.output[0].content[0].text == "Hel"
    assert translator.outcome == "failed" and not out.endswith(TIMING)
    blocks = parse_sse(out)  # the relay sends the timing comment after the error: it goes first
    assert blocks[-2][2] + b"\n\n" == TIMING and blocks[-1][0] == "response.failed"
    # anything after the terminal event is ignored (but comments still pass)
    assert translator.feed(chunk({"content": "more"}) + b"data: [DONE]\n\n") == b""


def test_rate_limit_errors_keep_their_code() -> None:
    error = (
        b'data: {"error": {"message": "slow", "type": "rate_limit_error", "code": "rate_limit_exceeded"}}\n\n'
    )
    events = check_events(translate(error)[0])
    assert [e["type"] for e in events] == ["response.created", "response.in_progress", "response.failed"]
    assert events[-1]["response"]["error"] == {"code": "rate_limit_exceeded", "message": "slow"}


def test_a_stream_cut_before_done_never_completes() -> None:
    raw = chunk({"content": "Hello"}) + chunk(finish="stop") + chunk(usage=USAGE)
    out, translator = translate(raw)
    types = [e["type"] for e in check_events(out)]
    assert "response.completed" not in types and "response.failed" not in types
    assert translator.outcome is None and translator.response is None
    tail = translator.end()
    events = check_events(out + tail)
    assert events[-1]["type"] == "response.failed" and translator.outcome == "failed"
    assert translator.end() == b""


def test_a_half_event_at_the_end_is_not_treated_as_done() -> None:
    out, translator = translate(chunk({"content": "Hi"}) + b"data: [DO")
    assert b"response.completed" not in out and translator.outcome is None


# --------------------------------------------------------------------------- the openai SDK as the client


def sdk_client(body: bytes) -> openai.AsyncOpenAI:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/responses"
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return openai.AsyncOpenAI(base_url="http://sb.test/v1", api_key="unused", http_client=http, max_retries=0)


@pytest.mark.anyio
async def test_openai_sdk_reads_the_translated_stream() -> None:
    raw = with_timing((FIXTURES / "stream_text.sse").read_bytes())
    body, _ = translate(raw, ECHO)
    async with sdk_client(body) as client:
        stream = await client.responses.create(model="public", input="hi", stream=True)
        types = [event.type async for event in stream]
        assert types == fixture_types("stream_text.sse")
        async with client.responses.stream(model="public", input="hi") as manager:
            text = [e.delta async for e in manager if e.type == "response.output_text.delta"]
            final = await manager.get_final_response()
    assert "".join(text) == final.output_text == "Hello from the fixture."
    assert final.status == "completed" and final.usage is not None and final.usage.total_tokens == 18


@pytest.mark.anyio
async def test_openai_sdk_accumulates_translated_tool_calls() -> None:
    body, _ = translate(with_timing((FIXTURES / "stream_tool_call.sse").read_bytes()))
    async with sdk_client(body) as client, client.responses.stream(model="public", input="hi") as manager:
        final = await manager.get_final_response()
    call = final.output[0]
    assert (
        call.type == "function_call"
        and call.arguments == '{"city":"Paris"}'
        and call.call_id == "call_fixture1"
    )


@pytest.mark.anyio
async def test_openai_sdk_reads_the_fixture_streams() -> None:
    for name in ("stream_text.sse", "stream_function_call.sse"):
        client = sdk_client((FIXTURES / "responses" / name).read_bytes())
        async with client, client.responses.stream(model="gpt-4.1", input="hi") as manager:
            final = await manager.get_final_response()
        assert final.status == "completed"


def test_dialect_reexports_the_wire_half() -> None:
    assert responses.to_response is to_response and responses.ChunksToEvents is ChunksToEvents
