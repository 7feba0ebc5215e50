"""For property tests of a dialect's checks and its later translation: hypothesis strategies for
request bodies (mostly the shape a dialect expects, sometimes any JSON value in its place, so both
sides of every check are reached) and what a translation of an accepted body must satisfy."""

from __future__ import annotations

import copy
from typing import Any

import orjson
from hypothesis import strategies as st

from switchboard.dialects.chat_types import check_chat_types
from switchboard.dialects.request import ChatRequest, chat_request, parse_chat_request

JUNK = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 70_000) | st.floats(allow_nan=False) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=5,
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the right shape (11 in 12), sometimes any JSON value."""
    return st.sampled_from(range(12)).flatmap(lambda i: JUNK if i == 5 else strategy)


def translates_cleanly(request: ChatRequest) -> ChatRequest:
    """Build a parsed request's translation (not built before), which must not raise and must be a
    chat form the executor accepts as a client's (decoded and as bytes); the chat form's own reading."""
    assert request.translation is not None  # nothing built yet
    chat = request.body
    check_chat_types(chat)
    parse_chat_request(orjson.dumps(chat))
    return chat_request(copy.deepcopy(chat))
