"""Real clients end to end: Claude Code, Codex CLI and Gemini CLI (installed by scripts/install-clients into
.cache/clients/) run headless against the fake providers in fakes.py, either directly (proving the
harness and the fakes) or through a real `switchboard serve` subprocess whose providers point at the
fakes. Everything stays on 127.0.0.1; every client run has a timeout.

Session fixtures: one fake Anthropic, one fake OpenAI, one fake Gemini and one gateway for the whole run (each test
clears the fakes' records and sets their tool behaviour)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from clients.fakes import FakeAnthropic, FakeGemini, FakeOpenAI
from clients.harness import CLAUDE, CLIENT_BIN, CODEX, GEMINI, NODE_MODULES, OPENCODE, UPSTREAM_KEY, Gateway
from served import EVERY_KIND, FakeProviders, Served, provider_config, run_serve, serve


def _need(binary: Path) -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("!!! node/npm not installed: the real-client tests cannot run (install Node >= 20)")
    if not os.access(binary, os.X_OK):
        pytest.skip(f"!!! {binary.name} not installed in {CLIENT_BIN}: run scripts/install-clients")


@pytest.fixture(scope="session")
def claude_bin() -> Path:
    _need(CLAUDE)
    return CLAUDE


@pytest.fixture(scope="session")
def codex_bin() -> Path:
    _need(CODEX)
    return CODEX


@pytest.fixture(scope="session")
def opencode_bin() -> Path:
    _need(OPENCODE)
    return OPENCODE


@pytest.fixture(scope="session")
def vercel_ai() -> Path:
    """The pinned Vercel AI SDK packages (a library: the tests run it with node)."""
    _need(CLAUDE)  # node and the client install
    for package in ("ai", "@ai-sdk/openai", "@ai-sdk/anthropic"):
        if not (NODE_MODULES / package / "package.json").exists():
            pytest.skip(f"!!! {package} not installed in {NODE_MODULES}: run scripts/install-clients")
    return NODE_MODULES


@pytest.fixture(scope="session")
def gemini_bin() -> Path:
    _need(GEMINI)
    return GEMINI


# --------------------------------------------------------------------------- fakes


@pytest.fixture(scope="session")
def _anthropic_session() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture(scope="session")
def _openai_session() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(scope="session")
def _gemini_session() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


@pytest.fixture
def fake_gemini(_gemini_session: FakeGemini) -> FakeGemini:
    _gemini_session.reset()
    return _gemini_session


@pytest.fixture
def fake_anthropic(_anthropic_session: FakeAnthropic) -> FakeAnthropic:
    _anthropic_session.reset()
    return _anthropic_session


@pytest.fixture
def fake_openai(_openai_session: FakeOpenAI) -> FakeOpenAI:
    _openai_session.reset()
    return _openai_session


# --------------------------------------------------------------------------- the gateway

# Public model -> target. The upstream model names differ from the public ones so a test can see
# that the gateway rewrote `model` (and nothing else, on same-format routes).
MODELS = {
    "to-anthropic": "fa/claude-upstream",
    "to-openai": "fo/gpt-upstream",
    "to-gemini": "fg/gemini-upstream",
}


def _config(anthropic_root: str, openai_root: str, db: Path, gemini_root: str) -> str:
    lines = [
        "[gateway]",
        'region = "test-clients"',
        "[routing]",
        "retry_budget = 0",
        "timeout_ms = 60000",
        "[store]",
        'backend = "sqlite"',
        f"path = {json.dumps(str(db))}",
        "[providers.fa]",
        'type = "anthropic"',
        f'base_url = "{anthropic_root}/v1"',
        'api_key_env = "FAKE_UPSTREAM_KEY"',
        "[providers.fo]",
        'type = "openai"',
        f'base_url = "{openai_root}/v1"',
        'api_key_env = "FAKE_UPSTREAM_KEY"',
        "[providers.fg]",
        'type = "gemini"',
        f'base_url = "{gemini_root}/v1beta"',
        'api_key_env = "FAKE_UPSTREAM_KEY"',
    ]
    for public, target in MODELS.items():
        lines += [f'[models."{public}"]', f'targets = ["{target}"]']
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def gateway(
    tmp_path_factory: pytest.TempPathFactory,
    _anthropic_session: FakeAnthropic,
    _openai_session: FakeOpenAI,
    _gemini_session: FakeGemini,
) -> Iterator[Gateway]:
    """`switchboard serve` as a subprocess with an sqlite store and one real gateway key."""
    root = tmp_path_factory.mktemp("gateway")
    config = root / "switchboard.toml"
    config.write_text(
        _config(_anthropic_session.root, _openai_session.root, root / "state.db", _gemini_session.root)
    )
    with run_serve(config, {"FAKE_UPSTREAM_KEY": UPSTREAM_KEY}, tenant="clients") as served:
        yield Gateway(served.base, served.key, served.log)


# --------------------------------------------------------------------------- every target kind


@pytest.fixture(scope="session")
def fakes() -> Iterator[FakeProviders]:
    """One fake of every provider API (OpenAI chat + Responses, Anthropic, Gemini, Bedrock)."""
    with FakeProviders() as providers:
        yield providers


@pytest.fixture(scope="session")
def every_kind(fakes: FakeProviders, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`switchboard serve` routing `EVERY_KIND` to `fakes`."""
    with serve(tmp_path_factory.mktemp("every-kind"), provider_config(fakes.root), EVERY_KIND) as served:
        yield served
