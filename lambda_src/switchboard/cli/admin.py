"""`switchboard admin create-token|list-tokens|revoke-token --config FILE`: the admin tokens of the
admin API and web console (stored hashed in the store `serve` uses; a new token is printed once)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from switchboard.admin import tokens
from switchboard.state.store import StoreSettings, open_store


def add_parser(sub: Any, config_help: str) -> None:
    parser = sub.add_parser("admin", help="admin tokens for the admin API and the web console")
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create-token", help="create an admin token (printed once)")
    create.add_argument("--name", default="admin", help="what the token is for")
    listing = actions.add_parser("list-tokens", help="list admin tokens (never the tokens themselves)")
    revoke = actions.add_parser("revoke-token", help="revoke an admin token")
    revoke.add_argument("token_id")
    for action in (create, listing, revoke):
        action.add_argument("--config", help=config_help)
        action.add_argument("--json", action="store_true", help="machine-readable output")


async def _run(args: argparse.Namespace, settings: StoreSettings) -> int:
    store = open_store(settings)
    try:
        if args.action == "create-token":
            token, record = await tokens.create_token(store, args.name)
            if args.json:
                print(json.dumps({**record, "token": token}))
            else:
                print(token)
                shown = f"admin token {record['token_id']} ({record['name']})"
                print(f"{shown}: store it now, it cannot be shown again", file=sys.stderr)
            return 0
        if args.action == "list-tokens":
            found = await tokens.list_tokens(store)
            if args.json:
                print(json.dumps(found))
            else:
                for row in found:
                    print("  ".join(f"{k}={v}" for k, v in row.items()))
            return 0
        if not await tokens.revoke_token(store, args.token_id):
            print(f"no admin token {args.token_id[:32]!r}", file=sys.stderr)
            return 1
        print(f"revoked {args.token_id}", file=sys.stderr)
        return 0
    finally:
        await store.close()


def run(args: argparse.Namespace, settings: StoreSettings) -> int:
    try:
        return asyncio.run(_run(args, settings))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
