"""The Lambda asset, built without Docker and hooked into synth (`ILocalBundling`).

Two layers, each cached under `.build/` by a hash of everything that shapes it:

- **dependencies** (slow, rarely changes): manylinux wheels for the target architecture and
  CPython 3.12 from the runtime lock file (`requirements.lock`), installed with `pip --platform
  --no-compile` (pip would otherwise compile them with *this* interpreter: ~890 stale
  `cpython-311.pyc` files, 11 MB, that Lambda never reads); then what the runtime never imports is
  removed (C/Cython sources, type stubs, test folders, console scripts, the Powertools utilities
  other than `parameters`), native extensions lose their debug info (`llvm-strip --strip-debug`:
  uvloop's arm64 `.so` goes from 16 MB to 2 MB), and everything is compiled once by a CPython 3.12;
- **the package**: `switchboard` (without `devtools`), `run.sh` and the gateway configuration, read
  into memory once per synth (so every region's stack gets byte-identical code even while files
  change under it), compiled by the same 3.12.

`/var/task` is read-only, so without `.pyc` files Python recompiles every module on every cold start
(~3x slower imports). When no CPython 3.12 is found the asset is still built, source-only, with a
loud warning, and `SWITCHBOARD_ASSET.json` in the asset says so (`"bytecode": null`); set
`SWITCHBOARD_REQUIRE_BYTECODE=1` (or `-c require_bytecode=true`) to fail instead. The same file
records whether native extensions were stripped. Both facts, this file's own source (the build
recipe) and every input are in the asset hash, so a changed recipe or tool set never reuses a stale
build. boto3 is left to the Lambda runtime, which ships it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

ROOT = Path(__file__).resolve().parents[1]
PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
TRIPLES = {"arm64": "aarch64-linux-gnu", "x86_64": "x86_64-linux-gnu"}
ASSET_BUDGET_BYTES = 40 * 1024 * 1024
"""Unzipped size budget (Lambda's limit is 250 MB; small assets start faster). Checked in tests."""
ASSET_BUDGET_UNSTRIPPED_BYTES = 50 * 1024 * 1024
"""Budget when no strip tool understands the target's binaries (uvloop alone keeps 14 MB of debug info)."""
MARKER = "SWITCHBOARD_ASSET.json"
RUNTIME_PYTHON = (3, 12)
KEEP_BUILDS = 3
"""Cached builds of each kind kept in `.build/` (newest first); older ones are deleted."""

# Never imported at run time. Suffixes anywhere in the dependency tree:
_DROP_SUFFIXES = (".c", ".h", ".cpp", ".pyx", ".pxd", ".pxi", ".pyi")
_DROP_DIRS = frozenset({"tests", "test", "__pycache__", "bin"})
# Powertools: the gateway uses `utilities.parameters` only (plus what the package imports eagerly:
# logging, metrics, tracing, shared, utilities.jmespath_utils). tests/infra reads a secret through
# the pruned copy.
_DROP_TREES = (
    "aws_lambda_powertools/event_handler",
    *(
        f"aws_lambda_powertools/utilities/{name}"
        for name in (
            "batch",
            "circuit_breaker",
            "data_classes",
            "data_masking",
            "feature_flags",
            "idempotency",
            "kafka",
            "parser",
            "streaming",
            "validation",
            "auth_alpha",
        )
    ),
    "uvloop/_testbase.py",
)
_PACKAGE_EXCLUDE = ("devtools",)
CONSOLE_VENDOR = {
    "console/vendor/uPlot.iife.min.js": "node_modules/uplot/dist/uPlot.iife.min.js",
    "console/vendor/uPlot.min.css": "node_modules/uplot/dist/uPlot.min.css",
}
"""The web console's chart library (package.json), installed by npm, not committed: copied from
node_modules into the asset (scripts/setup copies the same files for `switchboard serve`)."""
"""Top-level folders of the `switchboard` package left out of the asset (local tools only)."""


class AssetBuildError(RuntimeError):
    pass


@dataclass(frozen=True)
class Toolchain:
    """What this machine can do to the asset; part of the hash."""

    python312: str | None
    strip: str | None

    @property
    def tag(self) -> str:
        return f"bytecode={'cpython-312' if self.python312 else 'none'};stripped={bool(self.strip)}"


def _works(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, check=False, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@cache
def find_python312() -> str | None:
    """A CPython 3.12 (the Lambda runtime's version) for bytecode, if this machine has one.

    Looks at $SWITCHBOARD_PYTHON312, `python3.12` on PATH, pyenv's versions, then `uv python find`.
    (`uv python install 3.12` downloads its interpreters from GitHub, not from a package registry.)
    """
    check = (
        "import sys, platform; "
        "assert sys.version_info[:2] == (3, 12) and platform.python_implementation() == 'CPython'"
    )
    candidates = [
        os.environ.get("SWITCHBOARD_PYTHON312"),
        shutil.which("python3.12"),
        *map(str, sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"), reverse=True)),
    ]
    uv = shutil.which("uv")
    if uv:
        found = subprocess.run([uv, "python", "find", "3.12"], capture_output=True, text=True, check=False)
        candidates.append(found.stdout.strip() if found.returncode == 0 else None)
    for path in candidates:
        if path and _works([path, "-c", check]):
            return path
    return None


@cache
def find_strip(architecture: str) -> str | None:
    """A `strip` that understands the target's ELF files: llvm-strip (any target) or binutils'."""
    names = ["llvm-strip", *(f"llvm-strip-{v}" for v in range(22, 13, -1)), f"{TRIPLES[architecture]}-strip"]
    if os.uname().machine == TRIPLES[architecture].split("-")[0]:
        names.append("strip")  # the host's own binutils
    for name in names:
        path = shutil.which(name)
        if path and _works([path, "--version"]):
            return path
    return None


def toolchain(architecture: str) -> Toolchain:
    return Toolchain(find_python312(), find_strip(architecture))


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()[:20]


def recipe_bytes() -> bytes:
    """The build recipe: this module's source."""
    return Path(__file__).read_bytes()


def deps_key(architecture: str, tools: Toolchain) -> str:
    return _digest(
        b"deps",
        architecture.encode(),
        tools.tag.encode(),
        recipe_bytes(),
        (ROOT / "requirements.lock").read_bytes(),
    )


def snapshot_package(gateway_config: Path) -> dict[str, bytes]:
    """The package files of the asset, read once: relative path -> content."""
    base = ROOT / "lambda_src" / "switchboard"
    files: dict[str, bytes] = {}
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base)
        if (
            not path.is_file()
            or path.suffix == ".pyc"
            or rel.parts[0] in _PACKAGE_EXCLUDE
            or any(part.startswith(".") or part == "__pycache__" for part in rel.parts)
        ):
            continue
        files[f"switchboard/{rel.as_posix()}"] = path.read_bytes()
    for inside, installed in CONSOLE_VENDOR.items():
        source = ROOT / installed
        if not source.is_file():
            raise AssetBuildError(f"{installed} missing: run scripts/setup (npm ci) before synth")
        files[f"switchboard/{inside}"] = source.read_bytes()
    files["run.sh"] = (ROOT / "lambda_src" / "run.sh").read_bytes()
    files["gateway.toml"] = gateway_config.read_bytes()
    return files


def _prune(old: list[Path]) -> None:
    for path in sorted(old, key=lambda p: p.stat().st_mtime, reverse=True)[KEEP_BUILDS:]:
        shutil.rmtree(path, ignore_errors=True)


def _compile(python312: str, directory: Path) -> None:
    subprocess.run(
        [
            python312,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            str(directory),
        ],
        check=True,
        capture_output=True,
    )


def _strip_native(strip: str, directory: Path) -> int:
    """Debug info out of every shared object (symbols stay: nothing that links changes)."""
    count = 0
    for so in directory.rglob("*.so*"):
        if so.is_file() and not so.is_symlink():
            subprocess.run([strip, "--strip-debug", str(so)], check=True, capture_output=True)
            count += 1
    return count


def _remove_unused(directory: Path) -> None:
    for rel in _DROP_TREES:
        target = directory / rel
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    for path in sorted(directory.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and path.name in _DROP_DIRS:
            shutil.rmtree(path)
        elif path.is_file() and path.suffix in _DROP_SUFFIXES:
            path.unlink()


def build_dependencies(architecture: str, tools: Toolchain, cache_dir: Path) -> Path:
    out = cache_dir / f"deps-{architecture}-{deps_key(architecture, tools)}"
    if (out / ".complete").exists():
        return out
    work = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-compile",
            "--target",
            str(work),
            "--platform",
            PLATFORMS[architecture],
            "--implementation",
            "cp",
            "--python-version",
            "3.12",
            "--only-binary=:all:",
            "-r",
            str(ROOT / "requirements.lock"),
        ],
        check=True,
    )
    _remove_unused(work)
    if tools.strip:
        _strip_native(tools.strip, work)
    if tools.python312:
        _compile(tools.python312, work)
    (work / ".complete").write_text(tools.tag + "\n")
    shutil.rmtree(out, ignore_errors=True)
    work.rename(out)
    _prune([p for p in cache_dir.glob(f"deps-{architecture}-*") if p.is_dir() and ".tmp" not in p.name])
    return out


def _warn_loudly(message: str) -> None:
    bar = "!" * 100
    print(f"\n{bar}\n!! {message}\n{bar}\n", file=sys.stderr, flush=True)


class GatewayAsset:
    """The asset of one architecture + gateway configuration, fixed at construction: one hash and
    one content for every stack of the app."""

    def __init__(
        self,
        architecture: str,
        gateway_config: Path,
        *,
        require_bytecode: bool = False,
        cache_dir: Path | None = None,
        tools: Toolchain | None = None,
    ) -> None:
        self.architecture = architecture
        self.tools = tools or toolchain(architecture)
        self.cache_dir = cache_dir or ROOT / ".build"
        self.files = snapshot_package(gateway_config)
        if not self.tools.python312:
            message = (
                "Switchboard asset: no CPython 3.12 found (python3.12 on PATH, pyenv, uv, or "
                "$SWITCHBOARD_PYTHON312): the Lambda asset ships SOURCE ONLY and every cold start "
                "recompiles every import (~3x slower). Install Python 3.12 before deploying."
            )
            if require_bytecode or os.environ.get("SWITCHBOARD_REQUIRE_BYTECODE") == "1":
                raise AssetBuildError(message + " (bytecode is required for this synth)")
            _warn_loudly(message)
        if not self.tools.strip:
            _warn_loudly(
                f"Switchboard asset: no llvm-strip (or {TRIPLES[architecture]}-strip) found: native "
                "extensions keep their debug info (~15 MB more). apt-get install llvm"
            )
        self._deps_key = deps_key(architecture, self.tools)
        self._bundler = _LocalBundler(self)
        self.hash = _digest(
            b"asset",
            self._deps_key.encode(),
            *(part for name, content in self.files.items() for part in (name.encode(), content)),
        )

    @property
    def bytecode(self) -> bool:
        return self.tools.python312 is not None

    def marker(self) -> dict[str, object]:
        return {
            "hash": self.hash,
            "architecture": self.architecture,
            "bytecode": "cpython-312" if self.tools.python312 else None,
            "stripped": bool(self.tools.strip),
            "recipe": _digest(recipe_bytes()),
        }

    def build(self) -> Path:
        """Build (or reuse) the asset directory; returns its path."""
        out = self.cache_dir / f"lambda-{self.architecture}-{self.hash}"
        if (out / ".complete").exists():
            return out
        deps = build_dependencies(self.architecture, self.tools, self.cache_dir)
        work = out.with_name(out.name + f".tmp{os.getpid()}")
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(deps, work, ignore=shutil.ignore_patterns(".complete"))
        for name, content in self.files.items():
            path = work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        (work / "run.sh").chmod(0o755)
        if self.tools.python312:
            _compile(self.tools.python312, work / "switchboard")
        (work / MARKER).write_text(json.dumps(self.marker(), indent=2) + "\n")
        (work / ".complete").write_text(self.hash + "\n")
        shutil.rmtree(out, ignore_errors=True)
        work.rename(out)
        _prune([p for p in self.cache_dir.glob(f"lambda-{self.architecture}-*") if ".tmp" not in p.name])
        return out

    def code(self) -> lambda_.Code:
        """Lambda code whose bundling runs locally during synth (never Docker): a new Code per
        stack (CDK binds each to one stack), all with this asset's hash and content."""
        return lambda_.Code.from_asset(
            str(ROOT / "lambda_src"),
            asset_hash=self.hash,
            bundling=BundlingOptions(
                image=DockerImage.from_registry("docker-is-not-used"),
                local=self._bundler,
            ),
        )


def directory_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@jsii.implements(ILocalBundling)
class _LocalBundler:
    def __init__(self, asset: GatewayAsset) -> None:
        self._asset = asset

    def try_bundle(self, output_dir: str, *_: object, **__: object) -> bool:
        built = self._asset.build()
        shutil.copytree(built, output_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".complete"))
        return True
