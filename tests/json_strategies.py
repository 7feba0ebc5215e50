"""Hypothesis strategies for request bodies: mostly the shape a dialect expects, sometimes any JSON
value in its place (what a property test of a dialect's checks needs to reach both sides)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

JUNK = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 70_000) | st.floats(allow_nan=False) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=5,
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the right shape (11 in 12), sometimes any JSON value."""
    return st.sampled_from(range(12)).flatmap(lambda i: JUNK if i == 5 else strategy)
