"""`switchboard serve`: run the gateway under uvicorn (uvloop + httptools)."""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from switchboard.edge.guard import HttpLimits


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard", description="Switchboard AI API gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the gateway")
    serve.add_argument(
        "--config", help="TOML configuration file (default: $SWITCHBOARD_CONFIG or the built-in demo)"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--allow-open", action="store_true", help="serve without API keys on a non-loopback address (unsafe)"
    )
    serve.add_argument(
        "--no-access-log",
        action="store_true",
        help="no JSON line per request on stderr (also: [telemetry] access_log = false)",
    )
    limits = serve.add_argument_group("HTTP limits (slow or oversized clients get 408 / 431 and are closed)")
    limits.add_argument(
        "--http-timeout-s",
        type=_positive,
        help="time to send a request's head, and longest pause while sending its body (default: 15)",
    )
    limits.add_argument(
        "--http-body-timeout-s",
        type=_positive,
        help="time to send a whole request body (default: 120)",
    )
    limits.add_argument(
        "--max-header-bytes",
        type=int,
        help="largest request head: request line + headers, in bytes (default: 65536)",
    )
    check = sub.add_parser("check-config", help="validate a configuration file and exit")
    check.add_argument("config")
    check.add_argument(
        "--price-age-days",
        type=int,
        default=PRICE_AGE_DAYS,
        help=f"name shipped price rows read longer ago than this (default: {PRICE_AGE_DAYS})",
    )
    from switchboard.cli import admin
    from switchboard.cli.keys import CONFIG_HELP, add_parser, add_usage_parser

    add_parser(sub)
    add_usage_parser(sub)
    admin.add_parser(sub, CONFIG_HELP)
    return parser


def _positive(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return number


def _limits(args: argparse.Namespace) -> HttpLimits:
    from switchboard.edge.guard import HttpLimits

    default = HttpLimits()
    timeout = args.http_timeout_s or default.head_timeout_s
    return HttpLimits(
        head_timeout_s=timeout,
        body_idle_timeout_s=timeout,
        body_timeout_s=args.http_body_timeout_s or default.body_timeout_s,
        max_header_bytes=args.max_header_bytes or default.max_header_bytes,
    )


PRICE_AGE_DAYS = 90


def price_report(config: Any, today: datetime.date, max_age_days: int) -> list[str]:
    """What check-config says about the prices of the configured targets (the mock provider is free):
    the targets nobody prices, those priced by a shipped row read more than `max_age_days` ago, and
    those priced by a row that could not be verified on its provider's page."""
    from switchboard.providers import provider_type
    from switchboard.state.prices import PriceTable, stale

    prices = PriceTable.of(config)
    unpriced: list[str] = []
    fallback: list[str] = []
    rows: dict[str, Any] = {}
    for model in config.models.values():
        for target in model.targets:
            if not provider_type(config.providers[target.provider].type).priced or target.id in unpriced:
                continue
            if prices.get(target.provider, target.model) is None:
                unpriced.append(target.id)
            elif prices.fallback(target.provider, target.model):
                if target.id not in fallback:
                    fallback.append(target.id)
            elif (row := prices.listing(target.provider, target.model)) is not None:
                rows[target.id] = row
    lines = []
    if unpriced:
        lines.append(
            f"unpriced: {', '.join(unpriced)} (no cost is known: keys with a dollar budget are not "
            "served by them; add them to [prices])"
        )
    if fallback:
        lines.append(f"priced by their model's fallback_price: {', '.join(fallback)}")
    old = stale(rows.items(), today, max_age_days)
    if old:
        lines.append(f"prices older than {max_age_days} days: {', '.join(old)} (re-read their pages)")
    unverified = [name for name, row in rows.items() if not row.verified]
    if unverified:
        lines.append(f"prices not verified on the provider's page: {', '.join(unverified)}")
    return lines


def _has_keys(config: object) -> bool:
    """Whether the configured store holds at least one gateway key (a start-up hint only: whether
    keys are required is the `gateway.auth` setting)."""
    import asyncio

    from switchboard.state import keys
    from switchboard.state.store import open_store

    async def check() -> bool:
        store = open_store(config.store)  # type: ignore[attr-defined]
        try:
            return await store.get(keys.MARKER_PK, keys.MARKER_SK) is not None
        finally:
            await store.close()

    return asyncio.run(check())


def _open_is_allowed(config: Any, args: argparse.Namespace, log: logging.Logger) -> bool:
    """`gateway.auth = "open"` serves anyone: refused on a non-loopback address without
    --allow-open, and announced loudly. `required` with no key yet: every request gets 401 until
    one is created, so say how."""
    if config.gateway.auth == "open":
        loopback = args.host in ("127.0.0.1", "localhost", "::1")
        if not loopback and not args.allow_open:
            print(
                f'refusing to serve {args.host} with gateway.auth = "open": set auth = "required" and '
                "create keys with `switchboard keys create --config ...`, or pass --allow-open",
                file=sys.stderr,
            )
            return False
        log.warning(
            "gateway.auth = open: the gateway is OPEN to anyone who can reach %s:%d (keys optional).",
            args.host,
            args.port,
        )
    elif not os.environ.get("AWS_LAMBDA_FUNCTION_NAME") and not _has_keys(config):
        log.warning(
            "no API key in the store yet: every request gets 401 until you create one with "
            "`switchboard keys create --config ... --tenant ... --name ...`"
        )
    return True


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from switchboard.config import ConfigError, load_config

    if args.command in ("keys", "usage", "admin"):
        from switchboard.cli.keys import run

        return run(args)

    if args.command == "check-config":
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            print(f"invalid configuration: {exc}", file=sys.stderr)
            return 2
        print(f"ok: {len(config.providers)} providers, {len(config.models)} models")
        for line in price_report(config, datetime.datetime.now(datetime.UTC).date(), args.price_age_days):
            print(line)
        return 0

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    # httpx logs every request URL at INFO: never log upstream URLs (and it costs CPU per request)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    log = logging.getLogger("switchboard")
    from switchboard.demo import resolve_config

    try:
        config, source = resolve_config(args.config)
        if source is None:
            log.info("no --config given: serving the built-in demo configuration (mock provider)")
    except ConfigError as exc:
        print(f"invalid configuration: {exc}", file=sys.stderr)
        return 2

    if not _open_is_allowed(config, args, log):
        return 2

    import uvicorn

    from switchboard.app import create_app
    from switchboard.edge.guard import guarded_protocol

    access_log = not args.no_access_log and config.telemetry.access_log is not False
    app = create_app(config, tune_gc=True, access_log=access_log)
    log.info(
        "switchboard on http://%s:%d/v1 (region %s; models: %s)",
        args.host,
        args.port,
        config.gateway.region,
        ", ".join(sorted(config.models)),
    )
    if config.admin.enabled:
        log.info(
            "console on http://%s:%d/console/ (admin token: $%s or `switchboard admin create-token`)",
            args.host,
            args.port,
            config.admin.token_env,
        )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        # httptools with head / body deadlines, a header cap and JSON framing errors (edge/guard.py)
        http=guarded_protocol(_limits(args)),
        lifespan="on",
        access_log=False,
        log_level=args.log_level,
        server_header=False,
        proxy_headers=False,  # Switchboard reads no forwarded-for headers; skip uvicorn's middleware
        date_header=False,
    )
    return 0
