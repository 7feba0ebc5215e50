"""The shipped price list: one row per model, USD per million tokens, each row naming the page its
price was read from and the date it was read (the stored copies of these pages show no date of
their own, so `read` is the day they were read: 2026-12-07). Rows that could not be read on a
provider's own page are `verified=False` and say where their figures come from.

Data only: the lookup and the cost computation are in `state/prices.py`, which imports this module
on its first lookup (not at import time). To update a price: read the page, change the row, set
`read` to the day you read it; `switchboard check-config` lists the rows older than
`--price-age-days` that configured targets use.

Long-context / prompt-length bands (`long_above` + `long`) and service-tier multipliers (`tiers`)
are the providers' own rules as their pages state them; see `state/prices.py` for how they apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from switchboard.config import Price
from switchboard.state.listing import Listing, Rules

READ: Final = "2026-12-07"

# Anthropic: the pricing page (current version: Fable/Mythos 5.x, Opus 5 .. 4.1), an older stored
# version of the same page (zh-CN: Claude 3 .. 4.6), the per-model overview pages (Opus 5.5,
# Sonnet 5.5 / 5, Haiku 5.5), migration guides (parameter rules) and the service-tiers page (the
# long-context 2x / 1.5x of Sonnet 4.5 / 4).
ANTHROPIC: Final = "https://platform.claude.com/docs/en/about-claude/pricing"
ANTHROPIC_V1: Final = "https://platform.claude.com/docs/zh-CN/about-claude/pricing"
ANTHROPIC_TIERS: Final = "https://platform.claude.com/docs/en/api/service-tiers"
OPUS_5_5: Final = "https://platform.claude.com/docs/zh-CN/models/opus-5-5/overview"
OPUS_5: Final = "https://platform.claude.com/docs/about-claude/models/whats-new-opus-5"
SONNET_5_5: Final = "https://platform.claude.com/docs/en/models/sonnet-5-5/migration-guide"
SONNET_5: Final = "https://platform.claude.com/docs/zh-CN/models/sonnet-5/migration-guide"
HAIKU_5_5: Final = "https://platform.claude.com/docs/zh-CN/models/haiku-5-5/overview"
# OpenAI: per-model pages (prices, bands, tier multipliers), the flex and priority pages.
OPENAI: Final = "https://developers.openai.com/api/docs/pricing"
GPT_6_2_SOL: Final = "https://developers.openai.com/api/docs/models/gpt-6.2-sol"
GPT_6_LUNA: Final = "https://developers.openai.com/ja-JP/api/docs/models/gpt-6-luna"
GPT_5_6_LUNA: Final = "https://developers.openai.com/api/docs/models/gpt-5.6-luna"
GPT_6_SOL: Final = "https://developers.openai.com/zh-Hans/api/docs/models/gpt-6-sol"
OPENAI_FLEX: Final = "https://developers.openai.com/api/docs/guides/flex-processing"
# Google and AWS.
GEMINI: Final = "https://ai.google.dev/gemini-api/docs/pricing"
GEMINI_FLEX: Final = "https://ai.google.dev/gemini-api/docs/flex-inference"
BEDROCK: Final = "https://aws.amazon.com/bedrock/pricing/"

UNREAD: Final = "not re-read: carried over from the previous table, written from memory"


def _p(
    prompt: float,
    completion: float,
    cached: float | None = None,
    write: float | None = None,
    write_1h: float | None = None,
) -> Price:
    return Price(prompt, completion, cached, write, write_1h)


def _claude(prompt: float, completion: float, cached: float, write: float, write_1h: float) -> Price:
    """A Claude row as the pricing page lists it: base input, output, cache hits, 5m and 1h writes."""
    return _p(prompt, completion, cached, write, write_1h)


def _scaled(price: Price, prompt: float, completion: float) -> Price:
    """`price` with every input rate (cache reads and writes included) times `prompt` and the
    output rate times `completion`."""

    def times(value: float | None) -> float | None:
        return None if value is None else round(value * prompt, 6)

    return Price(
        round(price.prompt * prompt, 6),
        round(price.completion * completion, 6),
        times(price.cached),
        times(price.cache_write),
        times(price.cache_write_1h),
    )


def _band(price: Price, above: int, long: Price) -> Price:
    return Price(
        price.prompt,
        price.completion,
        price.cached,
        price.cache_write,
        price.cache_write_1h,
        long_above=above,
        long=long,
        tiers=price.tiers,
    )


def _openai(price: Price, above: int = 272_000) -> Price:
    """GPT-6 / 5.6 family: above 272K input tokens the whole request pays 2x input and cache, 1.5x
    output; Fast (priority) 2x and Flex 0.5x of the rate that applies."""
    tiers = (("priority", 2.0), ("fast", 2.0), ("flex", 0.5))
    long = _scaled(price, 2.0, 1.5)
    return Price(
        price.prompt,
        price.completion,
        price.cached,
        price.cache_write,
        long_above=above,
        long=Price(long.prompt, long.completion, long.cached, long.cache_write, tiers=tiers),
        tiers=tiers,
    )


# --- rules (what a model refuses), each from its own page ------------------------------------------

_SAMPLING: Final = frozenset({"temperature", "top_p", "top_k"})
SONNET_5_RULES: Final = Rules(SONNET_5, READ, 1_000_000, "adaptive", refuses=_SAMPLING | {"thinking.budget"})
"""Non-default temperature / top_p / top_k and manual extended thinking return 400."""
SONNET_5_5_RULES: Final = Rules(
    SONNET_5_5,
    READ,
    1_000_000,
    "adaptive",
    refuses=_SAMPLING | {"thinking.budget", "thinking.disabled", "tool_choice.forced"},
)
"""Five settings return 400: thinking budgets, sampling parameters, assistant prefill, forced tool
choice, thinking disabled (prefill is not something a translation adds)."""
OPUS_5_5_RULES: Final = Rules(
    OPUS_5_5,
    READ,
    1_000_000,
    "adaptive",
    refuses=frozenset({"thinking.budget", "thinking.disabled", "tool_choice.forced"}),
)
"""Thinking cannot be turned off (disabled and enabled+budget are refused); forced tool use errors."""
FABLE_5_1_RULES: Final = Rules(OPUS_5_5, READ, 1_000_000, "adaptive", refuses=OPUS_5_5_RULES.refuses)
"""The Opus 5.5 page: its first three breaking changes 'also apply to Claude Fable 5.1'."""
HAIKU_5_5_RULES: Final = Rules(HAIKU_5_5, READ, 1_000_000, "adaptive")
GPT_6_RULES: Final = Rules(
    GPT_6_2_SOL,
    READ,
    1_050_000,
    "effort",
    refuses=frozenset({"temperature", "top_p", "logprobs", "top_logprobs", "reasoning_effort.none"}),
)
"""'The API rejects requests that set reasoning effort to none' (the model page). The sampling
settings work only at effort none - OpenAI's GPT-6 guidance, 'when reasoning effort is not none,
remove temperature, top_p, and top_logprobs', as quoted by GPT6_SAMPLING (the guide itself was not
readable through the look-up tools) - so a model without `none` refuses them outright."""
GPT6_SAMPLING: Final = (
    "https://dev.to/aihubmix/gpt-61-terra-migration-for-api-clients-the-400s-the-silent-no-ops-and-a-"
    "working-codex-config-45bk"
)
"""A third-party test of the GPT-6 rules against the API (2026-10-27): temperature or top_p return
400 on GPT-6.1 Terra unless the reasoning effort is none."""
GPT_6_LUNA_RULES: Final = Rules(GPT_6_LUNA, READ, 1_050_000, "effort", sampling_needs_effort_none=True)
"""Effort none .. max (default medium); the sampling settings only at effort none (GPT6_SAMPLING),
so a request that does not ask for `none` loses them."""
GPT_6_2_ASTRA_RULES: Final = Rules(
    "https://dev.to/hassann/how-to-use-gpt-62-astra-api-3j9l",
    READ,
    1_050_000,
    "effort",
    refuses=GPT_6_RULES.refuses,
)
"""'Don't set effort to none: the API rejects it' (a third-party guide from the model page,
2026-11-18); the sampling settings then as GPT-6.2 Sol."""
GPT_6_NONE_RULES: Final = Rules(GPT6_SAMPLING, READ, 1_050_000, "effort", sampling_needs_effort_none=True)
"""GPT-6 Sol and GPT-6.1 Terra accept effort none; the sampling settings only there."""

# --- the rows ---------------------------------------------------------------------------------------

_OPUS_4_5_TO_5 = _claude(5, 25, 0.50, 6.25, 10)
_OPUS_4 = _claude(15, 75, 1.50, 18.75, 30)
_SONNET_4 = _claude(3, 15, 0.30, 3.75, 6)
_SONNET_4_LONG = _band(_SONNET_4, 200_000, _scaled(_SONNET_4, 2.0, 1.5))
_FABLE = _claude(10, 50, 1, 12.50, 20)
_FABLE_5_1 = _claude(10, 50, 0.25, 12.50, 20)
_HAIKU_5_5 = _band(_claude(0.10, 0.50, 0.01, 0.125, 0.20), 100_000, _claude(0.50, 2.50, 0.05, 0.625, 1.00))
_SONNET_4_NOTE = "over 200K input tokens (1M window): 2x input, 1.5x output, from " + ANTHROPIC_TIERS

ANTHROPIC_ROWS: Final[Mapping[str, Listing]] = {
    "claude-fable-5-1": Listing(_FABLE_5_1, ANTHROPIC, READ, rules=FABLE_5_1_RULES),
    "claude-mythos-5-1": Listing(_FABLE_5_1, ANTHROPIC, READ, note="limited availability"),
    "claude-fable-5": Listing(_FABLE, ANTHROPIC, READ),
    "claude-mythos-5": Listing(_FABLE, ANTHROPIC, READ, note="limited availability"),
    "claude-opus-5-5": Listing(_claude(4, 20, 0.20, 5, 8), OPUS_5_5, READ, rules=OPUS_5_5_RULES),
    "claude-opus-5": Listing(_OPUS_4_5_TO_5, ANTHROPIC, READ, note="also " + OPUS_5),
    "claude-opus-4-8": Listing(_OPUS_4_5_TO_5, ANTHROPIC, READ),
    "claude-opus-4-7": Listing(_OPUS_4_5_TO_5, ANTHROPIC, READ),
    "claude-opus-4-6": Listing(_OPUS_4_5_TO_5, ANTHROPIC, READ),
    "claude-opus-4-5": Listing(_OPUS_4_5_TO_5, ANTHROPIC, READ),
    "claude-opus-4-1": Listing(_OPUS_4, ANTHROPIC, READ, note="retired, except on Bedrock and Google Cloud"),
    "claude-opus-4": Listing(_OPUS_4, ANTHROPIC_V1, READ),
    "claude-opus-4-0": Listing(_OPUS_4, ANTHROPIC_V1, READ, note="alias of claude-opus-4"),
    "claude-sonnet-5-5": Listing(
        _claude(2, 10, 0.10, 2.50, 4),
        SONNET_5_5,
        READ,
        note="'the same prices as Claude Sonnet 5, except for prompt cache reads, which cost $0.10'",
        rules=SONNET_5_5_RULES,
    ),
    "claude-sonnet-5": Listing(
        _claude(2, 10, 0.20, 2.50, 4),
        "https://platform.claude.com/docs/zh-CN/models/sonnet-5/overview",
        READ,
        rules=SONNET_5_RULES,
    ),
    "claude-sonnet-4-6": Listing(_SONNET_4, ANTHROPIC_V1, READ),
    "claude-sonnet-4-5": Listing(_SONNET_4_LONG, ANTHROPIC_V1, READ, note=_SONNET_4_NOTE),
    "claude-sonnet-4": Listing(_SONNET_4_LONG, ANTHROPIC_V1, READ, note=_SONNET_4_NOTE),
    "claude-sonnet-4-0": Listing(_SONNET_4_LONG, ANTHROPIC_V1, READ, note="alias of claude-sonnet-4"),
    "claude-3-7-sonnet": Listing(_SONNET_4, ANTHROPIC_V1, READ, note="deprecated"),
    "claude-haiku-5-5": Listing(
        _HAIKU_5_5,
        HAIKU_5_5,
        READ,
        verified=False,
        note="input, output and 5m writes of both bands and the 1h write up to 100K were read; the "
        "cache reads (0.01 / 0.05) and the 1h write over 100K (1.00) were cut off in the copy read "
        "and follow the page's 5x band",
        rules=HAIKU_5_5_RULES,
    ),
    "claude-haiku-4-5": Listing(_claude(1, 5, 0.10, 1.25, 2), ANTHROPIC_V1, READ),
    "claude-3-5-haiku": Listing(_claude(0.80, 4, 0.08, 1, 1.6), ANTHROPIC_V1, READ),
    "claude-3-haiku": Listing(_claude(0.25, 1.25, 0.03, 0.30, 0.50), ANTHROPIC_V1, READ),
}

_GPT_6_SOL_NOTE = (
    "from third-party copies of the model page (apidog, laozhang, CodexManager citing "
    "developers.openai.com/api/docs/models/{}); the provider page itself was not readable"
)

OPENAI_ROWS: Final[Mapping[str, Listing]] = {
    "gpt-6.2-sol": Listing(
        _openai(_p(2, 10, 0.10, 2.50)),
        GPT_6_2_SOL,
        READ,
        rules=GPT_6_RULES,
        note="cache writes: 30-minute retention (a 12-hour write, $5, is not told apart)",
    ),
    "gpt-6.1-sol": Listing(
        _openai(_p(2, 10, 0.10, 2.50)),
        OPENAI,
        READ,
        verified=False,
        note=_GPT_6_SOL_NOTE.format("gpt-6.1-sol"),
        rules=GPT_6_RULES,
    ),
    "gpt-6-sol": Listing(
        _openai(_p(2, 10, 0.20, 2.50)),
        GPT_6_SOL,
        READ,
        note="cache writes 1.25x input; regional processing +10% is not modelled",
        rules=GPT_6_NONE_RULES,
    ),
    "gpt-6.2-astra": Listing(
        _openai(_p(8, 40)),
        OPENAI,
        READ,
        verified=False,
        note="input and output from third-party posts quoting the model page (apidog 2026-11-18, "
        "Vercel); its cache prices were not found: cache reads and writes are charged at the input "
        "price (an overestimate); the GPT-6 band and tiers assumed",
        rules=GPT_6_2_ASTRA_RULES,
    ),
    "gpt-6-astra": Listing(
        _openai(_p(10, 50, 1, 12.50)),
        OPENAI,
        READ,
        verified=False,
        note="from a LiteLLM release note quoting the model page",
        rules=GPT_6_RULES,
    ),
    "gpt-6.1-terra": Listing(
        _openai(_p(1, 5, 0.05, 1.25)),
        OPENAI,
        READ,
        verified=False,
        note="from a third-party migration post quoting the model page",
        rules=GPT_6_NONE_RULES,
    ),
    "gpt-6-luna": Listing(
        _openai(_p(0.10, 0.50, 0.01, 0.125)),
        GPT_6_LUNA,
        READ,
        rules=GPT_6_LUNA_RULES,
        note="regional (data-residency) processing +10% is not modelled",
    ),
    "gpt-5.6-luna": Listing(
        _openai(_p(0.20, 1.20, 0.02, 0.25)),
        GPT_5_6_LUNA,
        READ,
        note="cache writes 'billed at 1.25x the uncached input token rate'",
    ),
    # Older rows, kept so that configured targets stay priced; not re-read.
    "gpt-4o": Listing(_p(2.50, 10.00, 1.25), OPENAI, READ, verified=False, note=UNREAD),
    "gpt-4o-mini": Listing(_p(0.15, 0.60, 0.075), OPENAI, READ, verified=False, note=UNREAD),
    "gpt-4.1": Listing(_p(2.00, 8.00, 0.50), OPENAI, READ, verified=False, note=UNREAD),
    "gpt-4.1-mini": Listing(_p(0.40, 1.60, 0.10), OPENAI, READ, verified=False, note=UNREAD),
    "gpt-4.1-nano": Listing(_p(0.10, 0.40, 0.025), OPENAI, READ, verified=False, note=UNREAD),
    "o1": Listing(_p(15.00, 60.00, 7.50), OPENAI, READ, verified=False, note=UNREAD),
    "o3": Listing(_p(2.00, 8.00, 0.50), OPENAI, READ, verified=False, note=UNREAD),
    "o3-mini": Listing(_p(1.10, 4.40, 0.55), OPENAI, READ, verified=False, note=UNREAD),
    "o4-mini": Listing(_p(1.10, 4.40, 0.275), OPENAI, READ, verified=False, note=UNREAD),
    "gpt-5": Listing(_p(1.25, 10.00, 0.125), OPENAI, READ, verified=False, note=UNREAD),
    "gpt-5-mini": Listing(_p(0.25, 2.00, 0.025), OPENAI, READ, verified=False, note=UNREAD),
    "gpt-5-nano": Listing(_p(0.05, 0.40, 0.005), OPENAI, READ, verified=False, note=UNREAD),
    "gpt-5.1": Listing(_p(1.25, 10.00, 0.125), OPENAI, READ, verified=False, note=UNREAD),
    "text-embedding-3-small": Listing(_p(0.02, 0.0), OPENAI, READ, verified=False, note=UNREAD),
    "text-embedding-3-large": Listing(_p(0.13, 0.0), OPENAI, READ, verified=False, note=UNREAD),
}

_GEMINI_UNREAD = (
    "the Gemini pricing page could not be read through the look-up tools; figures from third-party "
    "transcripts of it (api-evangelist 2026-10-07, models.dev): introductory rates through 2026-12-31"
)
_GEMINI_FLEX = (("flex", 0.5),)
"""'a 50% cost reduction compared to standard rates' (GEMINI_FLEX page, read 2026-12-07)."""

GEMINI_ROWS: Final[Mapping[str, Listing]] = {
    "gemini-3.8-flash": Listing(
        Price(0.75, 3.75, 0.075, tiers=_GEMINI_FLEX), GEMINI, READ, verified=False, note=_GEMINI_UNREAD
    ),
    "gemini-3.6-flash": Listing(
        Price(0.75, 3.75, 0.075, tiers=_GEMINI_FLEX), GEMINI, READ, verified=False, note=_GEMINI_UNREAD
    ),
    "gemini-2.5-pro": Listing(
        _band(_p(1.25, 10.00, 0.125), 200_000, _p(2.50, 15.00, 0.25)),
        GEMINI,
        READ,
        verified=False,
        note=UNREAD + "; the band over 200K from the gemini-cost crate",
    ),
    "gemini-2.5-flash": Listing(_p(0.30, 2.50, 0.03), GEMINI, READ, verified=False, note=UNREAD),
    "gemini-2.5-flash-lite": Listing(_p(0.10, 0.40, 0.01), GEMINI, READ, verified=False, note=UNREAD),
    "gemini-2.0-flash": Listing(_p(0.10, 0.40, 0.025), GEMINI, READ, verified=False, note=UNREAD),
    "gemini-3-pro-preview": Listing(_p(2.00, 12.00, 0.20), GEMINI, READ, verified=False, note=UNREAD),
}

BEDROCK_REGIONAL: Final = Listing(
    Price(1.1, 1.1),
    BEDROCK,
    READ,
    verified=False,
    note="Claude 4.5 and later on Bedrock: global endpoints (`global.`) cost Anthropic's list price, "
    "geographic (`us.`, `eu.`, `apac.`, `jp.`, `au.`) and in-region endpoints 10% more. From "
    "third-party write-ups (clauder-navi, sam.mehdi.consulting, an Apify price sheet at 1.1x); "
    "the stored Bedrock page predates these endpoints",
)
"""The multiplier (`price.prompt`) for Bedrock's non-global endpoints of `BEDROCK_REGIONAL_MODELS`."""
BEDROCK_REGIONAL_MODELS: Final = frozenset(
    {
        "claude-fable-5-1",
        "claude-mythos-5-1",
        "claude-fable-5",
        "claude-mythos-5",
        "claude-opus-5-5",
        "claude-opus-5",
        "claude-opus-4-8",
        "claude-opus-4-7",
        "claude-opus-4-6",
        "claude-opus-4-5",
        "claude-sonnet-5-5",
        "claude-sonnet-5",
        "claude-sonnet-4-6",
        "claude-sonnet-4-5",
        "claude-haiku-5-5",
        "claude-haiku-4-5",
    }
)

BEDROCK_ROWS: Final[Mapping[str, Listing]] = {
    "amazon.nova-premier-v1:0": Listing(_p(2.50, 12.50), BEDROCK, READ, verified=False, note=UNREAD),
    "amazon.nova-pro-v1:0": Listing(_p(0.80, 3.20, 0.20), BEDROCK, READ, verified=False, note=UNREAD),
    "amazon.nova-lite-v1:0": Listing(_p(0.06, 0.24, 0.015), BEDROCK, READ, verified=False, note=UNREAD),
    "amazon.nova-micro-v1:0": Listing(_p(0.035, 0.14, 0.00875), BEDROCK, READ, verified=False, note=UNREAD),
    "meta.llama4-maverick-17b-instruct-v1:0": Listing(
        _p(0.24, 0.97), BEDROCK, READ, verified=False, note=UNREAD
    ),
    "meta.llama4-scout-17b-instruct-v1:0": Listing(
        _p(0.17, 0.66), BEDROCK, READ, verified=False, note=UNREAD
    ),
    "meta.llama3-3-70b-instruct-v1:0": Listing(_p(0.72, 0.72), BEDROCK, READ, verified=False, note=UNREAD),
    "meta.llama3-1-70b-instruct-v1:0": Listing(_p(0.72, 0.72), BEDROCK, READ, verified=False, note=UNREAD),
    "meta.llama3-1-8b-instruct-v1:0": Listing(_p(0.22, 0.22), BEDROCK, READ, verified=False, note=UNREAD),
}
"""Bedrock's own models. Anthropic models on Bedrock (`[global.|us.|...]anthropic.<claude id>[-v1[:0]]`)
are priced by their Claude row (Bedrock's global price is Anthropic's list price) times
`BEDROCK_REGIONAL` on other endpoints."""

ROWS: Final[Mapping[str, Listing]] = {**ANTHROPIC_ROWS, **OPENAI_ROWS, **GEMINI_ROWS, **BEDROCK_ROWS}
