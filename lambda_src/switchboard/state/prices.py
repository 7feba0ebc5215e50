"""Prices: the lookup every cost goes through (usage, response headers, budgets) and what one
answer costs.

Prices are USD per million tokens (micro-USD per token) for input, output, cache reads and cache
writes (5-minute and 1-hour where a provider prices them apart). The shipped rows live in
`state/price_list.py`, each with the page it was read from and the date; `[prices]` in the
configuration overrides and extends them.

What one request costs is computed from its reported usage, not averaged:
- a prompt-length band (`Price.long_above`): a request whose prompt, cache reads and writes
  included, is longer than the threshold pays the band's prices (`Price.long`) for every token,
  output included (Claude Haiku 5.5 over 100K, GPT-6 over 272K, Sonnet 4.5 / Gemini 2.5 Pro over
  200K);
- a service tier (`Price.tiers`): the tier the answer says processed it, else the tier the request
  asked for, multiplies the whole request (OpenAI priority / fast 2x, flex 0.5x; Gemini flex 0.5x);
- cache writes kept for an hour are charged at `cache_write_1h` where the answer tells them apart.

Lookup order for a target `provider/model`: the configuration by `provider/model`, then by model
name, then the shipped list; a model name is also tried without a Bedrock region prefix (`global.`,
`us.`, `eu.`, ...), without Bedrock's `anthropic.` vendor prefix and `-v1:0` version suffix, and
without a snapshot date (`-2024-08-06`, `-20250929`, `@20251001`). Claude on Bedrock costs the Claude
row, 10% more on non-global endpoints of Claude 4.5 and later. A model nobody prices is unpriced:
its cost is None (not 0), `switchboard check-config` lists it, and a key with a dollar budget is
never served by it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import date

from switchboard.config import Config, Price
from switchboard.state.listing import Listing, Rules
from switchboard.values import Usage

FREE = Price()
"""What a served-from-cache answer costs."""

_REGION_PREFIX = re.compile(r"^(us-gov|global|us|eu|apac|jp|au|ca)\.")
_BEDROCK_ANTHROPIC = re.compile(r"^anthropic\.(.+?)(?:-v\d+(?::\d+)?)?$")
_DATE_SUFFIX = re.compile(r"(?:-(?:\d{4}-\d{2}-\d{2}|\d{8})|@\d{8})$")
_STANDARD_TIERS = frozenset({"default", "standard", "auto", "on_demand"})


def _shipped() -> Mapping[str, Listing]:
    from switchboard.state.price_list import ROWS  # data: imported on the first lookup only

    return ROWS


class PriceTable:
    """The shipped list with the configuration's `[prices]` over it. A lookup is a dict hit after the
    first one for each target (results are memoised; the set of targets is the configuration's,
    plus a bounded number of per-request model overrides)."""

    def __init__(
        self,
        overrides: Mapping[str, Price] | None = None,
        shipped: Mapping[str, Listing] | None = None,
        fallbacks: Mapping[str, Price] | None = None,
    ) -> None:
        self._overrides = dict(overrides or {})
        self._rows = shipped
        self._fallbacks = dict(fallbacks or {})
        """`provider/model` -> the declared `fallback_price` of a model listing it (see
        `fallback_prices`): what such a target costs when nothing else prices it."""
        self._found: dict[tuple[str, str], tuple[Price | None, Listing | None]] = {}

    @property
    def rows(self) -> Mapping[str, Listing]:
        if self._rows is None:
            self._rows = _shipped()
        return self._rows

    @classmethod
    def of(cls, config: Config) -> PriceTable:
        """The configuration's table: `[prices]` over the shipped list, then declared fallbacks."""
        return cls(config.prices, fallbacks=fallback_prices(config))

    def get(self, provider: str, model: str) -> Price | None:
        """The price of a target, or None when neither the configuration nor the list knows it."""
        return self._lookup(provider, model)[0]

    def for_request(self, provider: str, model: str, prompt: int, tier: str | None = None) -> Price | None:
        """A target's flat price for a request of about `prompt` input tokens asking for `tier`
        (its band's rates times its tier; see `request_price`), or None when it is unpriced."""
        price = self.get(provider, model)
        return None if price is None else request_price(price, prompt, tier)

    def fallback(self, provider: str, model: str) -> bool:
        """Whether a target is priced only by its model's declared `fallback_price`."""
        ident = f"{provider}/{model}"
        return ident in self._fallbacks and self.get(provider, model) is self._fallbacks[ident]

    def listing(self, provider: str, model: str) -> Listing | None:
        """The shipped row a target is priced by (None when `[prices]` prices it, or nobody)."""
        return self._lookup(provider, model)[1]

    def rules(self, provider: str, model: str) -> Rules | None:
        """The target model's request rules, from its shipped row (None: nothing known)."""
        found = self._lookup(provider, model)[1]
        return None if found is None else found.rules

    def cost(self, provider: str, model: str, usage: Usage | None, tier: str | None = None) -> int | None:
        """Nano-USD of one answer's usage at this target's price; None when the target is unpriced
        (the answer's cost is unknown, not zero); 0 without usage."""
        price = self.get(provider, model)
        if price is None:
            return None
        if usage is None:
            return 0
        return charge(price, usage, tier)

    def _lookup(self, provider: str, model: str) -> tuple[Price | None, Listing | None]:
        ident = (provider, model)
        try:
            return self._found[ident]
        except KeyError:
            pass
        found = self._resolve(provider, model)
        if len(self._found) > 10_000:
            self._found.clear()
        self._found[ident] = found
        return found

    def _resolve(self, provider: str, model: str) -> tuple[Price | None, Listing | None]:
        price = self._overrides.get(f"{provider}/{model}") or self._overrides.get(model)
        if price is not None:
            return price, None
        region = _REGION_PREFIX.match(model)
        bare = model[region.end() :] if region else model
        vendor = _BEDROCK_ANTHROPIC.match(bare)
        names = [model, bare]
        if vendor is not None:
            names.append(vendor.group(1))
        names.append(_DATE_SUFFIX.sub("", names[-1]))
        rows = self.rows
        for name in names:
            price = self._overrides.get(name)
            if price is not None:
                return price, None
            row = rows.get(name)
            if row is not None:
                if vendor is not None and (region is None or region.group(1) != "global"):
                    return _regional(name, row), row
                return row.price, row
        return self._fallbacks.get(f"{provider}/{model}"), None


def fallback_prices(config: Config) -> dict[str, Price]:
    """`provider/model` -> the `fallback_price` of the first model listing that target and
    declaring one (an opt-in: the target is then charged that price when nothing prices it)."""
    found: dict[str, Price] = {}
    for model in config.models.values():
        if model.fallback_price is not None:
            for target in model.targets:
                found.setdefault(target.id, model.fallback_price)
    return found


_SHIPPED_ONLY: PriceTable | None = None


def model_rules(model: str) -> Rules | None:
    """A model's request rules from the shipped list (any provider's id of it), or None."""
    global _SHIPPED_ONLY
    if _SHIPPED_ONLY is None:
        _SHIPPED_ONLY = PriceTable()
    return _SHIPPED_ONLY.rules("", model)


def _regional(name: str, row: Listing) -> Price:
    """A Claude row on a non-global Bedrock endpoint (see `price_list.BEDROCK_REGIONAL`)."""
    from switchboard.state.price_list import BEDROCK_REGIONAL, BEDROCK_REGIONAL_MODELS

    if name not in BEDROCK_REGIONAL_MODELS:
        return row.price
    return scaled(row.price, BEDROCK_REGIONAL.price.prompt)


def scaled(price: Price, factor: float) -> Price:
    """Every rate of `price` (its band's included) times `factor`."""

    def times(value: float | None) -> float | None:
        return None if value is None else value * factor

    long = None if price.long is None else scaled(price.long, factor)
    return Price(
        price.prompt * factor,
        price.completion * factor,
        times(price.cached),
        times(price.cache_write),
        times(price.cache_write_1h),
        long_above=price.long_above,
        long=long,
        tiers=price.tiers,
    )


def band(price: Price, prompt: int) -> Price:
    """The prices a request with `prompt` input tokens (cache reads and writes included) pays."""
    if price.long is not None and price.long_above is not None and prompt > price.long_above:
        return price.long
    return price


def tier_factor(price: Price, tier: str | None) -> float:
    """The multiplier of a service tier (1 for the standard tier or one the price does not name)."""
    if not tier or not price.tiers:
        return 1.0
    tier = tier.lower()
    if tier in _STANDARD_TIERS:
        return 1.0
    return next((factor for name, factor in price.tiers if name == tier), 1.0)


def charge(price: Price, usage: Usage, tier: str | None = None) -> int:
    """What `usage` costs at `price` (nano-USD): its band, its cache reads and writes at their own
    prices, times its service tier (the answer's, else `tier`, the request's)."""
    return cost_nano_usd(
        price,
        usage.prompt,
        usage.completion,
        usage.cached,
        usage.cache_write,
        cache_write_1h=usage.cache_write_1h,
        tier=usage.service_tier or tier,
    )


def cost_nano_usd(
    price: Price,
    prompt: int,
    completion: int,
    cached: int = 0,
    cache_write: int = 0,
    *,
    cache_write_1h: int = 0,
    tier: str | None = None,
) -> int:
    """Prices are USD per million tokens, i.e. micro-USD per token. `prompt` includes the cache-read
    (`cached`) and cache-write tokens, which are charged at their own prices (default: the prompt
    price); `cache_write_1h` is the part of `cache_write` kept for an hour."""
    rates = band(price, prompt)
    cached_price = rates.prompt if rates.cached is None else rates.cached
    write_price = rates.prompt if rates.cache_write is None else rates.cache_write
    hour_price = write_price if rates.cache_write_1h is None else rates.cache_write_1h
    hour = min(max(0, cache_write_1h), cache_write)
    fresh = max(0, prompt - cached - cache_write)
    micro = (
        fresh * rates.prompt
        + cached * cached_price
        + (cache_write - hour) * write_price
        + hour * hour_price
        + completion * rates.completion
    )
    return round(micro * 1000 * tier_factor(price, tier))


def request_price(price: Price, prompt: int, tier: str | None = None) -> Price:
    """A flat price (no band, no tiers) for a request of `prompt` input tokens asking for `tier`:
    what admission reserves with (its band's rates times its tier)."""
    rates = band(price, prompt)
    flat = Price(rates.prompt, rates.completion, rates.cached, rates.cache_write, rates.cache_write_1h)
    factor = tier_factor(price, tier)
    return flat if factor == 1.0 else scaled(flat, factor)


def worst_case_nano_usd(price: Price, prompt: int, completion: int) -> int:
    """An upper bound of what `prompt` + `completion` tokens can cost at a flat `price`: every prompt
    token at the dearest input price (a cache write can cost more than a plain input token)."""
    dearest = max(price.prompt, price.cached or 0.0, price.cache_write or 0.0, price.cache_write_1h or 0.0)
    return math.ceil((prompt * dearest + completion * price.completion) * 1000)


def stale(rows: Iterable[tuple[str, Listing]], today: date, max_age_days: int) -> list[str]:
    """Names of the rows read more than `max_age_days` before `today`."""
    return [name for name, row in rows if (today - date.fromisoformat(row.read)).days > max_age_days]
