from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.wire.openai import carries_output, error_payload, is_done
from switchboard.wire.sse import EventTooLarge, SSESplitter, event_data

EVENTS = [
    b'data: {"choices": [{"delta": {"role": "assistant", "content": ""}}]}\n\n',
    b": keep-alive\n\n",
    'data: {"choices": [{"delta": {"content": "h\u00e9llo \u4e16\u754c \U0001f600"}}]}\n\n'.encode(),
    b"event: message\ndata: line one\ndata: line two\n\n",
    b"data: [DONE]\n\n",
]
WHOLE = b"".join(EVENTS)


def split_all(data: bytes, cuts: list[int]) -> list[bytes]:
    splitter = SSESplitter()
    out: list[bytes] = []
    previous = 0
    for cut in sorted(set(cuts)):
        out += splitter.feed(data[previous:cut])
        previous = cut
    out += splitter.feed(data[previous:])
    assert splitter.pending() == b""
    return out


@given(st.lists(st.integers(min_value=0, max_value=len(WHOLE)), max_size=40))
@settings(max_examples=300, deadline=None)
def test_any_rechunking_yields_the_same_events(cuts: list[int]) -> None:
    assert split_all(WHOLE, cuts) == EVENTS


@given(
    st.lists(st.integers(min_value=0, max_value=len(WHOLE) * 2), max_size=40),
    st.sampled_from([b"\r\n", b"\r", b"\n"]),
)
@settings(max_examples=300, deadline=None)
def test_line_ending_variants_and_rechunking(cuts: list[int], newline: bytes) -> None:
    data = WHOLE.replace(b"\n", newline)
    assert split_all(data, [c for c in cuts if c <= len(data)]) == EVENTS


def test_one_byte_reads() -> None:
    assert split_all(WHOLE, list(range(len(WHOLE)))) == EVENTS


def test_blank_lines_between_events_are_ignored() -> None:
    assert SSESplitter().feed(b"\n\ndata: a\n\n\n\ndata: b\n\n") == [b"data: a\n\n", b"data: b\n\n"]


def test_incomplete_event_stays_pending() -> None:
    splitter = SSESplitter()
    assert splitter.feed(b"data: a\n\ndata: par") == [b"data: a\n\n"]
    assert splitter.pending() == b"data: par"


def test_oversized_event_raises() -> None:
    splitter = SSESplitter(max_event_bytes=100)
    with pytest.raises(EventTooLarge):
        splitter.feed(b"data: " + b"x" * 200)


def test_event_helpers() -> None:
    assert event_data(EVENTS[3]) == b"line one\nline two"
    assert event_data(EVENTS[1]) is None
    assert is_done(b"data: [DONE]\n\n") and is_done(b"data:[DONE]\n\n") and not is_done(EVENTS[0])
    assert error_payload(b'data: {"error": {"message": "x"}}\n\n') == {"error": {"message": "x"}}
    assert error_payload(EVENTS[2]) is None
    assert error_payload(b'data: {"error_rate": 1, "choices": []}\n\n') is None


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (EVENTS[0], False),
        (EVENTS[1], False),
        (b'data: {"choices": [{"delta": {}}]}\n\n', False),
        (b'data: {"choices": []}\n\n', False),
        (EVENTS[2], True),
        (b'data: {"choices": [{"delta": {"tool_calls": [{"index": 0}]}}]}\n\n', True),
        (b'data: {"choices": [{"delta": {"refusal": "no"}}]}\n\n', True),
        (b'data: {"choices": [{"delta": {}, "finish_reason": "stop"}]}\n\n', True),
        (b'data: {"choices": [], "usage": {"total_tokens": 3}}\n\n', True),
        (b"data: [DONE]\n\n", True),
        (b"data: not json\n\n", True),
    ],
)
def test_carries_output(event: bytes, expected: bool) -> None:
    assert carries_output(event) is expected
