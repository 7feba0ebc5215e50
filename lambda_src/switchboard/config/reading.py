"""Reading a TOML document: the one error type and the helpers every section's parser uses (keys
checked with a "did you mean", typed values, environment overrides that name their variable)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, Final

from switchboard.constants import (
    ENV_AUTH,
    ENV_AWS_REGION,
    ENV_ORIGIN_SECRET,
    ENV_REGION_COUNT,
    ENV_TABLE,
)


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key."""


def _check_keys(section: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in section:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"{where}.{key}: unknown key ({hint}allowed: {', '.join(sorted(allowed))})")


ENV_OVERRIDES: Final = {
    ENV_AUTH: "gateway.auth",
    ENV_REGION_COUNT: "gateway.regions",
    ENV_ORIGIN_SECRET: "gateway.origin_secret",
    ENV_AWS_REGION: "gateway.region and store.region (defaults)",
    ENV_TABLE: "store.table (and the dynamodb backend by default)",
}
"""Environment variables that set configuration, and what they set (errors name the variable)."""


def _env_int(env: Mapping[str, str], name: str, minimum: int) -> int | None:
    value = env.get(name)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise ConfigError(
            f"${name} ({ENV_OVERRIDES[name]}): expected an integer >= {minimum}, got {value[:40]!r}"
        )
    return number


def _get(
    section: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str, default: Any
) -> Any:
    if key not in section:
        return default
    value = section[key]
    # bool is an int subclass: never accept it where a number is expected.
    if isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{where}.{key}: expected {_kind_name(kind)}, got a boolean")
    if not isinstance(value, kind):
        raise ConfigError(f"{where}.{key}: expected {_kind_name(kind)}, got {type(value).__name__}")
    if kind is int and isinstance(value, int) and value < 0:
        raise ConfigError(f"{where}.{key}: must not be negative")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", bool: "a boolean", list: "a list", dict: "a table"}
    if isinstance(kind, tuple):
        return " or ".join(names.get(k, k.__name__) for k in kind)
    return names.get(kind, kind.__name__)


def _table(raw: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}{key}: expected a table")
    return value


def _header_safe(value: str) -> bool:
    return bool(value) and all(32 <= ord(c) < 127 for c in value)
