"""The Lambda asset, built without Docker and hooked into synth (`ILocalBundling`).

manylinux wheels for the target architecture and CPython 3.12 are installed from the runtime lock
file (`requirements.lock`) with `pip --platform`, the gateway package, `run.sh` and the gateway
configuration are copied in, and, when a Python 3.12 interpreter is on the machine, everything is
compiled to bytecode (`/var/task` is read-only, so without `.pyc` files Python recompiles every
module on every cold start: ~3x slower imports). boto3 is left to the Lambda runtime, which ships
it: it is used only off the request path (Secrets Manager reads), and bundling it would add ~20 MB.

Builds are cached under `.build/` by a hash of their inputs, so repeated synths copy instead of
re-downloading.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

ROOT = Path(__file__).resolve().parents[1]
PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
ASSET_BUDGET_BYTES = 80 * 1024 * 1024
"""Unzipped size budget (Lambda's limit is 250 MB; small assets start faster). Checked in tests."""


_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")


def _package_files() -> list[Path]:
    base = ROOT / "lambda_src"
    return sorted(
        p
        for p in base.rglob("*")
        if p.is_file()
        and p.suffix != ".pyc"
        and not any(
            part.startswith(".") or part == "__pycache__" or part.endswith(".egg-info")
            for part in p.relative_to(base).parts
        )
    )


def _inputs(architecture: str, gateway_config: Path) -> list[Path]:
    return [ROOT / "requirements.lock", gateway_config, *_package_files()]


def asset_hash(architecture: str, gateway_config: Path) -> str:
    digest = hashlib.sha256(architecture.encode())
    for path in _inputs(architecture, gateway_config):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


def _compiler() -> str | None:
    """A CPython 3.12 for bytecode (the Lambda runtime's version), if this machine has one."""
    candidates = [
        shutil.which("python3.12"),
        *map(str, sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"))),
    ]
    for path in candidates:
        if (
            path
            and subprocess.run(
                [path, "-c", "import sys; assert sys.version_info[:2] == (3, 12)"],
                capture_output=True,
                check=False,
            ).returncode
            == 0
        ):
            return path
    return None


def build_asset(architecture: str, gateway_config: Path, cache_dir: Path | None = None) -> Path:
    """Build (or reuse) the asset directory for `architecture`; returns its path."""
    cache_dir = cache_dir or ROOT / ".build"
    out = cache_dir / f"lambda-{architecture}-{asset_hash(architecture, gateway_config)}"
    if (out / ".complete").exists():
        return out
    work = out.with_name(out.name + ".tmp")
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
    shutil.copytree(ROOT / "lambda_src" / "switchboard", work / "switchboard", ignore=_IGNORE)
    shutil.copy2(ROOT / "lambda_src" / "run.sh", work / "run.sh")
    (work / "run.sh").chmod(0o755)
    shutil.copy2(gateway_config, work / "gateway.toml")
    for junk in work.glob("bin"):
        shutil.rmtree(junk)
    compiler = _compiler()
    if compiler:
        subprocess.run(
            [
                compiler,
                "-m",
                "compileall",
                "-q",
                "-j",
                "0",
                "--invalidation-mode",
                "unchecked-hash",
                str(work),
            ],
            check=True,
            capture_output=True,
        )
    (work / ".complete").write_text(compiler or "no 3.12 interpreter: shipped without bytecode\n")
    shutil.rmtree(out, ignore_errors=True)
    work.rename(out)
    return out


def directory_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@jsii.implements(ILocalBundling)
class _LocalBundler:
    def __init__(self, architecture: str, gateway_config: Path) -> None:
        self._architecture = architecture
        self._config = gateway_config

    def try_bundle(self, output_dir: str, *_: object, **__: object) -> bool:
        built = build_asset(self._architecture, self._config)
        shutil.copytree(built, output_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".complete"))
        return True


def gateway_code(architecture: str, gateway_config: Path) -> lambda_.Code:
    """Lambda code whose bundling runs locally during synth (never Docker)."""
    return lambda_.Code.from_asset(
        str(ROOT / "lambda_src"),
        asset_hash=asset_hash(architecture, gateway_config),
        bundling=BundlingOptions(
            image=DockerImage.from_registry("docker-is-not-used"),
            local=_LocalBundler(architecture, gateway_config),
        ),
    )
