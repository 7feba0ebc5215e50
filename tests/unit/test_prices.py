"""The shipped price table, `[prices]` over it, and what a usage costs."""

from __future__ import annotations

import pytest

from support import make_config
from switchboard.config import ConfigError, Price
from switchboard.state.prices import SHIPPED, PriceTable, cost_nano_usd, format_usd, worst_case_nano_usd
from switchboard.wire.openai import Usage


@pytest.mark.parametrize(
    ("provider", "model", "expected"),
    [
        ("openai", "gpt-4o", Price(2.5, 10.0, 1.25)),
        ("openai", "gpt-4o-2024-08-06", Price(2.5, 10.0, 1.25)),  # a dated snapshot
        ("openai", "gpt-4.1-mini", Price(0.4, 1.6, 0.1)),
        ("openai", "o4-mini", Price(1.1, 4.4, 0.275)),
        ("openai", "gpt-5", Price(1.25, 10.0, 0.125)),
        ("anthropic", "claude-sonnet-4-5-20250929", Price(3.0, 15.0, 0.3, 3.75)),
        ("anthropic", "claude-opus-4-5", Price(5.0, 25.0, 0.5, 6.25)),
        ("anthropic", "claude-haiku-4-5-20251001", Price(1.0, 5.0, 0.1, 1.25)),
        ("gemini", "gemini-2.5-pro", Price(1.25, 10.0, 0.125)),
        ("gemini", "gemini-2.5-flash-lite", Price(0.1, 0.4, 0.01)),
        ("bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0", Price(3.0, 15.0, 0.3, 3.75)),
        ("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", Price(3.0, 15.0, 0.3, 3.75)),
        ("bedrock", "amazon.nova-lite-v1:0", Price(0.06, 0.24, 0.015)),
        ("bedrock", "eu.meta.llama3-3-70b-instruct-v1:0", Price(0.72, 0.72)),
    ],
)
def test_shipped_prices_cover_every_provider(provider: str, model: str, expected: Price) -> None:
    assert PriceTable().get(provider, model) == expected


def test_every_row_is_dated_in_the_source() -> None:
    from pathlib import Path

    import switchboard.state.prices as module

    text = Path(module.__file__).read_text()
    for name in SHIPPED:
        line = text.index(f'    "{name}": ')
        before = text.rfind("\n", 0, line - 1)
        row_and_comment = text[before : text.index("\n", line)]
        assert "as published, checked 2026-12-02" in row_and_comment, name


def test_config_prices_override_and_extend_the_table() -> None:
    config = make_config(
        {
            "prices": {
                "a/gpt-4o": {"prompt": 1.0, "completion": 2.0},
                "gpt-4o-mini": {"prompt": 0.5, "completion": 0.5, "cached": 0.1, "cache_write": 0.7},
                "house-model": {"prompt": 9.0},
            }
        }
    )
    table = PriceTable(config.prices)
    assert table.get("a", "gpt-4o") == Price(1.0, 2.0)  # by provider/model
    assert table.get("b", "gpt-4o") == SHIPPED["gpt-4o"]  # another provider keeps the shipped row
    assert table.get("b", "gpt-4o-mini") == Price(0.5, 0.5, 0.1, 0.7)  # by model name
    assert table.get("c", "house-model") == Price(9.0)  # extended
    assert table.get("c", "unknown-model") is None
    assert table.cost("c", "unknown-model", Usage(1000, 1000)) == 0  # unknown models cost nothing


def test_config_rejects_bad_prices() -> None:
    with pytest.raises(ConfigError, match="negative"):
        make_config({"prices": {"m": {"prompt": 1.0, "cache_write": -1}}})
    with pytest.raises(ConfigError, match="unknown"):
        make_config({"prices": {"m": {"prompt": 1.0, "cache_read": 1}}})


def test_cost_charges_cache_reads_and_writes_at_their_prices() -> None:
    sonnet = SHIPPED["claude-sonnet-4-5"]
    # 10,000 prompt tokens of which 6,000 read from the cache and 3,000 written to it; 500 out
    nano = cost_nano_usd(sonnet, 10_000, 500, cached=6_000, cache_write=3_000)
    assert nano == round((1_000 * 3.0 + 6_000 * 0.3 + 3_000 * 3.75 + 500 * 15.0) * 1000)
    assert format_usd(nano) == "0.02355"
    # unset cached / cache_write prices fall back to the prompt price
    assert cost_nano_usd(Price(2.0, 8.0), 100, 10, cached=40, cache_write=20) == (100 * 2 + 10 * 8) * 1000


def test_worst_case_is_an_upper_bound_of_any_usage() -> None:
    sonnet = SHIPPED["claude-sonnet-4-5"]
    worst = worst_case_nano_usd(sonnet, 1_000, 200)
    for cached, written in ((0, 0), (1_000, 0), (0, 1_000), (500, 500)):
        assert cost_nano_usd(sonnet, 1_000, 200, cached, written) <= worst


@pytest.mark.parametrize(
    ("nano", "text"),
    [(0, "0"), (123_000, "0.000123"), (1, "0.000000001"), (2_500_000_000, "2.5"), (-5, "0")],
)
def test_format_usd(nano: int, text: str) -> None:
    assert format_usd(nano) == text
