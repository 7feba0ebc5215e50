"""`[prices]` and a model's `fallback_price`: USD per million tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from switchboard.config.reading import (
    ConfigError,
    _check_keys,
    _get,
)


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens."""

    prompt: float = 0.0
    completion: float = 0.0
    cached: float | None = None
    """Price of cached prompt tokens (default: the prompt price)."""
    cache_write: float | None = None
    """Price of prompt tokens written to a provider's cache (Anthropic: the 5-minute write;
    default: the prompt price)."""
    cache_write_1h: float | None = None
    """Price of cache writes kept for an hour, where the answer tells them apart (Anthropic's
    `cache_creation.ephemeral_1h_input_tokens`; default: `cache_write`)."""
    long_above: int | None = None
    """Prompt-length band: a request whose prompt (cache reads and writes included) is longer
    than this many tokens pays `long` for every token of the request, output included."""
    long: Price | None = None
    tiers: tuple[tuple[str, float], ...] = ()
    """Service-tier multipliers (`("priority", 2.0), ("flex", 0.5)`) applied to the whole request
    when the request or the answer names that tier; other tiers cost the list price."""


def _price(name: str, raw: Any, where: str | None = None) -> Price:
    where = where or f"prices.{name!r}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table with prompt / completion (USD per million tokens)")
    names = ("prompt", "completion", "cached", "cache_write", "cache_write_1h")
    _check_keys(raw, set(names), where)
    values = {k: _get(raw, k, (int, float), where, None) for k in names}
    if any(v is not None and v < 0 for v in values.values()):
        raise ConfigError(f"{where}: prices must not be negative")
    cached, write, write_1h = (None if values[k] is None else float(values[k]) for k in names[2:])
    return Price(
        prompt=float(values["prompt"] or 0.0),
        completion=float(values["completion"] or 0.0),
        cached=cached,
        cache_write=write,
        cache_write_1h=write_1h,
    )
