"""Key operations shared by `switchboard keys ...` and the admin API: one validation, one set of
operations, one description of a key. Both callers hand in plain values (the CLI's strings, the
API's JSON) and get the same answers and the same errors (`KeyInputError`, a `ValueError`).

Limits: `rpm`, `tpm`, `budget_tokens_per_day` (positive integers), `budget_usd_per_day`,
`budget_usd_per_month` (positive dollar amounts, kept in nano-USD), `models` (allow-list patterns,
a comma-separated string or a list), `cache_ttl` (a duration such as `5m`), and at creation
`expires` (a duration) plus the required `tenant` and `name`. In an update, `null` removes a limit.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from switchboard.state import keys
from switchboard.state.store.base import Store

NANO = 1_000_000_000
INTEGER_LIMITS = ("rpm", "tpm", "budget_tokens_per_day")
DOLLAR_LIMITS = {
    "budget_usd_per_day": "budget_nano_usd_per_day",
    "budget_usd_per_month": "budget_nano_usd_per_month",
}
EDITABLE = (*INTEGER_LIMITS, *DOLLAR_LIMITS, "models", "cache_ttl", "name")
CREATE = (*EDITABLE, "tenant", "expires")


class KeyInputError(ValueError):
    """A value the key operations refuse (the CLI exits 2 with it, the API answers 400)."""


def positive_int(value: Any, name: str = "value") -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**53:
        raise KeyInputError(f"{name}: must be a positive integer")
    return value


def dollars(value: Any, name: str = "value") -> int:
    """A dollar amount as nano-USD (how budgets are stored and counted)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise KeyInputError(f"{name}: not a dollar amount: {value[:32]!r}") from None
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value < 1e9:
        raise KeyInputError(f"{name}: must be a positive dollar amount")
    return round(value * NANO)


def duration(value: Any, name: str = "value") -> int:
    if not isinstance(value, str):
        raise KeyInputError(f"{name}: a duration such as 90m, 12h, 30d")
    try:
        return keys.parse_duration(value)
    except ValueError as exc:
        raise KeyInputError(f"{name}: {exc}") from None


def label(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 64 or not value.isprintable():
        raise KeyInputError(f"{name}: 1 to 64 printable characters")
    return value.strip()


def model_patterns(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(m, str) for m in items):
        raise KeyInputError("models: a comma-separated string or a list of patterns")
    patterns = tuple(m.strip() for m in items if m.strip())
    if len(patterns) > 100 or any(len(p) > 200 or not p.isprintable() for p in patterns):
        raise KeyInputError("models: at most 100 printable patterns")
    return () if patterns == ("*",) else patterns


def parse(values: Mapping[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    """Validated `KeyRecord` field values (plus `expires_in_s`) from the names above; a name given as
    None removes that limit."""
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise KeyInputError(f"unknown field(s): {', '.join(n[:40] for n in unknown)}")
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name in INTEGER_LIMITS:
            out[name] = None if value is None else positive_int(value, name)
        elif name in DOLLAR_LIMITS:
            out[DOLLAR_LIMITS[name]] = None if value is None else dollars(value, name)
        elif name == "models":
            out["models"] = () if value is None else model_patterns(value)
        elif name == "cache_ttl":
            out["cache_ttl"] = None if value is None else duration(value, name)
        elif name == "expires":
            out["expires_in_s"] = None if value is None else duration(value, name)
        else:  # name, tenant
            out[name] = label(value, name)
    return out


def describe(record: keys.KeyRecord) -> dict[str, Any]:
    """A key as the CLI prints it and the admin API returns it (never the key itself)."""

    def when(ts: int | None) -> str | None:
        return (
            None
            if ts is None
            else datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat(timespec="seconds")
        )

    def usd(nano: int | None) -> float | None:
        return None if nano is None else nano / NANO

    return {
        "key_id": record.key_id,
        "tenant": record.tenant,
        "name": record.name,
        "key": f"sb-...{record.hint}",
        "status": record.status(),
        "created": when(record.created_at),
        "expires": when(record.valid_until),
        "rpm": record.rpm,
        "tpm": record.tpm,
        "budget_tokens_per_day": record.budget_tokens_per_day,
        "budget_usd_per_day": usd(record.budget_nano_usd_per_day),
        "budget_usd_per_month": usd(record.budget_nano_usd_per_month),
        "models": list(record.models) or ["*"],
        "cache_ttl_s": record.cache_ttl,
        "replaced_by": record.replaced_by,
    }


async def create(store: Store, values: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """A new key: (the key, shown once; its description)."""
    fields = parse(values, CREATE)
    for required in ("tenant", "name"):
        if required not in fields:
            raise KeyInputError(f"{required}: required")
    key, record = await keys.create_key(store, **fields)
    return key, describe(record)


async def update(store: Store, key_id: str, values: Mapping[str, Any]) -> dict[str, Any] | None:
    """Change a key's limits, budgets, models, cache TTL or name; None when there is no such key."""
    fields = parse(values, EDITABLE)
    if "models" in fields:
        fields["models"] = list(fields["models"])
    record = await keys.update_key(store, key_id, fields)
    return None if record is None else describe(record)


async def revoke(store: Store, key_id: str) -> dict[str, Any] | None:
    record = await keys.get_key(store, key_id)
    if record is None or not await keys.revoke_key(store, record.key_id):
        return None
    found = await keys.get_key(store, record.key_id)
    return None if found is None else describe(found)


async def rotate(store: Store, key_id: str) -> tuple[str, dict[str, Any]] | None:
    rotated = await keys.rotate_key(store, key_id)
    return None if rotated is None else (rotated[0], describe(rotated[1]))


async def listing(store: Store, tenant: str | None = None) -> list[dict[str, Any]]:
    return [describe(r) for r in await keys.list_keys(store, tenant)]
