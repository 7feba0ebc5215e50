"""Under a dollar budget only priced targets serve: the plan step that skips the others, and the
opt-in fallback price that prices them."""

from __future__ import annotations

import pytest

from support import make_config
from switchboard.config import ConfigError, Price, Target
from switchboard.errors import Forbidden
from switchboard.routing.priced import priced_chain
from switchboard.state.prices import PriceTable

A, B, C = Target("a", "gpt-6.2-sol"), Target("b", "gpt-6-sol-x"), Target("c", "claude-sonnet-5-5")


def test_unpriced_targets_are_skipped_in_chain_order() -> None:
    table = PriceTable()
    assert priced_chain((B, A, C), lambda t: table.get(t.provider, t.model)) == (A, C)


def test_no_priced_target_left_is_a_403_naming_the_target_and_how_to_price_it() -> None:
    table = PriceTable()
    with pytest.raises(Forbidden) as raised:
        priced_chain((B,), lambda t: table.get(t.provider, t.model))
    error = raised.value
    assert error.http_status == 403 and error.error_code == "unpriced_model"
    assert "b/gpt-6-sol-x" in str(error) and '[prices] "b/gpt-6-sol-x"' in str(error)


def test_a_models_fallback_price_prices_its_unpriced_targets_only() -> None:
    config = make_config(
        {
            "models": {
                "x": {
                    "targets": ["a/gpt-6-sol-x", "b/gpt-6.2-sol"],
                    "fallback_price": {"prompt": 5, "completion": 20},
                },
                "y": {"targets": ["c/other"]},
            }
        }
    )
    table = PriceTable.of(config)
    assert table.get("a", "gpt-6-sol-x") == Price(5.0, 20.0) and table.fallback("a", "gpt-6-sol-x")
    assert table.get("b", "gpt-6.2-sol") == table.get("z", "gpt-6.2-sol")  # its own row wins
    assert not table.fallback("b", "gpt-6.2-sol")
    assert table.get("c", "other") is None  # model y declared none
    assert priced_chain(config.models["x"].targets, lambda t: table.get(t.provider, t.model)) == (
        config.models["x"].targets
    )


def test_fallback_price_is_validated_like_a_price() -> None:
    with pytest.raises(ConfigError, match=r'models."x".fallback_price: prices must not be negative'):
        make_config({"models": {"x": {"targets": ["a/m"], "fallback_price": {"prompt": -1}}}})
