"""A dollar budget cannot be bypassed: a step of building a request's plan (pure).

A key with a dollar budget is served only by targets whose price is known (the shipped list,
`[prices]`, or the model's opt-in `fallback_price`): an unpriced target would be admitted at
nothing and spend without limit. Such targets are skipped, the rest of the chain keeps its order;
when none is left the request is refused (403 `unpriced_model`, in the caller's dialect) naming the
targets and how to price them. Keys without a dollar budget keep the whole chain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from switchboard.config import Price, Target
from switchboard.errors import Forbidden


def priced_chain(targets: Sequence[Target], price_of: Callable[[Target], Price | None]) -> tuple[Target, ...]:
    """The targets of a budgeted request's chain that have a price (in chain order)."""
    kept = tuple(target for target in targets if price_of(target) is not None)
    if kept:
        return kept
    names = ", ".join(target.id for target in targets[:5])
    first = targets[0].id if targets else "provider/model"
    raise Forbidden(
        f"this key has a dollar budget and no price is known for {names}: a budget cannot be kept "
        f'without one. Price it in the gateway configuration, e.g. [prices] "{first}" = '
        "{ prompt = <USD per million input tokens>, completion = <USD per million output tokens> }, "
        "or declare the model's fallback_price",
        param="model",
        code="unpriced_model",
    )
