"""The FastAPI part of the gateway: `/v1/models`, OpenAPI docs, and OpenAI-shaped errors for
everything FastAPI would otherwise answer with its own 404/405/422/500 bodies."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from switchboard import __version__
from switchboard.config import Config
from switchboard.edge.anthropic_models import (
    anthropic_error,
    anthropic_list,
    anthropic_model,
    speaks_anthropic,
)
from switchboard.errors import GatewayError, InvalidRequest, MethodNotAllowed, RouteNotFound, UnknownModel

if TYPE_CHECKING:
    from switchboard.admin.api import AdminContext

log = logging.getLogger("switchboard")
CREATED = 1_700_000_000


def _error_response(exc: GatewayError) -> Response:
    return Response(
        exc.body(),
        status_code=exc.http_status,
        media_type="application/json",
        headers=dict((k.decode(), v.decode()) for k, v in exc.headers()),
    )


def create_web_app(config: Config, admin: AdminContext | None = None) -> FastAPI:
    """`admin`: the admin API and web console are served too (`admin/api.py`)."""
    app = FastAPI(title="Switchboard", version=__version__, redoc_url=None)
    if admin is not None:
        from switchboard.admin.api import add_admin

        add_admin(app, admin)
    model_cards = {
        name: {"id": name, "object": "model", "created": CREATED, "owned_by": "switchboard"}
        for name in config.models
    }

    anthropic_cards = {name: anthropic_model(name, CREATED) for name in config.models}

    @app.get("/v1/models", response_model=None)
    async def list_models(request: Request) -> dict[str, object] | Response:
        if speaks_anthropic(request.headers):
            return anthropic_list(anthropic_cards, request.query_params)
        return {"object": "list", "data": list(model_cards.values())}

    @app.get("/v1/models/{model_id:path}", response_model=None)
    async def get_model(model_id: str, request: Request) -> dict[str, object] | Response:
        anthropic = speaks_anthropic(request.headers)
        card = (anthropic_cards if anthropic else model_cards).get(model_id)
        if card is None:
            error = UnknownModel(f"model {model_id[:100]!r} is not configured on this gateway", param="model")
            if anthropic:
                return anthropic_error(error)
            raise error
        return card

    @app.exception_handler(GatewayError)
    async def gateway_error(_: Request, exc: GatewayError) -> Response:
        return _error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return _error_response(RouteNotFound(f"no route for {request.method} {request.url.path[:200]}"))
        if exc.status_code == 405:
            return _error_response(
                MethodNotAllowed(f"method {request.method} not allowed on {request.url.path[:200]}")
            )
        err = InvalidRequest(str(exc.detail)[:200])
        return Response(err.body(), status_code=exc.status_code, media_type="application/json")

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        param = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        return _error_response(
            InvalidRequest(f"invalid request: {first.get('msg', 'validation failed')}", param=param)
        )

    @app.exception_handler(Exception)
    async def unhandled(_: Request, exc: Exception) -> Response:
        log.error("unhandled error in web route: %s", type(exc).__name__)
        return _error_response(GatewayError("internal error"))

    return app
