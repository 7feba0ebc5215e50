"""What the admin API answers, computed from the state the gateway already keeps: the per-minute
aggregates and usage items in the store, the key records, the balancer and cooldown state of this
process, its ring of recent requests and the loaded configuration. Pure functions over that state,
plus the store reads they need."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from switchboard.admin import keyops
from switchboard.admin.minutes import read_minutes, series
from switchboard.config import Config
from switchboard.routing.executor import Executor
from switchboard.state import keys
from switchboard.state.store.base import Store
from switchboard.state.usage import COUNTERS
from switchboard.telemetry.recent import RecentRequests

WINDOWS = {"15m": (900, 60), "1h": (3600, 60), "24h": (86_400, 900), "7d": (604_800, 3600)}
"""Window -> (length, step) in seconds: 15 and 60 points per minute, 96 per quarter hour, 168 hourly."""
REDACTED = "[redacted]"


async def overview(store: Store, window: str, now: float | None = None) -> dict[str, Any]:
    length, step = WINDOWS[window]
    until = time.time() if now is None else now
    since = (until // step) * step - length + step  # length / step points, the last one now
    items = await read_minutes(store, since, until)
    return {"window": window, **series(items, since, until, step)}


def providers(config: Config, executor: Executor, recent: RecentRequests) -> dict[str, Any]:
    """Per model its strategy and targets; per target the balancer's latency EWMA, cooldown state
    and, over this process's recent requests (by the target that answered), attempts and errors."""
    seen: dict[str, dict[str, int]] = {}
    for row in recent.select({}, limit=recent.size):
        target = row["target"]
        if target is None:
            continue
        stats = seen.setdefault(target, {"requests": 0, "errors": 0, "attempts": 0, "fallbacks": 0})
        stats["requests"] += 1
        stats["errors"] += row["cause"] in ("provider", "gateway")
        stats["attempts"] += row["attempts"]
        stats["fallbacks"] += row["attempts"] > 1
    models = []
    for name, model in sorted(config.models.items()):
        targets = []
        for target in model.targets:
            ewma = executor.balancer.latency.get(target)
            stats = seen.get(target.id, {"requests": 0, "errors": 0, "attempts": 0, "fallbacks": 0})
            targets.append(
                {
                    "target": target.id,
                    "provider_type": config.providers[target.provider].type,
                    "weight": target.weight,
                    "ewma_ms": None if ewma is None else round(ewma * 1000, 3),
                    "cooling_down": executor.health.cooling(target),
                    **stats,
                    "error_rate": round(stats["errors"] / stats["requests"], 4)
                    if stats["requests"]
                    else None,
                }
            )
        models.append({"model": name, "strategy": model.strategy, "targets": targets})
    return {"models": models, "recent_requests": len(recent), "cooldown_ms": config.routing.cooldown_ms}


def _usage_rows(items: Iterable[Mapping[str, Any]], since: str | None) -> list[dict[str, Any]]:
    rows = []
    for item in items:
        day, _, rest = str(item["sk"]).partition("#")
        if since and day < since:
            continue
        model, _, target = rest.rpartition("#")
        counters = {k: int(item.get(k, 0)) for k in COUNTERS}
        cost = counters.pop("cost_nano_usd")
        rows.append(
            {
                "day": day,
                "key_id": str(item["pk"]).removeprefix("USAGE#"),
                "model": model,
                "target": target,
                **counters,
                "cost_usd": round(cost / 1e9, 6),
            }
        )
    return rows


ROWS_SHOWN = 100
"""Usage rows in a JSON answer (newest first; the CSV export has them all)."""


async def usage_rows(store: Store, since: str | None, filters: Mapping[str, str]) -> list[dict[str, Any]]:
    """Usage rows (per key, day, model and target) with tenant and key name, filtered by tenant,
    key_id and model, newest first."""
    records = {r.key_id: r for r in await keys.list_keys(store)}
    return _named(_usage_rows(await store.scan_prefix("USAGE#"), since), records, filters)


def _named(
    rows: list[dict[str, Any]], records: Mapping[str, keys.KeyRecord], filters: Mapping[str, str]
) -> list[dict[str, Any]]:
    kept = []
    for row in rows:
        record = records.get(row["key_id"])
        row["tenant"] = record.tenant if record is not None else ("open" if row["key_id"] == "open" else None)
        row["key_name"] = record.name if record is not None else None
        if all(not value or str(row.get(name)) == value for name, value in filters.items()):
            kept.append(row)
    kept.sort(key=lambda r: (r["day"], r["tenant"] or "", r["key_id"], r["model"]), reverse=True)
    return kept


async def usage(store: Store, since: str | None, filters: Mapping[str, str]) -> dict[str, Any]:
    """The usage rows (the newest `ROWS_SHOWN`); totals per tenant, key, model and day; and every
    active key's limits and budgets with what has been used of them and when they reset."""
    records = {r.key_id: r for r in await keys.list_keys(store)}
    rows = _named(_usage_rows(await store.scan_prefix("USAGE#"), since), records, filters)
    groups: dict[str, dict[Any, list[float]]] = {"tenant": {}, "key_id": {}, "model": {}, "day": {}}
    total = [0.0] * len(_SUMMED)
    for row in rows:  # one pass: ~6,000 rows for 30 days of 100 keys
        values = [row[name] for name in _SUMMED]
        for i, value in enumerate(values):
            total[i] += value
        for by, group in groups.items():
            sums = group.get(row[by])
            if sums is None:
                group[row[by]] = list(values)
            else:
                for i, value in enumerate(values):
                    sums[i] += value
    return {
        "rows": rows[:ROWS_SHOWN],
        "rows_total": len(rows),
        "totals": _named_sums(total),
        "by_tenant": _listed(groups, "tenant"),
        "by_key": _listed(groups, "key_id"),
        "by_model": _listed(groups, "model"),
        "by_day": [{"day": day, **_named_sums(sums)} for day, sums in sorted(groups["day"].items())],
        "budgets": _budgets(records.values(), rows if not filters else None),
    }


_SUMMED = (*COUNTERS[:-1], "cost_usd")


def _listed(groups: Mapping[str, Mapping[Any, list[float]]], by: str) -> list[dict[str, Any]]:
    return [{by: name, **_named_sums(sums)} for name, sums in groups[by].items()]


def _named_sums(values: list[float]) -> dict[str, Any]:
    out: dict[str, Any] = {name: int(value) for name, value in zip(_SUMMED[:-1], values, strict=False)}
    out["cost_usd"] = round(values[-1], 6)
    return out


def _sum(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    total = [0.0] * len(_SUMMED)
    for row in rows:
        for i, name in enumerate(_SUMMED):
            total[i] += row[name]
    return _named_sums(total)


def _budgets(records: Iterable[keys.KeyRecord], rows: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if rows is None:
        return []
    now = datetime.datetime.now(datetime.UTC)
    today, month = now.strftime("%Y-%m-%d"), now.strftime("%Y-%m")
    tomorrow = (now + datetime.timedelta(days=1)).strftime("%Y-%m-%dT00:00:00+00:00")
    year, mon = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    next_month = f"{year:04d}-{mon:02d}-01T00:00:00+00:00"
    this_month: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["day"].startswith(month):
            this_month.setdefault(row["key_id"], []).append(row)
    out = []
    for record in records:
        limited = (
            record.rpm,
            record.tpm,
            record.budget_tokens_per_day,
            record.budget_nano_usd_per_day,
            record.budget_nano_usd_per_month,
        )
        if all(v is None for v in limited) or record.status() != "active":
            continue
        mine = this_month.get(record.key_id, [])
        day = _sum(r for r in mine if r["day"] == today)
        described = keyops.describe(record)
        out.append(
            {
                "key_id": record.key_id,
                "tenant": record.tenant,
                "name": record.name,
                "rpm": record.rpm,
                "tpm": record.tpm,
                "budget_tokens_per_day": record.budget_tokens_per_day,
                "tokens_today": day["prompt_tokens"] + day["completion_tokens"],
                "budget_usd_per_day": described["budget_usd_per_day"],
                "usd_today": day["cost_usd"],
                "budget_usd_per_month": described["budget_usd_per_month"],
                "usd_this_month": _sum(mine)["cost_usd"],
                "day_resets": tomorrow,
                "month_resets": next_month,
            }
        )
    return out


CSV_COLUMNS = ("day", "tenant", "key_id", "key_name", "model", "target", *COUNTERS[:-1], "cost_usd")


def usage_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else _csv_safe(row[c]) for c in CSV_COLUMNS])
    return out.getvalue()


def _csv_safe(value: Any) -> Any:
    """Text a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) is quoted with a `'`."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def requests(recent: RecentRequests, filters: Mapping[str, str], limit: int) -> dict[str, Any]:
    return {"requests": recent.select(filters, limit), "size": recent.size, "per_process": True}


def configuration(config: Config) -> dict[str, Any]:
    """The loaded configuration with every secret redacted (header values, the origin secret's name,
    credentials in URLs), and the `check-config` findings."""
    from switchboard.cli.main import PRICE_AGE_DAYS, price_report  # check-config's own report

    document = asdict(config)
    for provider in document["providers"].values():
        provider["headers"] = {name: REDACTED for name, _ in provider["headers"]}
        provider["base_url"] = _without_credentials(provider["base_url"])
    gateway = document["gateway"]
    if gateway.get("origin_secret"):
        gateway["origin_secret"] = REDACTED
    telemetry = document["telemetry"]
    if telemetry.get("otlp_endpoint"):
        telemetry["otlp_endpoint"] = _without_credentials(telemetry["otlp_endpoint"])
    store = document["store"]
    if store.get("endpoint_url"):
        store["endpoint_url"] = _without_credentials(store["endpoint_url"])
    for model in document["models"].values():
        model["targets"] = [_target(t) for t in model["targets"]]
    today = datetime.datetime.now(datetime.UTC).date()
    findings = [
        {"level": "warning", "finding": line.partition(": ")[0], "detail": line.partition(": ")[2]}
        for line in price_report(config, today, PRICE_AGE_DAYS)
    ]
    if config.gateway.auth == "open":
        findings.append(
            {
                "level": "warning",
                "finding": "open gateway",
                "detail": "gateway.auth = open: keys are optional",
            }
        )
    return {"config": document, "findings": findings}


def _target(target: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in target.items() if v is not None}


def _without_credentials(url: str) -> str:
    """A URL without user:password@ (and without its query, which can carry a token)."""
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{REDACTED}@{host}" if parts.username or parts.password else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, REDACTED if parts.query else "", ""))
