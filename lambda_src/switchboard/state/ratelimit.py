"""Per-key limits (requests and tokens per minute, tokens per day, dollars per day and per month)
enforced from the shared store without a store round-trip per request: budget leases.

Each limit has a fixed window (a minute, a day, a UTC calendar month) and a counter item in the
store per key, region and window. An instance takes budget in leases - `add(lease)` on the counter,
atomic in every backend - and spends it locally; only the part of a lease that fits under the limit
is granted, so **the admitted total per window never exceeds the limit** however many instances or
processes share the store (the price is under-admission: budget leased by an instance that does not
use it before the window ends, at most instances x lease size). A new lease is fetched in the
background when the local budget runs below half a lease, so in steady state requests do not wait on
the store.

Across regions, DynamoDB Global Tables resolve concurrent writes to one item by last writer wins,
which loses increments; counters are therefore region-scoped items and each region enforces
`limit / regions` of the key's limit (a fixed share: the total over all regions stays within the
limit whatever the replication lag).

Dollar budgets are counted in nano-USD: a request reserves its worst-case cost (estimated prompt +
answer cap at the dearest price of its target chain) and settles with its real cost, like tokens.

A token reservation is settled (refunded or charged) in the window it was taken in, and only while
that window lasts: a stream that ends after the boundary leaves the new window alone. Budgets of
windows that are over are dropped, and at most `max_tracked` are kept at all (dropping a budget
gives up its unspent lease: under-admission, never over).
"""

from __future__ import annotations

import asyncio
import datetime
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from switchboard.config import Price
from switchboard.constants import H_RETRY_AFTER
from switchboard.errors import RateLimited, StoreError, StoreUnavailable
from switchboard.state.keys import KeyRecord
from switchboard.state.prices import worst_case_nano_usd
from switchboard.state.store.base import Store

LEASE_FRACTION = 0.1
MAX_TRACKED = 100_000
"""Budgets (key x limit) kept in memory at most."""
_SWEEP_MIN = 1024


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    """`rpm`, `tpm`, `tpd`, `usd_day` or `usd_month` (counter item and header family)."""
    limit: int
    window_s: int
    monthly: bool = False
    """Windows are UTC calendar months (`window_s` then only bounds how long a counter is kept)."""

    def window_of(self, now: float) -> int:
        """The number of the window `now` falls in (months since year 0 for a monthly limit)."""
        if not self.monthly:
            return int(now // self.window_s)
        day = datetime.datetime.fromtimestamp(now, datetime.UTC)
        return day.year * 12 + day.month - 1

    def window_end(self, window: int) -> float:
        """When `window` ends (epoch seconds): the next one starts."""
        if not self.monthly:
            return float((window + 1) * self.window_s)
        year, month = divmod(window + 1, 12)
        return datetime.datetime(year, month + 1, 1, tzinfo=datetime.UTC).timestamp()


@dataclass(slots=True)
class _Budget:
    limit: Limit
    window: int = -1
    granted: int = 0
    used: int = 0
    leased_total: int = 0
    """The window's counter as last seen in the store (every instance's leases)."""
    exhausted: bool = False
    refill: asyncio.Task[None] | None = None
    lock: asyncio.Lock | None = None
    """Serialises foreground leases of this key and limit (created on first need)."""


@dataclass(frozen=True, slots=True)
class Take:
    """The outcome of taking units from one limit (allowed or not, what is left, when to retry)."""

    allowed: bool
    limit: Limit
    remaining: int
    retry_after_s: float
    window: int = -1
    """The window the units were taken in (what a later refund or charge must name)."""


class RateLimiter:
    def __init__(
        self,
        store: Store,
        *,
        region: str = "local",
        regions: int = 1,
        lease_fraction: float = LEASE_FRACTION,
        clock: Callable[[], float] = time.time,
        max_tracked: int = MAX_TRACKED,
    ) -> None:
        self._store = store
        self._region = region
        self._regions = max(1, regions)
        self._lease_fraction = lease_fraction
        self._clock = clock
        self._budgets: dict[tuple[str, str], _Budget] = {}
        self._max_tracked = max(1, max_tracked)
        self._sweep_at = min(self._max_tracked, _SWEEP_MIN)
        self.store_calls = 0

    def share(self, limit: Limit) -> int:
        """This region's part of the limit."""
        return limit.limit // self._regions

    def _lease_size(self, limit: Limit) -> int:
        return max(1, math.ceil(self.share(limit) * self._lease_fraction))

    async def _lease(self, key_id: str, limit: Limit, budget: _Budget, window: int, want: int) -> None:
        """Take up to `want` more units for this window from the store (only what fits the limit)."""
        pk = f"RL#{key_id}#{self._region}#{limit.name}"
        self.store_calls += 1
        expires_at = int(limit.window_end(window)) + limit.window_s
        total = (await self._store.add(pk, str(window), {"n": want}, expires_at=expires_at))["n"]
        before = total - want
        grant = max(0, min(want, self.share(limit) - before))
        if budget.window == window:
            budget.granted += grant
            budget.leased_total = max(budget.leased_total, min(total, self.share(limit)))
            budget.exhausted = grant < want

    def _budget(self, key_id: str, limit: Limit, window: int) -> _Budget:
        budget = self._budgets.get((key_id, limit.name))
        if budget is None:
            if len(self._budgets) >= self._sweep_at:
                self._sweep()
            budget = self._budgets[(key_id, limit.name)] = _Budget(limit)
        if budget.window != window:
            budget.window, budget.granted, budget.used, budget.leased_total = window, 0, 0, 0
            budget.exhausted, budget.refill = False, None
        return budget

    def _sweep(self) -> None:
        """Drop budgets whose window is over (nothing left to spend, refund or charge there); if as
        many as `max_tracked` remain, drop the oldest ones no foreground lease is waiting on down to
        three quarters of it. Amortised: the next sweep waits until the table has doubled."""
        now = self._clock()
        for ident, budget in list(self._budgets.items()):
            if budget.window < budget.limit.window_of(now):
                del self._budgets[ident]
        if len(self._budgets) >= self._max_tracked:
            excess = len(self._budgets) - self._max_tracked * 3 // 4
            idle = [i for i, b in self._budgets.items() if b.lock is None or not b.lock.locked()]
            for ident in idle[:excess]:
                del self._budgets[ident]
        self._sweep_at = min(self._max_tracked, max(_SWEEP_MIN, 2 * len(self._budgets)))

    def tracked(self) -> int:
        """Budgets held in memory (bounded by `max_tracked`)."""
        return len(self._budgets)

    def _remaining(self, limit: Limit, budget: _Budget) -> int:
        """Best local knowledge: not yet leased by anyone, plus this instance's unspent lease."""
        return max(0, self.share(limit) - budget.leased_total) + max(0, budget.granted - budget.used)

    def take_now(self, key_id: str, limit: Limit, amount: int = 1) -> Take | None:
        """The common case without a coroutine: spend from this instance's lease if it covers
        `amount`; None when the decision needs the store (then `await take()`)."""
        amount = max(0, amount)
        now = self._clock()
        window = limit.window_of(now)
        budget = self._budgets.get((key_id, limit.name))
        if budget is None or budget.window != window or budget.granted - budget.used < amount:
            return None
        budget.used += amount
        self._maybe_refill(key_id, limit, budget, window)
        return Take(True, limit, self._remaining(limit, budget), limit.window_end(window) - now, window)

    async def take(self, key_id: str, limit: Limit, amount: int = 1) -> Take:
        """Spend `amount` units of `limit` for `key_id`, or refuse (never admitting past the limit).
        Raises `StoreError` when a lease cannot be taken."""
        amount = max(0, amount)
        now = self._clock()
        window = limit.window_of(now)
        retry_after = limit.window_end(window) - now
        budget = self._budget(key_id, limit, window)
        if budget.granted - budget.used < amount and not budget.exhausted:
            if budget.lock is None:
                budget.lock = asyncio.Lock()
            async with budget.lock:
                while (
                    budget.window == window and budget.granted - budget.used < amount and not budget.exhausted
                ):
                    await self._lease(key_id, limit, budget, window, max(amount, self._lease_size(limit)))
        if budget.window == window:
            granted = self.take_now(key_id, limit, amount)
            if granted is not None:
                return granted
        return Take(False, limit, self._remaining(limit, budget), retry_after, window)

    def _settling(self, key_id: str, limit: Limit, window: int | None) -> _Budget | None:
        """The budget a refund or charge for `window` applies to: None once that window is over."""
        budget = self._budgets.get((key_id, limit.name))
        if budget is None:
            return None
        current = limit.window_of(self._clock())
        if budget.window != current or (window is not None and window != current):
            return None
        return budget

    def refund(self, key_id: str, limit: Limit, amount: int, window: int | None = None) -> None:
        """Give back units reserved but not spent (tokens estimated above what a call used), in the
        window they were taken in (`Take.window`; None: the current one); once that window is
        over there is nothing to give back."""
        budget = self._settling(key_id, limit, window)
        if budget is not None and amount > 0:
            budget.used = max(0, budget.used - amount)

    def charge(self, key_id: str, limit: Limit, amount: int, window: int | None = None) -> None:
        """Count units already spent (a call used more tokens than reserved) in the window the
        reservation was taken in, if it still lasts: the overshoot this allows is bounded by the
        reservation's estimate error."""
        budget = self._settling(key_id, limit, window)
        if budget is not None and amount > 0:
            budget.used += amount

    def _maybe_refill(self, key_id: str, limit: Limit, budget: _Budget, window: int) -> None:
        lease = self._lease_size(limit)
        if budget.exhausted or budget.granted - budget.used >= lease / 2 or budget.refill is not None:
            return

        async def refill() -> None:
            try:
                await self._lease(key_id, limit, budget, window, lease)
            except StoreError:
                pass  # the next take() retries in the foreground
            finally:
                budget.refill = None

        budget.refill = asyncio.get_running_loop().create_task(refill())


DEFAULT_COMPLETION_ESTIMATE = 1024
"""Tokens reserved for the answer when a request sets no max_tokens."""


@dataclass(slots=True)
class Reservation:
    key_id: str
    tokens: int
    token_limits: tuple[Limit, ...]
    headers: list[tuple[bytes, bytes]]
    windows: tuple[int, ...] = ()
    """The window each of `token_limits` was reserved in: settled there or not at all."""
    settled: bool = False
    nano_usd: int = 0
    """The worst-case cost reserved against `cost_limits` (nano-USD)."""
    cost_limits: tuple[Limit, ...] = ()
    cost_windows: tuple[int, ...] = ()


def _cap(value: Any) -> int | None:
    """A usable answer cap: a positive integer (anything else counts as absent)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def estimate_parts(body_bytes: int, answer_cap: Any) -> tuple[int, int]:
    """(prompt, answer) tokens reserved before the call: the prompt's size (~4 bytes a token) and
    the answer's cap (`ChatRequest.answer_cap`, read once at parse time). Never negative; a cap that
    is not a positive integer counts as absent (the default estimate)."""
    return max(0, body_bytes) // 4, _cap(answer_cap) or DEFAULT_COMPLETION_ESTIMATE


def estimate_tokens(body_bytes: int, answer_cap: Any) -> int:
    """Prompt size plus the answer's cap (see `estimate_parts`)."""
    prompt, answer = estimate_parts(body_bytes, answer_cap)
    return prompt + answer


NANO = 1_000_000_000
MONTH_KEEP_S = 32 * 86_400
"""How long a monthly counter item outlives its month's end (a bound: the window is the calendar
month)."""
_WHAT = {
    "rpm": "requests per minute",
    "tpm": "tokens per minute",
    "tpd": "tokens per day",
    "usd_day": "USD per day",
    "usd_month": "USD per month",
}
_HEADER_NAMES = {
    "rpm": (b"x-ratelimit-limit-requests", b"x-ratelimit-remaining-requests"),
    "tpm": (b"x-ratelimit-limit-tokens", b"x-ratelimit-remaining-tokens"),
}


_Limits = tuple[Limit | None, tuple[Limit, ...], tuple[Limit, ...]]


class KeyLimits:
    """A key's rpm / tpm / daily token budget / dollar budgets on the request path (see
    `RateLimiter`)."""

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter
        self._limits: dict[tuple[Any, ...], _Limits] = {}

    def _of(self, key: KeyRecord) -> _Limits:
        """The key's limits, built once per key and limit values."""
        ident = (
            key.key_id,
            key.rpm,
            key.tpm,
            key.budget_tokens_per_day,
            key.budget_nano_usd_per_day,
            key.budget_nano_usd_per_month,
        )
        found = self._limits.get(ident)
        if found is None:
            requests = Limit("rpm", key.rpm, 60) if key.rpm else None
            token_limits = tuple(
                limit
                for limit in (
                    Limit("tpm", key.tpm, 60) if key.tpm else None,
                    Limit("tpd", key.budget_tokens_per_day, 86_400) if key.budget_tokens_per_day else None,
                )
                if limit is not None
            )
            day, month = key.budget_nano_usd_per_day, key.budget_nano_usd_per_month
            cost_limits = tuple(
                limit
                for limit in (
                    Limit("usd_day", day, 86_400) if day else None,
                    Limit("usd_month", month, MONTH_KEEP_S, monthly=True) if month else None,
                )
                if limit is not None
            )
            if len(self._limits) > 10_000:
                self._limits.clear()
            found = self._limits[ident] = (requests, token_limits, cost_limits)
        return found

    def needs_price(self, key: KeyRecord) -> bool:
        """Whether the key has a dollar budget (`admit` then wants the request's dearest price)."""
        return bool(key.budget_nano_usd_per_day or key.budget_nano_usd_per_month)

    async def admit(
        self, key: KeyRecord, body_bytes: int, answer_cap: int | None, price: Price | None = None
    ) -> Reservation | None:
        """Take the request's units of every limit of the key, or none of them (429 naming the limit
        and when its window ends). `price`: the dearest price of the request's target chain, for
        the dollar budgets (None: the request is priced at nothing)."""
        requests, token_limits, cost_limits = self._of(key)
        if requests is None and not token_limits and not cost_limits:
            return None
        headers: list[tuple[bytes, bytes]] = []
        taken: list[tuple[Limit, int, int]] = []
        prompt, answer = estimate_parts(body_bytes, answer_cap) if token_limits or cost_limits else (0, 0)
        tokens = prompt + answer
        nano = worst_case_nano_usd(price, prompt, answer) if cost_limits and price is not None else 0
        for limit, amount in (
            (requests, 1),
            *((t, tokens) for t in token_limits),
            *((c, nano) for c in cost_limits),
        ):
            if limit is None:
                continue
            try:
                decision = self._limiter.take_now(key.key_id, limit, amount) or await self._limiter.take(
                    key.key_id, limit, amount
                )
            except StoreError:
                self._give_back(key.key_id, taken)
                raise StoreUnavailable("rate limits are unavailable; try again") from None
            except BaseException:  # cancelled while waiting for a lease
                self._give_back(key.key_id, taken)
                raise
            if limit.name in _HEADER_NAMES:
                names = _HEADER_NAMES[limit.name]
                headers += [
                    (names[0], b"%d" % self._limiter.share(limit)),
                    (names[1], b"%d" % max(0, decision.remaining)),
                ]
            if not decision.allowed:
                self._give_back(key.key_id, taken)
                headers.append((H_RETRY_AFTER, b"%d" % max(1, math.ceil(decision.retry_after_s))))
                raise RateLimited(self._refusal(limit, decision), headers=headers)
            taken.append((limit, amount, decision.window))
        windows = tuple(window for limit, _, window in taken if limit in token_limits)
        cost_windows = tuple(window for limit, _, window in taken if limit in cost_limits)
        return Reservation(
            key.key_id,
            tokens,
            token_limits,
            headers,
            windows,
            nano_usd=nano,
            cost_limits=cost_limits,
            cost_windows=cost_windows,
        )

    def _refusal(self, limit: Limit, decision: Take) -> str:
        share = self._limiter.share(limit)
        if limit.name not in ("usd_day", "usd_month"):
            return f"rate limit reached for this key: {_WHAT[limit.name]} ({share})"
        resets = datetime.datetime.fromtimestamp(limit.window_end(decision.window), datetime.UTC)
        return (
            f"budget reached for this key: {_WHAT[limit.name]} (${share / NANO:.2f}); "
            f"resets at {resets.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        )

    def _give_back(self, key_id: str, taken: list[tuple[Limit, int, int]]) -> None:
        """Return the units of a request that is not admitted after all."""
        for limit, amount, window in taken:
            self._limiter.refund(key_id, limit, amount, window)

    def settle(
        self, reservation: Reservation | None, used_tokens: int | None, used_nano_usd: int | None = None
    ) -> None:
        """Reconcile the token and dollar reservations with what the provider reported and what it
        cost (None: keep the estimate; 0: nothing delivered, the whole estimate goes back), in the
        window each was taken in. Once per reservation (later calls are ignored); negative usage
        counts as 0, so a refund never exceeds the reservation."""
        if reservation is None or reservation.settled:
            return
        reservation.settled = True
        key_id = reservation.key_id
        if used_tokens is not None:
            self._reconcile(
                key_id,
                reservation.tokens - max(0, used_tokens),
                reservation.token_limits,
                reservation.windows,
            )
        if used_nano_usd is not None:
            difference = reservation.nano_usd - max(0, used_nano_usd)
            self._reconcile(key_id, difference, reservation.cost_limits, reservation.cost_windows)

    def _reconcile(
        self, key_id: str, difference: int, limits: tuple[Limit, ...], windows: tuple[int, ...]
    ) -> None:
        for limit, window in zip(limits, windows, strict=True):
            if difference > 0:
                self._limiter.refund(key_id, limit, difference, window)
            elif difference < 0:
                self._limiter.charge(key_id, limit, -difference, window)
