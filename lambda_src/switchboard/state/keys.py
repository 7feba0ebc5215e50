"""Gateway API keys ("virtual keys"): `sb-` + 256 random bits, stored only as a SHA-256 hash.

An item per key: `pk = KEY#<sha256 hex>`, `sk = META`, looked up by that hash as the primary key.
What is kept: a public `key_id` (a prefix of the hash), tenant, name, the last four characters (to
recognise a key in a list), limits (rpm, tpm, daily token budget, dollar budgets per day and per
month, kept in nano-USD), model allow-list patterns
(`gpt-4o*`), an optional expiry, and whether it is revoked. The key itself is printed once at
creation and never stored, logged or returned again.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from switchboard.state.store.base import Store

PREFIX = "sb-"
MARKER_PK = "KEYS"
MARKER_SK = "PRESENT"
"""An item written with the first key: its presence switches authentication on."""
_KEY_RE = re.compile(r"^sb-[A-Za-z0-9_-]{43}$")
ANONYMOUS_TENANT = "open"
"""The tenant of callers without a key on an open gateway (their cache entries, stored responses
and usage): reserved, no key can be created in it."""
_TENANT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DURATION_RE = re.compile(r"^(\d+)([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def generate_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def well_formed(key: str) -> bool:
    """Cheap shape check before any hashing or store lookup (stops garbage early)."""
    return bool(_KEY_RE.match(key))


def check_tenant(tenant: str) -> str:
    """`tenant` if it is a valid name: 1-64 letters, digits, `.`, `_`, `-` (starting with a letter or a
    digit), not the reserved anonymous tenant; else ValueError. Tenant names end up in store keys,
    usage reports and logs."""
    if not _TENANT_RE.fullmatch(tenant):
        raise ValueError(
            f"invalid tenant {tenant[:70]!r}: 1-64 characters of A-Z a-z 0-9 . _ -, starting with a "
            "letter or digit"
        )
    if tenant.lower() == ANONYMOUS_TENANT:
        raise ValueError(f"tenant {tenant!r} is reserved for callers without a key on an open gateway")
    return tenant


def parse_duration(text: str) -> int:
    match = _DURATION_RE.match(text.strip())
    if not match:
        raise ValueError(f"invalid duration {text!r} (use e.g. 90m, 12h, 30d, 2w)")
    return int(match[1]) * _SECONDS[match[2]]


@dataclass(frozen=True, slots=True)
class KeyRecord:
    key_id: str
    tenant: str
    name: str
    hint: str
    created_at: int
    rpm: int | None = None
    tpm: int | None = None
    budget_tokens_per_day: int | None = None
    models: tuple[str, ...] = ()
    cache_ttl: int | None = None
    """Default response-cache TTL for requests without `Cache-Control` (None: no caching)."""
    budget_nano_usd_per_day: int | None = None
    """Dollar budget per UTC day, in nano-USD (integers: the DynamoDB backend stores no floats)."""
    budget_nano_usd_per_month: int | None = None
    """Dollar budget per UTC calendar month, in nano-USD."""
    valid_until: int | None = None
    revoked: bool = False
    replaced_by: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def usable(self, at: float | None = None) -> bool:
        now = time.time() if at is None else at
        return not self.revoked and (self.valid_until is None or self.valid_until > now)

    def allows(self, model: str) -> bool:
        return not self.models or any(fnmatch.fnmatchcase(model, pattern) for pattern in self.models)

    def status(self, at: float | None = None) -> str:
        if self.revoked:
            return "revoked"
        return "active" if self.usable(at) else "expired"

    def to_item(self) -> dict[str, Any]:
        item = asdict(self)
        item["models"] = list(self.models)
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> KeyRecord:
        names = set(cls.__dataclass_fields__)
        values = {k: v for k, v in item.items() if k in names}
        values["models"] = tuple(values.get("models") or ())
        return cls(**values)


def _pk(digest: str) -> str:
    return f"KEY#{digest}"


async def create_key(
    store: Store,
    *,
    tenant: str,
    name: str,
    rpm: int | None = None,
    tpm: int | None = None,
    models: tuple[str, ...] = (),
    expires_in_s: int | None = None,
    budget_tokens_per_day: int | None = None,
    cache_ttl: int | None = None,
    budget_nano_usd_per_day: int | None = None,
    budget_nano_usd_per_month: int | None = None,
) -> tuple[str, KeyRecord]:
    """Returns (the key, printed once; its record). ValueError for an invalid or reserved tenant."""
    check_tenant(tenant)
    key = generate_key()
    digest = key_hash(key)
    now = int(time.time())
    record = KeyRecord(
        key_id=digest[:16],
        tenant=tenant,
        name=name,
        hint=key[-4:],
        created_at=now,
        rpm=rpm,
        tpm=tpm,
        budget_tokens_per_day=budget_tokens_per_day,
        models=models,
        cache_ttl=cache_ttl or None,
        budget_nano_usd_per_day=budget_nano_usd_per_day or None,
        budget_nano_usd_per_month=budget_nano_usd_per_month or None,
        valid_until=now + expires_in_s if expires_in_s else None,
    )
    if not await store.put(_pk(digest), "META", record.to_item(), if_absent=True):
        raise RuntimeError("key collision (retry)")
    await store.put(MARKER_PK, MARKER_SK, {"since": now}, if_absent=True)
    return key, record


async def lookup(store: Store, key: str) -> KeyRecord | None:
    """The record of a presented key, or None (unknown). The hash is the primary key, so there is no
    comparison of secrets beyond the store's own lookup; the stored hash is still compared in
    constant time as a guard."""
    if not well_formed(key):
        return None
    digest = key_hash(key)
    item = await store.get(_pk(digest), "META")
    if item is None or not hmac.compare_digest(str(item["pk"]), _pk(digest)):
        return None
    return KeyRecord.from_item(item)


async def list_keys(store: Store, tenant: str | None = None) -> list[KeyRecord]:
    records = [KeyRecord.from_item(item) for item in await store.scan_prefix("KEY#") if item["sk"] == "META"]
    return sorted(
        (r for r in records if tenant is None or r.tenant == tenant), key=lambda r: (r.tenant, r.created_at)
    )


async def _find(store: Store, key_id: str) -> tuple[str, KeyRecord] | None:
    """A key's item by its key_id, or by the key itself (`sb-...`: hashed and looked up directly)."""
    if key_id.startswith(PREFIX):
        if not well_formed(key_id):
            return None
        item = await store.get(_pk(key_hash(key_id)), "META")
        return None if item is None else (str(item["pk"]), KeyRecord.from_item(item))
    for item in await store.scan_prefix("KEY#"):
        if item["sk"] == "META" and item.get("key_id") == key_id:
            return str(item["pk"]), KeyRecord.from_item(item)
    return None


async def get_key(store: Store, key_id: str) -> KeyRecord | None:
    """A key's record by key_id or by the key itself (`sb-...`); None when unknown."""
    found = await _find(store, key_id)
    return found[1] if found else None


async def update_key(store: Store, key_id: str, changes: dict[str, Any]) -> KeyRecord | None:
    """Set some of a key's fields (limits, budgets, models, cache TTL, name); None when unknown."""
    found = await _find(store, key_id)
    if found is None:
        return None
    if changes and not await store.update(found[0], "META", changes):
        return None
    item = await store.get(found[0], "META")
    return None if item is None else KeyRecord.from_item(item)


async def revoke_key(store: Store, key_id: str, replaced_by: str | None = None) -> bool:
    found = await _find(store, key_id)
    if found is None:
        return False
    return await store.update(found[0], "META", {"revoked": True, "replaced_by": replaced_by})


async def rotate_key(store: Store, key_id: str) -> tuple[str, KeyRecord] | None:
    """A new key with the same tenant, name and limits; the old one is revoked."""
    found = await _find(store, key_id)
    if found is None:
        return None
    old = found[1]
    remaining = old.valid_until - int(time.time()) if old.valid_until else None
    key, record = await create_key(
        store,
        tenant=old.tenant,
        name=old.name,
        rpm=old.rpm,
        tpm=old.tpm,
        models=old.models,
        expires_in_s=max(remaining, 1) if remaining is not None else None,
        budget_tokens_per_day=old.budget_tokens_per_day,
        cache_ttl=old.cache_ttl,
        budget_nano_usd_per_day=old.budget_nano_usd_per_day,
        budget_nano_usd_per_month=old.budget_nano_usd_per_month,
    )
    await revoke_key(store, old.key_id, replaced_by=record.key_id)
    return key, record
