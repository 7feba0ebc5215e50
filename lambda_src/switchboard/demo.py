"""The built-in configuration `switchboard serve` uses without `--config`: works offline with the
`mock` provider, and adds real providers whose keys are present in the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from switchboard.config import Config, load_config, parse_config
from switchboard.constants import ENV_CONFIG

# Providers added when their key is in the environment: (name, type, key variable, base URL, models).
# Current models by their providers' pages (see state/price_list.py for the pages and dates).
_REAL: tuple[tuple[str, str, str, str, dict[str, list[str]]], ...] = (
    (
        "openai",
        "openai",
        "OPENAI_API_KEY",
        "https://api.openai.com/v1",
        {"gpt-6-luna": ["openai/gpt-6-luna"], "gpt-6.2-sol": ["openai/gpt-6.2-sol"]},
    ),
    (
        "anthropic",
        "anthropic",
        "ANTHROPIC_API_KEY",
        "https://api.anthropic.com/v1",
        {
            "claude-sonnet-5-5": ["anthropic/claude-sonnet-5-5"],
            "claude-haiku-5-5": ["anthropic/claude-haiku-5-5"],
        },
    ),
    (
        "gemini",
        "gemini",
        "GEMINI_API_KEY",
        "https://generativelanguage.googleapis.com/v1beta",
        {"gemini-3.8-flash": ["gemini/gemini-3.8-flash"]},
    ),
)


def demo_document(env: Mapping[str, str]) -> dict[str, Any]:
    providers: dict[str, Any] = {"mock": {"type": "mock"}}
    models: dict[str, Any] = {
        "mock-echo": {"targets": ["mock/echo"]},
        "mock-stream": {"targets": ["mock/stream-20-50"]},
        "mock-tools": {"targets": ["mock/tools"]},
        # a chain whose first target always fails: shows fallback and the attempts header
        "mock-fallback": {"targets": ["mock/error-503", "mock/echo"]},
        "mock-slow": {"targets": ["mock/delay-200"]},
        "mock-embed": {"targets": ["mock/embed"]},
    }
    for name, ptype, key_env, base_url, chains in _REAL:
        if env.get(key_env):
            providers[name] = {"type": ptype, "base_url": base_url, "api_key_env": key_env}
            models.update({model: {"targets": targets} for model, targets in chains.items()})
    # the demo is for trying Switchboard on this machine: open (keys optional), and `serve` refuses
    # a non-loopback address for it without --allow-open
    return {"gateway": {"auth": "open"}, "providers": providers, "models": models}


def demo_config(env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    return parse_config(demo_document(env), env=env)


def resolve_config(
    path: str | None = None, env: Mapping[str, str] | None = None
) -> tuple[Config, str | None]:
    """The configuration a process serves, decided in one place for `serve`, `keys`, `usage`,
    `admin` and the Lambda app: `path` (`--config`), else the file `$SWITCHBOARD_CONFIG` names, else
    the built-in demo. Returns it and the file it came from (None: the demo)."""
    env = os.environ if env is None else env
    path = path or env.get(ENV_CONFIG) or None
    if path:
        return load_config(path, env=env), path
    return demo_config(env), None
