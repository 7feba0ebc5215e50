"""The shipped price table and the lookup every cost goes through (usage, response headers, budgets).

Prices are USD per million tokens (micro-USD per token) for input, output, cached input (a cache
read) and cache writes. Rows are the providers' published list prices for standard (non-batch,
non-priority) calls at the dates in their comments; long-context surcharges (Gemini 2.5 Pro and
Claude Sonnet above 200k prompt tokens), Bedrock's regional-endpoint premium and cache storage per
hour are not modelled. `[prices]` in the configuration overrides and extends the table.

Lookup order for a target `provider/model`: the configuration by `provider/model`, then by model
name, then this table by model name; a model name is also tried without a Bedrock cross-region
prefix (`us.`, `eu.`, `apac.`, `global.`) and without a trailing snapshot date
(`-2024-08-06`, `-20250929`). An unknown model costs nothing (`switchboard check-config` lists them).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from switchboard.config import Price
from switchboard.wire.openai import Usage


def _p(
    prompt: float, completion: float, cached: float | None = None, cache_write: float | None = None
) -> Price:
    return Price(prompt=prompt, completion=completion, cached=cached, cache_write=cache_write)


# Each group names the provider's public pricing page; each row says when it was checked.
SHIPPED: Mapping[str, Price] = {
    # OpenAI, https://openai.com/api/pricing (cache writes are not charged: cache_write unset)
    "gpt-4o": _p(2.50, 10.00, 1.25),  # as published, checked 2026-12-02
    "gpt-4o-mini": _p(0.15, 0.60, 0.075),  # as published, checked 2026-12-02
    "gpt-4.1": _p(2.00, 8.00, 0.50),  # as published, checked 2026-12-02
    "gpt-4.1-mini": _p(0.40, 1.60, 0.10),  # as published, checked 2026-12-02
    "gpt-4.1-nano": _p(0.10, 0.40, 0.025),  # as published, checked 2026-12-02
    "o1": _p(15.00, 60.00, 7.50),  # as published, checked 2026-12-02
    "o3": _p(2.00, 8.00, 0.50),  # as published, checked 2026-12-02 (after the June 2025 cut)
    "o3-mini": _p(1.10, 4.40, 0.55),  # as published, checked 2026-12-02
    "o4-mini": _p(1.10, 4.40, 0.275),  # as published, checked 2026-12-02
    "gpt-5": _p(1.25, 10.00, 0.125),  # as published, checked 2026-12-02
    "gpt-5-mini": _p(0.25, 2.00, 0.025),  # as published, checked 2026-12-02
    "gpt-5-nano": _p(0.05, 0.40, 0.005),  # as published, checked 2026-12-02
    "gpt-5.1": _p(1.25, 10.00, 0.125),  # as published, checked 2026-12-02; unsure: assumed = gpt-5
    "text-embedding-3-small": _p(0.02, 0.0),  # as published, checked 2026-12-02
    "text-embedding-3-large": _p(0.13, 0.0),  # as published, checked 2026-12-02
    # Anthropic, https://www.anthropic.com/pricing#api (cache write = 5-minute TTL write, 1.25x input)
    "claude-opus-4-5": _p(5.00, 25.00, 0.50, 6.25),  # as published, checked 2026-12-02
    "claude-opus-4-1": _p(15.00, 75.00, 1.50, 18.75),  # as published, checked 2026-12-02
    "claude-opus-4": _p(15.00, 75.00, 1.50, 18.75),  # as published, checked 2026-12-02
    "claude-opus-4-0": _p(15.00, 75.00, 1.50, 18.75),  # as published, checked 2026-12-02 (alias)
    "claude-sonnet-4-5": _p(3.00, 15.00, 0.30, 3.75),  # as published, checked 2026-12-02 (<= 200k)
    "claude-sonnet-4": _p(3.00, 15.00, 0.30, 3.75),  # as published, checked 2026-12-02 (<= 200k)
    "claude-sonnet-4-0": _p(3.00, 15.00, 0.30, 3.75),  # as published, checked 2026-12-02 (alias)
    "claude-haiku-4-5": _p(1.00, 5.00, 0.10, 1.25),  # as published, checked 2026-12-02
    "claude-3-7-sonnet": _p(3.00, 15.00, 0.30, 3.75),  # as published, checked 2026-12-02
    "claude-3-5-haiku": _p(0.80, 4.00, 0.08, 1.00),  # as published, checked 2026-12-02
    # Google Gemini API, https://ai.google.dev/gemini-api/docs/pricing (text input; <= 200k prompt
    # tokens; cached = context-cache read, storage per hour not modelled; no per-token write charge)
    "gemini-2.5-pro": _p(1.25, 10.00, 0.125),  # as published, checked 2026-12-02
    "gemini-2.5-flash": _p(0.30, 2.50, 0.03),  # as published, checked 2026-12-02; cached unsure
    "gemini-2.5-flash-lite": _p(0.10, 0.40, 0.01),  # as published, checked 2026-12-02; cached unsure
    "gemini-2.0-flash": _p(0.10, 0.40, 0.025),  # as published, checked 2026-12-02
    "gemini-3-pro-preview": _p(2.00, 12.00, 0.20),  # as published, checked 2026-12-02; unsure (preview)
    # Amazon Bedrock, https://aws.amazon.com/bedrock/pricing (on-demand, us-east-1; global
    # cross-region endpoints; regional endpoints of Claude 4.5 models cost 10 % more, not modelled)
    # as published, checked 2026-12-02
    "anthropic.claude-opus-4-5-20251101-v1:0": _p(5.00, 25.00, 0.50, 6.25),
    # as published, checked 2026-12-02
    "anthropic.claude-opus-4-1-20250805-v1:0": _p(15.00, 75.00, 1.50, 18.75),
    # as published, checked 2026-12-02
    "anthropic.claude-sonnet-4-5-20250929-v1:0": _p(3.00, 15.00, 0.30, 3.75),
    # as published, checked 2026-12-02
    "anthropic.claude-sonnet-4-20250514-v1:0": _p(3.00, 15.00, 0.30, 3.75),
    # as published, checked 2026-12-02
    "anthropic.claude-haiku-4-5-20251001-v1:0": _p(1.00, 5.00, 0.10, 1.25),
    # as published, checked 2026-12-02
    "anthropic.claude-3-5-haiku-20241022-v1:0": _p(0.80, 4.00, 0.08, 1.00),
    "amazon.nova-premier-v1:0": _p(2.50, 12.50),  # as published, checked 2026-12-02; unsure
    "amazon.nova-pro-v1:0": _p(0.80, 3.20, 0.20),  # as published, checked 2026-12-02
    "amazon.nova-lite-v1:0": _p(0.06, 0.24, 0.015),  # as published, checked 2026-12-02
    "amazon.nova-micro-v1:0": _p(0.035, 0.14, 0.00875),  # as published, checked 2026-12-02
    "meta.llama4-maverick-17b-instruct-v1:0": _p(0.24, 0.97),  # as published, checked 2026-12-02; unsure
    "meta.llama4-scout-17b-instruct-v1:0": _p(0.17, 0.66),  # as published, checked 2026-12-02; unsure
    "meta.llama3-3-70b-instruct-v1:0": _p(0.72, 0.72),  # as published, checked 2026-12-02
    "meta.llama3-1-70b-instruct-v1:0": _p(0.72, 0.72),  # as published, checked 2026-12-02
    "meta.llama3-1-8b-instruct-v1:0": _p(0.22, 0.22),  # as published, checked 2026-12-02
}

FREE = Price()
"""What an unknown model costs."""

_REGION_PREFIX = re.compile(r"^(?:us|eu|apac|jp|au|us-gov|global)\.")
_DATE_SUFFIX = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8})$")


class PriceTable:
    """The shipped table with the configuration's `[prices]` over it. A lookup is a dict hit after
    the first one for each target (results are memoised; the set of targets is the configuration's,
    plus a bounded number of per-request model overrides)."""

    def __init__(
        self, overrides: Mapping[str, Price] | None = None, shipped: Mapping[str, Price] = SHIPPED
    ) -> None:
        self._overrides = dict(overrides or {})
        self._shipped = shipped
        self._found: dict[tuple[str, str], Price | None] = {}

    def get(self, provider: str, model: str) -> Price | None:
        """The price of a target, or None when neither the configuration nor the table knows it."""
        ident = (provider, model)
        try:
            return self._found[ident]
        except KeyError:
            pass
        price = self._overrides.get(f"{provider}/{model}") or self._overrides.get(model)
        if price is None:
            bare = _REGION_PREFIX.sub("", model)
            for name in (model, bare, _DATE_SUFFIX.sub("", bare)):
                price = self._overrides.get(name) or self._shipped.get(name)
                if price is not None:
                    break
        if len(self._found) > 10_000:
            self._found.clear()
        self._found[ident] = price
        return price

    def cost(self, provider: str, model: str, usage: Usage | None) -> int:
        """Nano-USD of one answer's usage at this target's price (0 when unknown or unpriced)."""
        price = self.get(provider, model)
        if price is None or usage is None:
            return 0
        return cost_nano_usd(price, usage.prompt, usage.completion, usage.cached, usage.cache_write)


def cost_nano_usd(price: Price, prompt: int, completion: int, cached: int = 0, cache_write: int = 0) -> int:
    """Prices are USD per million tokens, i.e. micro-USD per token. `prompt` includes the cached
    (cache-read) and cache-write tokens, which are charged at their own prices (default: the prompt
    price)."""
    cached_price = price.prompt if price.cached is None else price.cached
    write_price = price.prompt if price.cache_write is None else price.cache_write
    fresh = max(0, prompt - cached - cache_write)
    micro = (
        fresh * price.prompt
        + cached * cached_price
        + cache_write * write_price
        + completion * price.completion
    )
    return round(micro * 1000)


def worst_case_nano_usd(price: Price, prompt: int, completion: int) -> int:
    """An upper bound of what `prompt` + `completion` tokens can cost at `price`: every prompt token
    at the dearest input price (a cache write can cost more than a plain input token)."""
    dearest = max(price.prompt, price.cached or 0.0, price.cache_write or 0.0)
    return math.ceil((prompt * dearest + completion * price.completion) * 1000)


def format_usd(nano: int) -> str:
    """A decimal string of dollars without float rounding: 123000 -> "0.000123", 0 -> "0"."""
    whole, frac = divmod(max(0, nano), 1_000_000_000)
    return f"{whole}.{frac:09d}".rstrip("0").rstrip(".")
