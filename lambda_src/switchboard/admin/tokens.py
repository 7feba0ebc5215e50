"""Admin tokens: the credentials of the admin API and the web console, separate from API keys.

`sba-` + 256 random bits, stored only as a SHA-256 hash (`pk = ADMIN#<sha256 hex>`, `sk = META`,
with a public `token_id`, a name and the creation time), created with `switchboard admin
create-token`; or the value of the environment variable `[admin] token_env` names
(`SWITCHBOARD_ADMIN_TOKEN` by default), compared in constant time. An API key is never an admin
token (the admin API answers it 403), and an admin token never serves model traffic (the /v1
routes answer it 403).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from typing import Any

from switchboard.state.auth import ADMIN_TOKEN_PREFIX as PREFIX
from switchboard.state.store.base import Store

_TOKEN_RE = re.compile(r"^sba-[A-Za-z0-9_-]{43}$")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _pk(digest: str) -> str:
    return f"ADMIN#{digest}"


async def create_token(store: Store, name: str) -> tuple[str, dict[str, Any]]:
    """Returns (the token, printed once; what is kept about it)."""
    name = name.strip()
    if not name or len(name) > 64 or not name.isprintable():
        raise ValueError("name: 1 to 64 printable characters")
    token = PREFIX + secrets.token_urlsafe(32)
    digest = token_hash(token)
    record = {"token_id": digest[:16], "name": name, "created_at": int(time.time())}
    if not await store.put(_pk(digest), "META", record, if_absent=True):
        raise RuntimeError("token collision (retry)")
    return token, record


async def list_tokens(store: Store) -> list[dict[str, Any]]:
    items = await store.scan_prefix("ADMIN#")
    return [
        {k: item[k] for k in ("token_id", "name", "created_at")} for item in items if item["sk"] == "META"
    ]


async def revoke_token(store: Store, token_id: str) -> bool:
    for item in await store.scan_prefix("ADMIN#"):
        if item["sk"] == "META" and item.get("token_id") == token_id:
            await store.delete(str(item["pk"]), "META")
            return True
    return False


async def verify(store: Store, token: str, env_token: str | None) -> bool:
    """Whether `token` is an admin token: the configured environment value or a stored one."""
    if env_token and hmac.compare_digest(token.encode(), env_token.encode()):
        return True
    if not _TOKEN_RE.match(token):
        return False
    digest = token_hash(token)
    item = await store.get(_pk(digest), "META")
    return item is not None and hmac.compare_digest(str(item["pk"]), _pk(digest))


def env_token(env: Mapping[str, str], name: str) -> str | None:
    """The token held by the configured variable; None when unset or too short to be a secret."""
    value = env.get(name, "")
    return value if len(value) >= 16 else None
