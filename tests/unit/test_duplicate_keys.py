"""Repeated keys in a request body are refused whichever way the check runs: by counting (short
bodies whose bytes allow it) or by the stdlib parser. A property test: no body with a repeated key
is ever let through, however its strings are written."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from switchboard.dialects.request import SHORT_BODY, _keys_all_distinct, parse_json_object
from switchboard.errors import InvalidRequest

# strings rich in the characters the counting depends on
TRICKY = st.text(alphabet=st.sampled_from([*'":\\/ ab\n\t{}[],', "\u00e9", "\u2028"]), max_size=8)
KEYS = st.sampled_from(["a", "b", "model", ":", '"', '":', "\\", " "]) | TRICKY
LEAVES = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | TRICKY


def _pairs(depth: int) -> st.SearchStrategy[list[tuple[str, Any]]]:
    value = LEAVES if depth == 0 else LEAVES | _object(depth - 1)
    return st.lists(st.tuples(KEYS, value), max_size=4)


class _Encoded(str):
    """An object already written as JSON (nested as it is, not as a string)."""


def _object(depth: int) -> st.SearchStrategy[str]:
    return _pairs(depth).map(lambda pairs: _Encoded(_encode_pairs(pairs)))


def _encode_pairs(pairs: list[tuple[str, Any]]) -> str:
    # written by hand so keys may repeat; strings as orjson writes them (no \\u escapes)
    parts = []
    for key, value in pairs:
        text = str(value) if isinstance(value, _Encoded) else orjson.dumps(value).decode()
        parts.append(orjson.dumps(key).decode() + ":" + text)
    return "{" + ",".join(parts) + "}"


def _has_duplicates(text: str) -> bool:
    found = False

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal found
        found = found or len({k for k, _ in pairs}) != len(pairs)
        return dict(pairs)

    json.loads(text, object_pairs_hook=hook)
    return found


@settings(max_examples=600, deadline=None)
@given(_object(2))
def test_counting_never_passes_a_repeated_key(text: str) -> None:
    raw = text.encode()
    parsed = orjson.loads(raw)
    if _has_duplicates(text):
        assert not _keys_all_distinct(raw, parsed)
        with pytest.raises(InvalidRequest, match="duplicate key"):
            parse_json_object(raw)
    else:
        assert parse_json_object(raw) == parsed


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model":"a","model":"b"}',
        b'{"model":"a","model" :"b"}',  # whitespace before the colon
        b'{"model":"a","mod\\u0065l":"b"}',  # an escaped name
        b'{"model":"a","model":"b","pad":"\\u0022:"}',  # a quote-colon only the re-encoding shows
        b'{"m":{"x":1,"x":2},"n":"\\":"}',
        b'{"a":"x","a":"\\":"}',
    ],
)
def test_repeated_keys_are_refused(raw: bytes) -> None:
    with pytest.raises(InvalidRequest, match="duplicate key"):
        parse_json_object(raw)


def test_a_long_body_is_checked_by_the_parser() -> None:
    raw = b'{"model":"a","pad":"' + b"x" * SHORT_BODY + b'","model":"b"}'
    assert not _keys_all_distinct(raw, orjson.loads(raw))
    with pytest.raises(InvalidRequest, match="duplicate key"):
        parse_json_object(raw)


def test_a_plain_short_body_is_proven_by_counting() -> None:
    raw = b'{"model":"m","messages":[{"role":"user","content":"say \\"hi\\":now"}],"max_tokens":5}'
    assert _keys_all_distinct(raw, orjson.loads(raw))
