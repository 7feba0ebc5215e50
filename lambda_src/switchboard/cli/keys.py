"""`switchboard keys create|list|show|update|revoke|rotate --config FILE` and `switchboard usage --key K |
--tenant T`: key lifecycle and usage reports (with cost totals) against the store the configuration
names (the one `serve` uses). Wherever a key is named, its key_id or the key itself (`sb-...`,
hashed on the spot) will do; an unknown one is an error (exit status 1)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any

from switchboard.admin import keyops
from switchboard.state import keys
from switchboard.state.store import StoreSettings, open_store

CONFIG_HELP = "the TOML file `switchboard serve` uses (default: $SWITCHBOARD_CONFIG, else the demo)"


def add_usage_parser(sub: Any) -> None:
    parser = sub.add_parser("usage", help="usage and cost of a key (per day and model) or of a tenant")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--key", help="a key_id (see `switchboard keys list`) or the key itself")
    which.add_argument("--tenant", help="sum all keys of a tenant (totals per key and in all)")
    parser.add_argument("--since", help="first day, YYYY-MM-DD")
    parser.add_argument(
        "--config",
        help=CONFIG_HELP,
    )
    parser.add_argument("--json", action="store_true")


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("keys", help="manage gateway API keys")
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key (printed once)")
    create.add_argument("--tenant", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--expires", help="lifetime, e.g. 30d, 12h")
    update = actions.add_parser("update", help="change a key's limits, budgets, models or name")
    update.add_argument("key_id", help="a key_id or the key itself (sb-...)")
    update.add_argument("--name")
    for action in (create, update):
        _limit_arguments(action)
    listing = actions.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--tenant")
    for name, text in (("show", "show one key"), ("revoke", "revoke a key"), ("rotate", "replace a key")):
        action = actions.add_parser(name, help=text)
        action.add_argument("key_id", help="a key_id or the key itself (sb-...)")
    for action in (create, listing, *(actions.choices[n] for n in ("show", "revoke", "rotate", "update"))):
        action.add_argument(
            "--config",
            help=CONFIG_HELP,
        )
        action.add_argument("--json", action="store_true", help="machine-readable output")


def _limit_arguments(action: Any) -> None:
    """The limits `create` and `update` share; `admin/keyops.py` validates them, as it does the admin
    API's (dollar amounts already here, so a bad one is a usage error)."""
    action.add_argument("--rpm", type=int, help="requests per minute")
    action.add_argument("--tpm", type=int, help="tokens per minute")
    action.add_argument("--models", help="comma-separated allow-list patterns, e.g. 'gpt-4o*,claude-*'")
    action.add_argument("--budget-tokens-per-day", type=int)
    action.add_argument(
        "--budget-usd-per-day", type=_checked(keyops.dollars), help="dollar budget per UTC day, e.g. 5"
    )
    action.add_argument(
        "--budget-usd-per-month",
        type=_checked(keyops.dollars),
        help="dollar budget per UTC calendar month, e.g. 100",
    )
    action.add_argument(
        "--cache-ttl", help="cache answers by default for this long, e.g. 5m, 1h (requests can opt out)"
    )


def _checked(validate: Callable[[Any], Any]) -> Callable[[str], str]:
    """An argparse type that refuses what the shared validation refuses (and keeps the text: the
    shared operations parse it again, as they do the admin API's JSON)."""

    def check(text: str) -> str:
        try:
            validate(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).partition(": ")[2] or str(exc)) from None
        return text

    return check


def _values(args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, Any]:
    """The options given on the command line, by the shared operations' field names."""
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


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
            key, described = await keyops.create(store, _values(args, keyops.CREATE))
            _print({**described, "key": key}, args.json)
            if not args.json:
                print("Store this key now: it is not kept and cannot be shown again.", file=sys.stderr)
            return 0
        if args.action == "list":
            _print(await keyops.listing(store, args.tenant), args.json)
            return 0
        if args.action == "show":
            found = await keys.get_key(store, args.key_id)
            if found is None:
                print(f"no key {_shown(args.key_id)}", file=sys.stderr)
                return 1
            _print(keyops.describe(found), args.json)
            return 0
        if args.action == "update":
            updated = await keyops.update(store, args.key_id, _values(args, keyops.EDITABLE))
            if updated is None:
                print(f"no key {_shown(args.key_id)}", file=sys.stderr)
                return 1
            _print(updated, args.json)
            return 0
        if args.action == "revoke":
            revoked = await keyops.revoke(store, args.key_id)
            if revoked is None:
                print(f"no key {_shown(args.key_id)}", file=sys.stderr)
                return 1
            print(f"revoked {revoked['key_id']}", file=sys.stderr)
            return 0
        rotated = await keyops.rotate(store, args.key_id)
        if rotated is None:
            print(f"no key {_shown(args.key_id)}", file=sys.stderr)
            return 1
        key, described = rotated
        _print({**described, "key": key}, args.json)
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
    from switchboard.config import ConfigError
    from switchboard.demo import resolve_config

    try:
        settings = resolve_config(args.config)[0].store  # the same configuration `serve` would use
        if args.command == "admin":
            from switchboard.cli import admin

            return admin.run(args, settings)
        return asyncio.run(_run(args, settings))
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
