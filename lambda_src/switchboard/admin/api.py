"""The admin API (`/admin/api/...`, JSON) and the web console's static files (`/console/`), as
FastAPI routes on the gateway's web app (built on first use, never on the request path; they appear
on the OpenAPI page, `/docs`).

Access: `Authorization: Bearer <admin token>` only (no cookies, so no ambient credential a
cross-site request could ride on). An API key is refused with 403, a missing or wrong token with
401; a request a browser marks as cross-site (`Sec-Fetch-Site`), or whose `Origin` names another
host, is refused with 403 before the token is looked at. Every answer carries `Cache-Control:
no-store`; the console's pages a strict Content-Security-Policy (same-origin scripts, styles and
requests only; no inline script).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Body, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from switchboard.admin import keyops, tokens, views
from switchboard.admin.minutes import MinuteAggregator
from switchboard.config import Config
from switchboard.errors import Forbidden, InvalidRequest, RouteNotFound, Unauthorized
from switchboard.routing.executor import Executor
from switchboard.state import keys
from switchboard.state.store.base import Store
from switchboard.telemetry.recent import RecentRequests

ASSETS = Path(__file__).resolve().parent.parent / "console"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-resource-policy": "same-origin",
}
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


@dataclass
class AdminContext:
    """What the admin API reads and changes: the gateway's own objects, shared with the request path."""

    config: Config
    store: Store
    executor: Executor
    recent: RecentRequests
    minutes: MinuteAggregator
    forget_key: Any = None
    """`Authenticator.forget`: a revoked or edited key takes effect at once in this process."""
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)


def _same_origin(request: Request) -> None:
    site = request.headers.get("sec-fetch-site")
    if site in ("cross-site", "same-site"):
        raise Forbidden("cross-origin admin request refused", code="cross_origin")
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        host = request.headers.get("host", "")
        if urlsplit(origin).netloc != host and site != "same-origin":
            raise Forbidden("cross-origin admin request refused", code="cross_origin")
    elif origin == "null":
        raise Forbidden("cross-origin admin request refused", code="cross_origin")


def _guard(admin: AdminContext) -> Any:
    async def check(request: Request) -> None:
        _same_origin(request)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        presented = token.strip() if scheme.lower() == "bearer" else ""
        api_key = request.headers.get("x-api-key", "")
        if presented.startswith(keys.PREFIX) or api_key.startswith(keys.PREFIX):
            raise Forbidden("API keys cannot use the admin API: use an admin token", code="api_key_not_admin")
        if not presented:
            raise Unauthorized(
                "admin API: send 'Authorization: Bearer <admin token>'", code="admin_token_required"
            )
        env_value = tokens.env_token(admin.env, admin.config.admin.token_env)
        if not await tokens.verify(admin.store, presented, env_value):
            raise Unauthorized("invalid admin token", code="invalid_admin_token")

    return check


def _json(value: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(value, status_code=status, headers=SECURITY_HEADERS)


def _changes(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest("expected a JSON object")
    return body


def _key_input(exc: ValueError) -> InvalidRequest:
    return InvalidRequest(str(exc)[:300], param=str(exc).partition(":")[0][:40] or None)


class UsageQuery:
    """`since` (YYYY-MM-DD) and exact-match filters of the usage routes."""

    def __init__(
        self,
        since: str | None = Query(None, pattern=r"^\d{4}-\d{2}-\d{2}$"),
        tenant: str | None = Query(None, max_length=64),
        key_id: str | None = Query(None, max_length=64),
        model: str | None = Query(None, max_length=200),
    ) -> None:
        self.since = since
        given = {"tenant": tenant, "key_id": key_id, "model": model}
        self.filters = {name: value for name, value in given.items() if value}


def admin_router(admin: AdminContext) -> APIRouter:
    router = APIRouter(prefix="/admin/api", dependencies=[Depends(_guard(admin))], tags=["admin"])
    store = admin.store

    def forget(key_id: str) -> None:
        if admin.forget_key is not None:
            admin.forget_key(key_id)

    @router.get("/session", summary="Check an admin token")
    async def session() -> JSONResponse:
        return _json(
            {"ok": True, "region": admin.config.gateway.region, "recent_requests": admin.recent.size}
        )

    @router.get(
        "/overview",
        summary="Time series: rpm, overhead vs upstream p50/p95/p99, errors by cause, cache hits, fallbacks",
    )
    async def overview(window: str = Query("1h", pattern="^(15m|1h|24h|7d)$")) -> JSONResponse:
        await admin.minutes.flush()  # this process's counts so far: a write on the admin path only
        return _json(await views.overview(store, window))

    @router.get(
        "/providers", summary="Per model its strategy; per target EWMA latency, cooldown, attempts, errors"
    )
    async def providers() -> JSONResponse:
        return _json(views.providers(admin.config, admin.executor, admin.recent))

    @router.get(
        "/usage", summary="Usage and cost per tenant, key, model and day; budgets with used and reset"
    )
    async def usage(query: Annotated[UsageQuery, Depends()]) -> JSONResponse:
        return _json(await views.usage(store, query.since, query.filters))

    @router.get("/usage.csv", summary="The usage rows as CSV")
    async def usage_csv(query: Annotated[UsageQuery, Depends()]) -> Response:
        rows = await views.usage_rows(store, query.since, query.filters)
        headers = {**SECURITY_HEADERS, "content-disposition": 'attachment; filename="switchboard-usage.csv"'}
        return Response(views.usage_csv(rows), media_type="text/csv; charset=utf-8", headers=headers)

    @router.get("/keys", summary="List keys (never the keys themselves)")
    async def list_keys(tenant: str | None = Query(None, max_length=64)) -> JSONResponse:
        return _json({"keys": await keyops.listing(store, tenant)})

    @router.post("/keys", summary="Create a key (the key is in this answer only)", status_code=201)
    async def create_key(body: Annotated[dict[str, Any], Body()]) -> JSONResponse:
        try:
            key, described = await keyops.create(store, _changes(body))
        except ValueError as exc:
            raise _key_input(exc) from None
        return _json({**described, "key": key}, 201)

    @router.patch("/keys/{key_id}", summary="Edit a key's limits, USD budgets, models or name (null removes)")
    async def update_key(key_id: str, body: Annotated[dict[str, Any], Body()]) -> JSONResponse:
        try:
            updated = await keyops.update(store, key_id[:64], _changes(body))
        except ValueError as exc:
            raise _key_input(exc) from None
        if updated is None:
            raise RouteNotFound("no such key", code="key_not_found")
        forget(updated["key_id"])
        return _json(updated)

    @router.post("/keys/{key_id}/revoke", summary="Revoke a key")
    async def revoke_key(key_id: str) -> JSONResponse:
        revoked = await keyops.revoke(store, key_id[:64])
        if revoked is None:
            raise RouteNotFound("no such key", code="key_not_found")
        forget(revoked["key_id"])
        return _json(revoked)

    @router.post("/keys/{key_id}/rotate", summary="Replace a key (the new key is in this answer only)")
    async def rotate_key(key_id: str) -> JSONResponse:
        rotated = await keyops.rotate(store, key_id[:64])
        if rotated is None:
            raise RouteNotFound("no such key", code="key_not_found")
        key, described = rotated
        if described["replaced_by"] is None:
            forget(key_id)
        return _json({**described, "key": key})

    @router.get("/requests", summary="This process's recent requests (metadata only), newest first")
    async def recent(request: Request, limit: int = Query(200, ge=1, le=1000)) -> JSONResponse:
        names = ("model", "key_id", "tenant", "status", "outcome", "route", "target", "cause")
        filters = {n: request.query_params.get(n, "")[:200] for n in names}
        return _json(views.requests(admin.recent, filters, limit))

    @router.get("/config", summary="The loaded configuration, secrets redacted, with check-config findings")
    async def configuration() -> JSONResponse:
        return _json(views.configuration(admin.config))

    return router


def _assets() -> dict[str, tuple[bytes, str]]:
    found: dict[str, tuple[bytes, str]] = {}
    if ASSETS.is_dir():
        for path in ASSETS.rglob("*"):
            if path.is_file() and path.suffix in _TYPES:
                found[path.relative_to(ASSETS).as_posix()] = (path.read_bytes(), _TYPES[path.suffix])
    return found


def add_admin(app: FastAPI, admin: AdminContext) -> None:
    """The admin API and the console's files (read once, when the web app is built)."""
    app.include_router(admin_router(admin))
    files = _assets()
    page_headers = {**SECURITY_HEADERS, "content-security-policy": CSP}

    @app.get("/console", include_in_schema=False)
    async def console_root() -> Response:
        return RedirectResponse("/console/", status_code=308, headers=SECURITY_HEADERS)

    @app.get("/console/{name:path}", include_in_schema=False)
    async def console_file(name: str) -> Response:
        found = files.get(name or "index.html")
        if found is None:
            raise RouteNotFound("no such console file")
        return Response(found[0], media_type=found[1], headers=page_headers)
