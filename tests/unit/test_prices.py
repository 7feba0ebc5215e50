"""The shipped price list (every row with its page and date), `[prices]` over it, and what a usage
costs: prompt-length bands on both sides of each threshold, service tiers, 1-hour cache writes."""

from __future__ import annotations

import datetime
import re

import pytest

from support import make_config
from switchboard.cli.main import price_report
from switchboard.config import ConfigError, Price
from switchboard.state.listing import Listing, Rules
from switchboard.state.price_list import ROWS
from switchboard.state.prices import (
    PriceTable,
    charge,
    cost_nano_usd,
    request_price,
    worst_case_nano_usd,
)
from switchboard.values import Usage, format_usd

_URL = re.compile(r"^https://[a-z0-9.-]+\.[a-z]{2,}/\S*$")


def _check_provenance(where: str, source: str, read: str) -> None:
    assert _URL.match(source), f"{where}: no source page ({source!r})"
    assert datetime.date.fromisoformat(read) <= datetime.date(2026, 12, 7), f"{where}: bad date {read!r}"


@pytest.mark.parametrize("name", sorted(ROWS))
def test_every_row_names_its_page_and_the_date_it_was_read(name: str) -> None:
    row = ROWS[name]
    _check_provenance(name, row.source, row.read)
    if not row.verified:
        assert len(row.note) > 20, f"{name}: an unverified row must say where its figures come from"
    if row.rules is not None:
        _check_provenance(f"{name} rules", row.rules.source, row.rules.read)


def test_the_provenance_check_fails_on_a_row_without_source_or_date() -> None:
    with pytest.raises(AssertionError, match="no source"):
        _check_provenance("x", "", "2026-12-07")
    with pytest.raises(ValueError):
        _check_provenance("x", "https://example.com/p", "as published")
    with pytest.raises(AssertionError, match="no source"):
        _check_provenance("x", "as published, checked 2026-12-02", "2026-12-02")


def test_the_list_covers_the_current_models_of_every_provider() -> None:
    for name in (
        "claude-opus-5-5",
        "claude-sonnet-5-5",
        "claude-sonnet-5",
        "claude-haiku-5-5",
        "claude-fable-5-1",
        "gpt-6.2-sol",
        "gpt-6.1-sol",
        "gpt-6-sol",
        "gpt-6-luna",
        "gemini-3.8-flash",
        "amazon.nova-pro-v1:0",
    ):
        assert name in ROWS
    verified = sum(row.verified for row in ROWS.values())
    assert verified >= 25 and verified < len(ROWS)  # the old rows written from memory are not "checked"


@pytest.mark.parametrize(
    ("provider", "model", "expected"),
    [
        ("anthropic", "claude-sonnet-5-5", Price(2, 10, 0.10, 2.5, 4)),
        ("anthropic", "claude-opus-5-5", Price(4, 20, 0.20, 5, 8)),
        ("anthropic", "claude-haiku-4-5-20251001", Price(1, 5, 0.10, 1.25, 2)),
        ("vertex", "claude-haiku-4-5@20251001", Price(1, 5, 0.10, 1.25, 2)),
        ("openai", "gpt-4o-2024-08-06", Price(2.5, 10.0, 1.25)),  # a dated snapshot
        # Bedrock: global endpoints at the list price, geographic / in-region 10% more (Claude 4.5+)
        ("bedrock", "global.anthropic.claude-haiku-4-5-20251001-v1:0", Price(1, 5, 0.10, 1.25, 2)),
        ("bedrock", "us.anthropic.claude-haiku-4-5-20251001-v1:0", Price(1.1, 5.5, 0.11, 1.375, 2.2)),
        ("bedrock", "anthropic.claude-haiku-4-5-20251001-v1:0", Price(1.1, 5.5, 0.11, 1.375, 2.2)),
        ("bedrock", "eu.anthropic.claude-3-5-haiku-20241022-v1:0", Price(0.8, 4, 0.08, 1, 1.6)),
        ("bedrock", "amazon.nova-lite-v1:0", Price(0.06, 0.24, 0.015)),
        ("bedrock", "eu.meta.llama3-3-70b-instruct-v1:0", Price(0.72, 0.72)),
    ],
)
def test_lookup_normalises_snapshots_and_bedrock_ids(provider: str, model: str, expected: Price) -> None:
    found = PriceTable().get(provider, model)
    assert found is not None
    flat = Price(found.prompt, found.completion, found.cached, found.cache_write, found.cache_write_1h)
    assert _close(flat, expected), found


def _close(a: Price, b: Price) -> bool:
    pairs = zip(
        (a.prompt, a.completion, a.cached, a.cache_write, a.cache_write_1h),
        (b.prompt, b.completion, b.cached, b.cache_write, b.cache_write_1h),
        strict=True,
    )
    return all(x == y if x is None or y is None else abs(x - y) < 1e-9 for x, y in pairs)


def test_bedrock_keeps_bands_on_regional_endpoints() -> None:
    regional = PriceTable().get("bedrock", "us.anthropic.claude-haiku-5-5")
    assert regional is not None and regional.long is not None
    assert regional.long_above == 100_000 and abs(regional.long.prompt - 0.55) < 1e-9


def test_config_prices_override_and_extend_the_list() -> None:
    config = make_config(
        {
            "prices": {
                "a/gpt-4o": {"prompt": 1.0, "completion": 2.0},
                "gpt-4o-mini": {"prompt": 0.5, "completion": 0.5, "cached": 0.1, "cache_write": 0.7},
                "house-model": {"prompt": 9.0, "cache_write_1h": 18.0},
            }
        }
    )
    table = PriceTable(config.prices)
    assert table.get("a", "gpt-4o") == Price(1.0, 2.0)  # by provider/model
    assert table.get("b", "gpt-4o") == ROWS["gpt-4o"].price  # another provider keeps the shipped row
    assert table.listing("b", "gpt-4o") is ROWS["gpt-4o"] and table.listing("a", "gpt-4o") is None
    assert table.get("b", "gpt-4o-mini") == Price(0.5, 0.5, 0.1, 0.7)  # by model name
    assert table.get("c", "house-model") == Price(9.0, cache_write_1h=18.0)  # extended
    assert table.get("c", "unknown-model") is None
    assert table.cost("c", "unknown-model", Usage(1000, 1000)) is None  # unknown: no cost, not 0
    assert table.cost("c", "house-model", None) == 0


def test_config_rejects_bad_prices() -> None:
    with pytest.raises(ConfigError, match="negative"):
        make_config({"prices": {"m": {"prompt": 1.0, "cache_write": -1}}})
    with pytest.raises(ConfigError, match="unknown"):
        make_config({"prices": {"m": {"prompt": 1.0, "cache_read": 1}}})


def test_cost_charges_cache_reads_and_writes_at_their_prices() -> None:
    sonnet = ROWS["claude-sonnet-4-5"].price
    # 10,000 prompt tokens of which 6,000 read from the cache and 3,000 written to it; 500 out
    nano = cost_nano_usd(sonnet, 10_000, 500, cached=6_000, cache_write=3_000)
    assert nano == round((1_000 * 3.0 + 6_000 * 0.3 + 3_000 * 3.75 + 500 * 15.0) * 1000)
    assert format_usd(nano) == "0.02355"
    # unset cached / cache_write prices fall back to the prompt price
    assert cost_nano_usd(Price(2.0, 8.0), 100, 10, cached=40, cache_write=20) == (100 * 2 + 10 * 8) * 1000


def test_one_hour_cache_writes_cost_their_own_price() -> None:
    opus = ROWS["claude-opus-5-5"].price  # 5m write $5, 1h write $8
    nano = cost_nano_usd(opus, 10_000, 0, cache_write=4_000, cache_write_1h=1_000)
    assert nano == ((6_000 * 4 + 3_000 * 5 + 1_000 * 8) * 1000)
    # without a 1-hour price the write costs the 5-minute one
    assert cost_nano_usd(Price(1, 1, None, 2), 100, 0, cache_write=100, cache_write_1h=100) == 200_000


@pytest.mark.parametrize(
    ("name", "threshold", "short", "long"),
    [
        # Haiku 5.5: prompts over 100,000 tokens pay 5x, output included
        ("claude-haiku-5-5", 100_000, (0.10, 0.50, 0.01), (0.50, 2.50, 0.05)),
        # GPT-6: over 272K input tokens 2x input and cache, 1.5x output, for the whole request
        ("gpt-6.2-sol", 272_000, (2, 10, 0.10), (4, 15, 0.20)),
        ("gpt-6-luna", 272_000, (0.10, 0.50, 0.01), (0.20, 0.75, 0.02)),
        # Sonnet 4.5 with the 1M window: over 200K input tokens 2x input, 1.5x output
        ("claude-sonnet-4-5", 200_000, (3, 15, 0.30), (6, 22.5, 0.60)),
        ("gemini-2.5-pro", 200_000, (1.25, 10, 0.125), (2.50, 15, 0.25)),
    ],
)
def test_prompt_length_bands_on_both_sides_of_the_threshold(
    name: str, threshold: int, short: tuple[float, float, float], long: tuple[float, float, float]
) -> None:
    price = ROWS[name].price
    for prompt, (p, c, r) in ((threshold, short), (threshold + 1, long)):
        cached = prompt // 2  # cache reads count towards the prompt's length
        usage = Usage(prompt, 1_000, cached)
        expected = round(((prompt - cached) * p + cached * r + 1_000 * c) * 1000)
        assert abs(charge(price, usage) - expected) <= 1, (name, prompt)


def test_cache_reads_and_writes_count_towards_the_band() -> None:
    haiku = ROWS["claude-haiku-5-5"].price
    # 60K fresh + 30K read + 20K written = 110K: the long band, although no part is over 100K
    nano = charge(haiku, Usage(110_000, 0, 30_000, 20_000))
    assert nano == round((60_000 * 0.50 + 30_000 * 0.05 + 20_000 * 0.625) * 1000)


def test_service_tiers_multiply_the_whole_request() -> None:
    sol = ROWS["gpt-6.2-sol"].price
    usage = Usage(10_000, 1_000, 2_000)
    standard = charge(sol, usage)
    assert standard == round((8_000 * 2 + 2_000 * 0.10 + 1_000 * 10) * 1000)
    assert charge(sol, usage, "priority") == 2 * standard
    assert charge(sol, usage, "flex") == standard // 2
    assert charge(sol, usage, "default") == standard
    assert charge(sol, usage, "scale") == standard  # a tier the price does not name
    # over the band the tier multiplies the band's rate
    long = Usage(300_000, 1_000)
    assert charge(sol, long, "priority") == 2 * ((300_000 * 4 + 1_000 * 15) * 1000)
    # a price without tiers ignores them
    assert charge(ROWS["claude-sonnet-5"].price, usage, "priority") == charge(
        ROWS["claude-sonnet-5"].price, usage
    )


def test_the_answers_tier_wins_over_the_requests() -> None:
    """The tier that processed the request (reported by the answer) is what is billed."""
    sol = ROWS["gpt-6.2-sol"].price
    served = Usage(10_000, 1_000, service_tier="default")
    assert charge(sol, served, "priority") == charge(sol, Usage(10_000, 1_000))
    assert charge(sol, Usage(10_000, 1_000, service_tier="flex"), "priority") == charge(sol, served) // 2


def test_for_request_prices_a_target_at_its_band_and_tier() -> None:
    table = PriceTable()
    assert table.for_request("a", "gpt-6.2-sol", 1_000) == Price(2, 10, 0.10, 2.5)
    assert table.for_request("a", "gpt-6.2-sol", 272_001, "priority") == Price(8, 30, 0.40, 10.0)
    assert table.for_request("a", "claude-haiku-5-5", 100_001) == Price(0.5, 2.5, 0.05, 0.625, 1.0)
    assert table.for_request("a", "unknown", 10) is None


def test_request_price_is_flat_for_the_requests_band_and_tier() -> None:
    sol = ROWS["gpt-6.2-sol"].price
    assert request_price(sol, 1_000) == Price(2, 10, 0.10, 2.5)
    assert request_price(sol, 300_000) == Price(4, 15, 0.20, 5.0)
    doubled = request_price(sol, 1_000, "priority")
    assert (doubled.prompt, doubled.completion, doubled.long, doubled.tiers) == (4, 20, None, ())


def test_worst_case_is_an_upper_bound_of_any_usage() -> None:
    opus = ROWS["claude-opus-5-5"].price
    worst = worst_case_nano_usd(request_price(opus, 1_000), 1_000, 200)
    for cached, written, hour in (
        (0, 0, 0),
        (1_000, 0, 0),
        (0, 1_000, 0),
        (500, 500, 500),
        (0, 1_000, 1_000),
    ):
        assert cost_nano_usd(opus, 1_000, 200, cached, written, cache_write_1h=hour) <= worst


@pytest.mark.parametrize(
    ("nano", "text"),
    [(0, "0"), (123_000, "0.000123"), (1, "0.000000001"), (2_500_000_000, "2.5"), (-5, "0")],
)
def test_format_usd(nano: int, text: str) -> None:
    assert format_usd(nano) == text


def test_price_report_names_unpriced_old_and_unverified_rows() -> None:
    config = make_config(
        {
            "models": {
                "a": {"targets": ["a/claude-opus-5-5", "b/gpt-4o", "c/my-finetune"]},
                "b": {"targets": ["mock/echo", "a/house"]},
            },
            "prices": {"house": {"prompt": 1.0}},
        }
    )
    today = datetime.date(2026, 12, 7)
    lines = price_report(config, today, 90)
    assert lines[0].startswith("unpriced: c/my-finetune (no cost is known")
    assert lines[1] == "prices not verified on the provider's page: b/gpt-4o"
    later = price_report(config, today + datetime.timedelta(days=91), 90)
    assert "prices older than 90 days: a/claude-opus-5-5, b/gpt-4o (re-read their pages)" in later


def test_rules_are_kept_with_the_price() -> None:
    table = PriceTable()
    rules = table.rules("anthropic", "claude-sonnet-5")
    assert isinstance(rules, Rules) and {"temperature", "top_p", "top_k", "thinking.budget"} <= rules.refuses
    assert table.rules("bedrock", "global.anthropic.claude-sonnet-5-5") is ROWS["claude-sonnet-5-5"].rules
    assert table.rules("openai", "gpt-4o") is None
    assert isinstance(ROWS["claude-sonnet-5"], Listing)
