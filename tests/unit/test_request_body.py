from __future__ import annotations

import pytest

from switchboard.dialects.request import parse_chat_request, parse_json_object
from switchboard.errors import InvalidRequest


def test_parses_and_strips_routing_fields() -> None:
    request = parse_chat_request(
        b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": true,'
        b' "models": ["a", "b"], "provider_preferences": {"primary": "p", "fallback": ["q"]}, "timeout": 1.5}'
    )
    assert request.stream is True
    assert request.models == ("a", "b")
    assert (request.primary, request.fallback, request.timeout_s) == ("p", ("q",), 1.5)
    assert set(request.body) == {"model", "messages", "stream"}


def test_models_without_model_uses_first() -> None:
    request = parse_chat_request(b'{"models": ["a", "b"], "messages": [{"role": "user", "content": "x"}]}')
    assert request.model == "a" and request.body["model"] == "a"


def test_stream_null_means_false() -> None:
    assert (
        parse_chat_request(b'{"model": "m", "stream": null, "messages": [{"role": "user"}]}').stream is False
    )


def test_key_order_and_whitespace_do_not_matter() -> None:
    a = parse_json_object(b'{"a": 1, "b": [1, 2]}')
    b = parse_json_object(b'  {\n"b":[1,2],"a":1}  ')
    assert a == b


@pytest.mark.parametrize(
    "raw",
    [b'{"a": 1, "a": 2}', b'{"a": {"b": 1, "b": 1}}', b'{"a" : 1, "a" : 2}', b"[" * 3000 + b"]" * 3000],
)
def test_strictness(raw: bytes) -> None:
    with pytest.raises(InvalidRequest):
        parse_json_object(raw)
