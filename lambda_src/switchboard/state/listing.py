"""What the shipped price list says about one model: its price, where the price was read and when,
and the model's request rules (what it refuses), each with its own page.

Values only (`state/price_list.py` holds the rows, `state/prices.py` the lookup and the cost)."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.config import Price


@dataclass(frozen=True, slots=True)
class Rules:
    """A model's facts that change how a request to it must be written, as its provider documents
    them. `refuses` names request settings the model answers with a 400 (the translation drops or
    maps them and names them in `x-switchboard-dropped`):

    - `temperature`, `top_p`, `top_k`, `logprobs`, `top_logprobs`: sampling settings (dropped);
    - `thinking.budget`: manual extended thinking (a token budget; dropped: the model thinks
      adaptively by itself);
    - `thinking.disabled`: turning thinking off (`reasoning_effort: "none"`; dropped);
    - `tool_choice.forced`: forcing a tool (`required` or a named function; mapped to `auto`);
    - `reasoning_effort.none`: effort `none` (mapped to `low`, the lowest the model accepts)."""

    source: str
    read: str
    """ISO date the page was read (the stored page shows no date of its own)."""
    context_window: int | None = None
    thinking: str | None = None
    """`adaptive` (the model decides; budgets refused), `extended` (budgets), `effort`
    (OpenAI reasoning effort) or None (no reasoning)."""
    structured_output: bool = True
    refuses: frozenset[str] = frozenset()
    sampling_needs_effort_none: bool = False
    """The sampling settings are refused unless the request's reasoning effort is `none` (OpenAI's
    GPT-6 models whose default effort is not `none`)."""


@dataclass(frozen=True, slots=True)
class Listing:
    """One row of the shipped price list. `verified`: the price was read on `source` on `read`
    (a provider's own published page); False when it could not be (then `note` says where the
    figures come from and what is unsure) and check-config says so."""

    price: Price
    source: str
    read: str
    verified: bool = True
    note: str = ""
    rules: Rules | None = None
