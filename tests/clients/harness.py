"""Running the real clients headless: scratch HOME and cwd, no stdin, a timeout, only the
environment each needs (no provider keys of the developer's leak in)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CLIENT_BIN = REPO / ".cache" / "clients" / "node_modules" / ".bin"
NODE_BIN = REPO / ".cache" / "node" / "bin"
"""The pinned Node 22 scripts/install-clients puts there (first on PATH for every client run)."""
CLAUDE = CLIENT_BIN / "claude"
CODEX = CLIENT_BIN / "codex"
OPENCODE = CLIENT_BIN / "opencode"
NODE_MODULES = REPO / ".cache" / "clients" / "node_modules"
VERCEL_SCRIPT = Path(__file__).resolve().parent / "vercel_ai.mjs"
# opencode 1.18 without its network side trips: no update check, no models.dev catalogue, no default
# plugins (an npm install), no LSP downloads, no sharing, no Claude Code or external skills.
OPENCODE_OFFLINE = {
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_MODELS_FETCH": "1",
    "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
    "OPENCODE_DISABLE_SHARE": "1",
    "OPENCODE_DISABLE_CLAUDE_CODE": "1",
    "OPENCODE_DISABLE_EXTERNAL_SKILLS": "1",
    "OPENCODE_PURE": "1",
}
GEMINI = CLIENT_BIN / "gemini"
CLIENT_TIMEOUT_S = 90
# Without these Codex 0.169.0 looks up ab.chatgpt.com (analytics), chatgpt.com, github.com and
# api.github.com (the plugin marketplace) on every run: seen with strace; with them it only talks to
# its base_url on 127.0.0.1.
CODEX_OFFLINE = ("analytics.enabled=false", "features.plugins=false", "check_for_update_on_startup=false")
UPSTREAM_KEY = "sk-fake-upstream-0123456789"
"""The provider key the gateway sends the fakes (never the client's gateway key)."""


@dataclass(frozen=True)
class Gateway:
    base: str
    """http://127.0.0.1:PORT (no /v1)."""
    key: str
    log: Path


# --------------------------------------------------------------------------- running the clients


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout)


def _scratch(tmp_path: Path) -> tuple[Path, Path]:
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir(exist_ok=True)
    work.mkdir(exist_ok=True)
    return home, work


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> Run:
    start = time.monotonic()
    proc = subprocess.run(
        argv,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT_S,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


def _base_env(home: Path) -> dict[str, str]:
    path = os.environ.get("PATH", "/usr/bin:/bin")
    if (NODE_BIN / "node").exists():
        path = f"{NODE_BIN}{os.pathsep}{path}"
    return {
        "PATH": path,
        "HOME": str(home),
        "TERM": "dumb",
        "LANG": "C.UTF-8",
    }


def run_claude(
    claude: Path, base_url: str, key: str, model: str, tmp_path: Path, prompt: str = "say hi"
) -> Run:
    """`claude -p PROMPT --output-format json` in print mode, scratch HOME, no stdin."""
    home, work = _scratch(tmp_path)
    env = {
        **_base_env(home),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": key,
        "ANTHROPIC_MODEL": model,
        "ANTHROPIC_SMALL_FAST_MODEL": model,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        # Claude Code retries 401, 429 and 5xx for minutes by default: keep a broken gateway's failure
        # short (a 400 is never retried).
        "CLAUDE_CODE_MAX_RETRIES": "1",
    }
    return _run([str(claude), "-p", prompt, "--output-format", "json"], env, work)


def run_codex(
    codex: Path, base_url: str, key: str, model: str, tmp_path: Path, prompt: str = "say hi"
) -> Run:
    """`codex exec` against a custom Responses provider `sb` at base_url (ending in /v1)."""
    home, work = _scratch(tmp_path)
    env = {**_base_env(home), "SB_KEY": key, "CODEX_HOME": str(home / ".codex")}
    (home / ".codex").mkdir(exist_ok=True)
    # Codex retries every failed request 5 times (and 500s 5 x 5): keep a broken gateway's failure short.
    provider = (
        f'{{name="sb", base_url="{base_url}", wire_api="responses", env_key="SB_KEY", '
        "request_max_retries=1, stream_max_retries=1}"
    )
    argv = [
        str(codex),
        "exec",
        "--skip-git-repo-check",
        "-m",
        model,
        "-c",
        "model_provider=sb",
        "-c",
        f"model_providers.sb={provider}",
        *(arg for setting in CODEX_OFFLINE for arg in ("-c", setting)),
        prompt,
    ]
    return _run(argv, env, work)


def run_vercel(api: str, base_url: str, key: str, model: str, scenario: str, tmp_path: Path) -> Run:
    """`vercel_ai.mjs` (the Vercel AI SDK) for one scenario; it prints one JSON line. The script runs
    from a scratch folder whose node_modules is the pinned install."""
    home, work = _scratch(tmp_path)
    script = work / VERCEL_SCRIPT.name
    script.write_bytes(VERCEL_SCRIPT.read_bytes())
    if not (work / "node_modules").exists():
        (work / "node_modules").symlink_to(NODE_MODULES)
    env = {**_base_env(home), "NODE_NO_WARNINGS": "1"}
    return _run(["node", str(script), api, base_url, key, model, scenario], env, work)


def run_opencode(
    opencode: Path, providers: dict[str, Any], model: str, tmp_path: Path, prompt: str = "say hi"
) -> Run:
    """`opencode run -m MODEL PROMPT` with `providers` as the `provider` section of its
    opencode.json (in the scratch cwd)."""
    home, work = _scratch(tmp_path)
    config = {"$schema": "https://opencode.ai/config.json", "autoupdate": False, "provider": providers}
    (work / "opencode.json").write_text(json.dumps(config))
    env = {**_base_env(home), **OPENCODE_OFFLINE}
    return _run([str(opencode), "run", "-m", model, prompt], env, work)


GEMINI_SETTINGS = {
    "security": {"auth": {"selectedType": "gemini-api-key"}},
    "privacy": {"usageStatisticsEnabled": False},
    "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
}
"""API-key auth, no usage statistics, no update checks: it then talks only to its base URL."""


def run_gemini(
    gemini: Path, base_url: str, key: str, model: str, tmp_path: Path, prompt: str = "say hi"
) -> Run:
    """`gemini -m MODEL -p PROMPT --output-format json` (headless) against base_url (no /v1beta)."""
    home, work = _scratch(tmp_path)
    (home / ".gemini").mkdir(exist_ok=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps(GEMINI_SETTINGS))
    env = {
        **_base_env(home),
        "GOOGLE_GEMINI_BASE_URL": base_url,
        "GEMINI_API_KEY": key,
        "GEMINI_CLI_NO_RELAUNCH": "true",
        "GEMINI_CLI_TRUST_WORKSPACE": "true",
    }
    return _run([str(gemini), "-m", model, "-p", prompt, "--output-format", "json"], env, work)


def work_dir(tmp_path: Path) -> Path:
    """The cwd the run_* helpers give the client (created by them)."""
    return tmp_path / "work"
