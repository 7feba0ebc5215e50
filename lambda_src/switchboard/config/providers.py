"""`[providers.NAME]`: one upstream API, validated against its type's descriptor (`ProviderFields`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from switchboard.config.reading import (
    ConfigError,
    _check_keys,
    _get,
    _header_safe,
)


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    name: str
    type: str
    base_url: str = ""
    api_key_env: str | None = None
    api_key_secret: str | None = None
    auth_header: str = "authorization"
    """`authorization` (Bearer), `api-key` (Azure OpenAI), `x-api-key` or `none`."""
    api_version: str | None = None
    """Azure OpenAI `api-version` query parameter."""
    azure_deployments: bool = False
    """Azure OpenAI: the upstream model is a deployment name in the path."""
    headers: tuple[tuple[str, str], ...] = ()
    timeout_ms: int | None = None
    region: str | None = None
    """AWS region (Bedrock)."""
    responses_api: bool = True
    """`openai` providers: serve `POST /v1/responses` by passing the client's request through to the
    provider's own `/responses`; false for servers that only speak Chat Completions (requests are
    then translated)."""
    stream_usage: bool = True
    """OpenAI-compatible servers: send `stream_options` (Switchboard asks for the usage chunk to
    count tokens). False for servers that reject the field: it is then dropped, and the tokens of
    streams from that provider are estimated."""


_PROVIDER_KEYS = {
    "type",
    "stream_usage",
    "responses_api",
    "base_url",
    "api_key_env",
    "api_key_secret",
    "auth_header",
    "api_version",
    "azure_deployments",
    "headers",
    "timeout_ms",
    "region",
}


_AUTH_HEADERS = {"authorization", "api-key", "x-api-key", "none"}


_SECRET_HEADERS: Final = frozenset(
    {"authorization", "proxy-authorization", "api-key", "x-api-key", "x-goog-api-key", "cookie"}
)


_SECRET_VALUE: Final = re.compile(r"(?i)^\s*(bearer|basic)\s|^\s*(sk-|sk_|AKIA|ASIA)")


@dataclass(frozen=True, slots=True)
class ProviderFields:
    """What a provider type needs in its `[providers.NAME]` table, as its descriptor declares it
    (`providers/__init__.py`): the configuration validates against these, never against type names."""

    base_url: bool = True
    """`base_url` is required (otherwise optional: an override of the type's own endpoint)."""
    region: bool = False
    """`region` is required (AWS services)."""


def _provider(name: str, raw: Any, known_types: Mapping[str, ProviderFields]) -> ProviderConfig:
    where = f"providers.{name}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table")
    if "api_key" in raw:
        raise ConfigError(f"{where}.api_key: secrets never go in the file; use api_key_env or api_key_secret")
    _check_keys(raw, _PROVIDER_KEYS, where)
    ptype = _get(raw, "type", str, where, None)
    if ptype is None:
        raise ConfigError(f"{where}.type: required (one of: {', '.join(sorted(known_types))})")
    if ptype not in known_types:
        raise ConfigError(
            f"{where}.type: unknown provider type {ptype!r} (known: {', '.join(sorted(known_types))})"
        )
    fields = known_types[ptype]
    base_url = _get(raw, "base_url", str, where, "")
    region = _get(raw, "region", str, where, None)
    if fields.region and not region:
        raise ConfigError(f'{where}.region: required for {ptype} providers (e.g. "us-east-1")')
    if fields.base_url or base_url:
        if not base_url.startswith(("https://", "http://")):
            raise ConfigError(f"{where}.base_url: required, an http(s) URL")
        if "?" in base_url or "#" in base_url or "@" in base_url:
            raise ConfigError(f"{where}.base_url: must not contain a query, fragment or credentials")
    headers_raw = _get(raw, "headers", dict, where, {})
    headers: list[tuple[str, str]] = []
    for hname, hvalue in headers_raw.items():
        if not isinstance(hvalue, str) or not _header_safe(hname) or not _header_safe(hvalue):
            raise ConfigError(f"{where}.headers.{hname}: must be a string without control characters")
        if hname.lower() in _SECRET_HEADERS or _SECRET_VALUE.match(hvalue):
            raise ConfigError(
                f"{where}.headers.{hname}: secrets never go in the file; use api_key_env or "
                "api_key_secret (and auth_header for the header that carries it)"
            )
        headers.append((hname.lower(), hvalue))
    auth_header = _get(raw, "auth_header", str, where, "authorization").lower()
    if auth_header not in _AUTH_HEADERS:
        raise ConfigError(f"{where}.auth_header: one of {', '.join(sorted(_AUTH_HEADERS))}")
    for key in ("api_key_env", "api_key_secret"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"{where}.{key}: expected a non-empty string")
    return ProviderConfig(
        name=name,
        type=ptype,
        base_url=base_url.rstrip("/"),
        api_key_env=raw.get("api_key_env"),
        api_key_secret=raw.get("api_key_secret"),
        auth_header=auth_header,
        api_version=_get(raw, "api_version", str, where, None),
        azure_deployments=_get(raw, "azure_deployments", bool, where, False),
        headers=tuple(headers),
        timeout_ms=_get(raw, "timeout_ms", int, where, None),
        region=region,
        stream_usage=_get(raw, "stream_usage", bool, where, True),
        responses_api=_get(raw, "responses_api", bool, where, True),
    )
