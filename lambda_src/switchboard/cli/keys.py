"""`switchboard keys create|list|show|revoke|rotate --config FILE` and `switchboard usage --key K |
--tenant T`: key lifecycle and usage reports (with cost totals) against the store the configuration
names (the one `serve` uses). Wherever a key is named, its key_id or the key itself (`sb-...`,
hashed on the spot) will do; an unknown one is an error (exit status 1)."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import sys
from typing import Any

from switchboard.state import keys
from switchboard.state.store import StoreSettings, open_store

_CONFIG_HELP = "the TOML file `switchboard serve` uses (default: $SWITCHBOARD_CONFIG, else the demo)"


def add_usage_parser(sub: Any) -> None:
    parser = sub.add_parser("usage", help="usage and cost of a key (per day and model) or of a tenant")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--key", help="a key_id (see `switchboard keys list`) or the key itself")
    which.add_argument("--tenant", help="sum all keys of a tenant (totals per key and in all)")
    parser.add_argument("--since", help="first day, YYYY-MM-DD")
    parser.add_argument(
        "--config",
        help=_CONFIG_HELP,
    )
    parser.add_argument("--json", action="store_true")


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("keys", help="manage gateway API keys")
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key (printed once)")
    create.add_argument("--tenant", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--rpm", type=int, help="requests per minute")
    create.add_argument("--tpm", type=int, help="tokens per minute")
    create.add_argument(
        "--models", default="", help="comma-separated allow-list patterns, e.g. 'gpt-4o*,claude-*'"
    )
    create.add_argument("--expires", help="lifetime, e.g. 30d, 12h")
    create.add_argument("--budget-tokens-per-day", type=int)
    create.add_argument("--budget-usd-per-day", type=_dollars, help="dollar budget per UTC day, e.g. 5")
    create.add_argument(
        "--budget-usd-per-month", type=_dollars, help="dollar budget per UTC calendar month, e.g. 100"
    )
    create.add_argument(
        "--cache-ttl", help="cache answers by default for this long, e.g. 5m, 1h (requests can opt out)"
    )
    listing = actions.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--tenant")
    for name, text in (("show", "show one key"), ("revoke", "revoke a key"), ("rotate", "replace a key")):
        action = actions.add_parser(name, help=text)
        action.add_argument("key_id", help="a key_id or the key itself (sb-...)")
    for action in (create, listing, *(actions.choices[n] for n in ("show", "revoke", "rotate"))):
        action.add_argument(
            "--config",
            help=_CONFIG_HELP,
        )
        action.add_argument("--json", action="store_true", help="machine-readable output")


NANO = 1_000_000_000


def _dollars(text: str) -> int:
    """A dollar amount as nano-USD (how budgets are stored and counted)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a dollar amount: {text!r}") from None
    if not 0 < value < 1e9:
        raise argparse.ArgumentTypeError("must be a positive dollar amount")
    return round(value * NANO)


def _usd(nano: int | None) -> float | None:
    return None if nano is None else nano / NANO


def _describe(record: keys.KeyRecord) -> dict[str, Any]:
    def when(ts: int | None) -> str | None:
        return (
            None
            if ts is None
            else datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat(timespec="seconds")
        )

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
        "budget_usd_per_day": _usd(record.budget_nano_usd_per_day),
        "budget_usd_per_month": _usd(record.budget_nano_usd_per_month),
        "models": list(record.models) or ["*"],
        "cache_ttl_s": record.cache_ttl,
        "replaced_by": record.replaced_by,
    }


def _print(value: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(value, indent=2))
        return
    rows = value if isinstance(value, list) else [value]
    for row in rows:
        print("  ".join(f"{k}={v}" for k, v in row.items() if v is not None))


async def _run(args: argparse.Namespace, settings: StoreSettings) -> int:
    store = open_store(settings)
    try:
        if args.command == "usage":
            return await _usage(store, args)
        if args.action == "create":
            models = tuple(m.strip() for m in args.models.split(",") if m.strip())
            key, record = await keys.create_key(
                store,
                tenant=args.tenant,
                name=args.name,
                rpm=args.rpm,
                tpm=args.tpm,
                models=models,
                expires_in_s=keys.parse_duration(args.expires) if args.expires else None,
                budget_tokens_per_day=args.budget_tokens_per_day,
                cache_ttl=keys.parse_duration(args.cache_ttl) if args.cache_ttl else None,
                budget_nano_usd_per_day=args.budget_usd_per_day,
                budget_nano_usd_per_month=args.budget_usd_per_month,
            )
            _print({**_describe(record), "key": key}, args.json)
            if not args.json:
                print("Store this key now: it is not kept and cannot be shown again.", file=sys.stderr)
            return 0
        if args.action == "list":
            _print([_describe(r) for r in await keys.list_keys(store, args.tenant)], args.json)
            return 0
        if args.action == "show":
            found = await keys.get_key(store, args.key_id)
            if found is None:
                print(f"no key {_shown(args.key_id)}", file=sys.stderr)
                return 1
            _print(_describe(found), args.json)
            return 0
        if args.action == "revoke":
            found = await keys.get_key(store, args.key_id)
            if found is None or not await keys.revoke_key(store, found.key_id):
                print(f"no key {_shown(args.key_id)}", file=sys.stderr)
                return 1
            print(f"revoked {found.key_id}", file=sys.stderr)
            return 0
        rotated = await keys.rotate_key(store, args.key_id)
        if rotated is None:
            print(f"no key {_shown(args.key_id)}", file=sys.stderr)
            return 1
        key, record = rotated
        _print({**_describe(record), "key": key}, args.json)
        return 0
    finally:
        await store.close()


def _shown(ident: str) -> str:
    """How an unknown key is named in an error: never the key itself."""
    return f"sb-...{ident[-4:]}" if ident.startswith(keys.PREFIX) else repr(ident[:64])


async def _usage(store: Any, args: argparse.Namespace) -> int:
    """One key's rows and totals, or a tenant's totals per key and in all."""
    from switchboard.state.usage import UsageRecorder, usage_report, usage_totals

    await UsageRecorder(store).replay()  # fold in anything spilled during a store outage
    if args.tenant is not None:
        records = await keys.list_keys(store, args.tenant)
        if not records:
            print(f"no keys for tenant {args.tenant[:64]!r}", file=sys.stderr)
            return 1
        per_key = [
            {
                "key_id": r.key_id,
                "name": r.name,
                **usage_totals(await usage_report(store, r.key_id, args.since)),
            }
            for r in records
        ]
        totals = usage_totals(per_key)
        if args.json:
            _print({"tenant": args.tenant, "keys": per_key, "totals": totals}, True)
        else:
            _print(per_key, False)
            _print({"total": f"tenant={args.tenant}", **totals}, False)
        return 0
    record = await keys.get_key(store, args.key)
    key_id = record.key_id if record is not None else args.key
    rows = await usage_report(store, key_id, args.since)
    if record is None and (args.key.startswith(keys.PREFIX) or not (rows or key_id == "open")):
        # usage without a key record: the anonymous "open" caller, or a key deleted from the store
        print(f"no key {_shown(args.key)}", file=sys.stderr)
        return 1
    totals = usage_totals(rows)
    if args.json:
        tenant = record.tenant if record is not None else None
        _print({"key_id": key_id, "tenant": tenant, "rows": rows, "totals": totals}, True)
    else:
        _print(rows, False)
        _print({"total": f"key={key_id}", **totals}, False)
    return 0


def run(args: argparse.Namespace) -> int:
    from switchboard.config import ConfigError, load_config
    from switchboard.constants import ENV_CONFIG

    try:
        path = args.config or os.environ.get(ENV_CONFIG)  # the same file `serve` would use
        if path:
            settings = load_config(path).store
        else:
            from switchboard.demo import demo_config

            settings = demo_config().store
        return asyncio.run(_run(args, settings))
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
