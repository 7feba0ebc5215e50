"""The container packaging (Dockerfile, .dockerignore, compose.yaml, deploy/docker.toml; README
"Running in a container").

Static checks always run: what the image runs, as whom, with which configuration; that the build
context holds what the Dockerfile copies and nothing else; that compose.yaml (and its commented
DynamoDB Local alternative, uncommented as the README says) is valid and consistent. The entrypoint
and the HEALTHCHECK probe are replayed against a real `switchboard serve` on loopback. Building and
running the image needs a Docker engine: that test runs only when `docker info` answers."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from support import free_port
from switchboard.cli.main import _open_is_allowed, _parser
from switchboard.config import Config, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
CONFIG_IN_IMAGE = "/etc/switchboard/gateway.toml"
STORE_DIR = "/var/lib/switchboard"


# --------------------------------------------------------------------------- Dockerfile parsing


@dataclasses.dataclass
class Instruction:
    op: str
    args: str


def stages() -> list[list[Instruction]]:
    """The Dockerfile's instructions per stage (continuations joined, comments dropped); index 0
    holds the global ARGs before the first FROM."""
    out: list[list[Instruction]] = [[]]
    logical = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        op, _, args = logical.partition(" ")
        if op.upper() == "FROM":
            out.append([])
        out[-1].append(Instruction(op.upper(), args.strip()))
        logical = ""
    assert not logical, "the Dockerfile ends inside a continued instruction"
    return out


def final_stage() -> list[Instruction]:
    return stages()[-1]


def one(stage: list[Instruction], op: str) -> Instruction:
    found = [i for i in stage if i.op == op]
    assert len(found) == 1, f"expected one {op} in the final stage, found {len(found)}"
    return found[0]


def entrypoint() -> list[str]:
    return json.loads(one(final_stage(), "ENTRYPOINT").args)


def healthcheck_probe() -> list[str]:
    args = one(final_stage(), "HEALTHCHECK").args
    _, _, command = args.partition("CMD ")
    return json.loads(command)


def copies(stage: list[Instruction]) -> list[tuple[list[str], str]]:
    """(sources, destination) of the stage's COPY instructions from the build context."""
    out = []
    for instruction in stage:
        if instruction.op != "COPY":
            continue
        words = shlex.split(instruction.args)
        if any(w.startswith("--from") for w in words):
            continue
        words = [w for w in words if not w.startswith("--")]
        out.append((words[:-1], words[-1]))
    return out


# --------------------------------------------------------------------------- the image


def test_multi_stage_on_python_312_slim() -> None:
    parsed = stages()
    assert len(parsed) >= 3, "a build stage and a runtime stage"
    default = {i.args.split("=", 1)[0]: i.args.split("=", 1)[1] for i in parsed[0] if i.op == "ARG"}
    for stage in parsed[1:]:
        image = stage[0].args.split()[0]
        assert image in ("${PYTHON_IMAGE}", "python:3.12-slim")
    assert default.get("PYTHON_IMAGE") == "python:3.12-slim"
    runtime_copies = [i.args for i in final_stage() if i.op == "COPY" and "--from=build" in i.args]
    assert runtime_copies == ["--from=build /opt/switchboard /opt/switchboard"]


def test_build_installs_the_lock_then_the_package_without_resolving() -> None:
    runs = " ".join(i.args for i in stages()[1] if i.op == "RUN")
    assert re.search(r"install --no-deps [^&]*-r requirements\.lock", runs)
    assert re.search(r"install --no-deps [^&]* \.(\s|$)", runs), "pip install --no-deps ."
    # the optional AWS extra: every pinned name is in the dev lock, and together with the runtime
    # lock they close boto3's dependencies (nothing is resolved at build time)
    names = re.search(r"grep -E '\^\(([^)]+)\)==' requirements-dev\.lock", runs)
    assert names, "the WITH_AWS pins come from requirements-dev.lock"
    aws = set(names.group(1).split("|"))
    dev = pins(ROOT / "requirements-dev.lock")
    assert aws <= set(dev)
    available = aws | set(pins(ROOT / "requirements.lock"))
    for name in aws:
        for requirement in importlib.metadata.requires(name) or []:
            if "extra ==" in requirement:
                continue
            dependency = re.split(r"[\s<>=!;(\[]", requirement, maxsplit=1)[0]
            assert normalise(dependency) in available, f"{name} needs {dependency}"


def pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, _, version = line.partition("==")
            out[normalise(name)] = version.strip()
    return out


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_runtime_is_compiled_and_runs_as_a_non_root_user() -> None:
    stage = final_stage()
    users = [i for i in stage if i.op == "USER"]
    assert users, "the runtime stage sets a USER"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0"), user
    ops = [i.op for i in stage]
    assert ops.index("USER") < ops.index("ENTRYPOINT")
    compiles = [n for n, i in enumerate(stage) if i.op == "RUN" and "-m compileall" in i.args]
    assert compiles, "bytecode is compiled at build"
    assert "/opt/switchboard" in stage[compiles[0]].args
    # after the venv is copied in, before USER (as the user it could not write next to the sources)
    venv = next(n for n, i in enumerate(stage) if i.op == "COPY" and "/opt/switchboard" in i.args)
    assert venv < compiles[0] < ops.index("USER")


def test_entrypoint_serves_all_interfaces_on_8080_with_the_baked_config() -> None:
    command = entrypoint()
    assert command[:2] == ["switchboard", "serve"]
    args = _parser().parse_args(command[1:])
    assert (args.host, args.port, args.config) == ("0.0.0.0", 8080, CONFIG_IN_IMAGE)
    assert not args.allow_open
    stage = final_stage()
    assert one(stage, "EXPOSE").args == "8080"
    assert json.loads(one(stage, "VOLUME").args) == [STORE_DIR]
    assert (CONFIG_IN_IMAGE, "deploy/docker.toml") in {(dst, srcs[0]) for srcs, dst in copies(stage)}
    env = " ".join(i.args for i in stage if i.op == "ENV")
    assert f"SWITCHBOARD_CONFIG={CONFIG_IN_IMAGE}" in env  # `serve` without --config
    assert f"SWITCHBOARD_USAGE_SPILL={STORE_DIR}/" in env  # not relative to a read-only directory


def test_healthcheck_is_python_on_healthz() -> None:
    probe = healthcheck_probe()
    assert probe[0] == "python"
    assert "http://127.0.0.1:8080/healthz" in probe[-1]
    assert not any(tool in " ".join(probe) for tool in ("curl", "wget"))


# --------------------------------------------------------------------------- the configuration


def docker_config(env: dict[str, str] | None = None) -> Config:
    return load_config(ROOT / "deploy" / "docker.toml", env=env or {})


def test_config_requires_keys_and_keeps_the_store_in_the_volume(tmp_path: Path) -> None:
    raw = tomllib.loads((ROOT / "deploy" / "docker.toml").read_text())
    assert raw.get("gateway", {}).get("auth", "required") != "open"
    config = docker_config()
    assert config.gateway.auth == "required"
    assert config.store.backend == "sqlite"
    assert PurePosixPath(config.store.path).parent == PurePosixPath(STORE_DIR)
    assert {"mock-echo", "gpt-6-luna"} <= set(config.models)
    # `serve` on 0.0.0.0 starts with it (it refuses only an open gateway there), and says how to
    # create the first key
    local = dataclasses.replace(
        config, store=dataclasses.replace(config.store, path=str(tmp_path / "state.db"))
    )
    args = SimpleNamespace(host="0.0.0.0", port=8080, allow_open=False)
    assert _open_is_allowed(local, args, logging.getLogger("test"))


def test_switchboard_auth_overrides_the_file() -> None:
    assert docker_config({"SWITCHBOARD_AUTH": "open"}).gateway.auth == "open"


@contextlib.contextmanager
def serve(config: Path, cwd: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """The image's entrypoint with its arguments, on loopback and another port (output in cwd/serve.log)."""
    command = entrypoint()
    argv = [sys.executable, "-m", "switchboard", *command[1:]]
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = str(port)
    argv[argv.index("--config") + 1] = str(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "AWS_"))}
    env["PYTHONPATH"] = str(ROOT / "lambda_src")
    with (cwd / "serve.log").open("wb") as log:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.terminate()
            process.wait(10)


def wait_healthy(url: str, timeout_s: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                assert response.status == 200
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if process is not None and process.poll() is not None:
                raise AssertionError(f"serve exited {process.returncode}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def post(url: str, body: dict[str, Any], key: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


CHAT = {"model": "mock-echo", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.loopback
def test_entrypoint_and_probe_against_a_real_server(tmp_path: Path) -> None:
    """What the container runs, minus the container: the healthcheck command passes, a /v1 request
    without a key is a 401 naming `switchboard keys create`."""
    config = tmp_path / "gateway.toml"
    config.write_text((ROOT / "deploy" / "docker.toml").read_text().replace(STORE_DIR, str(tmp_path)))
    port = free_port()
    with serve(config, tmp_path, port) as process:
        wait_healthy(f"http://127.0.0.1:{port}", 20, process)
        probe = healthcheck_probe()
        probe = [sys.executable, *probe[1:-1], probe[-1].replace(":8080/", f":{port}/")]
        assert subprocess.run(probe, timeout=10, check=False).returncode == 0
        status, body = post(f"http://127.0.0.1:{port}/v1/chat/completions", CHAT)
        assert status == 401
        assert "switchboard keys create" in body["error"]["message"]
    assert (tmp_path / "state.db").exists()
    assert "switchboard keys create" in (tmp_path / "serve.log").read_text()  # the start-up hint
    probe_down = subprocess.run(probe, timeout=10, check=False, capture_output=True)
    assert probe_down.returncode != 0, "the probe fails when nothing answers"


# --------------------------------------------------------------------------- the build context


def ignore_patterns() -> list[tuple[bool, str]]:
    out = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            out.append((negated, line.lstrip("!").strip("/")))
    return out


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's .dockerignore syntax (Go filepath.Match plus `**`)."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out += pattern[i : end + 1]
            i = end + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def in_context(path: str) -> bool:
    """Whether the build context holds `path`: the last pattern matching it or a parent decides."""
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    included = True
    for negated, pattern in ignore_patterns():
        regex = pattern_regex(pattern)
        if any(regex.match(candidate) for candidate in candidates):
            included = negated
    return included


def test_context_holds_what_the_build_copies_and_nothing_local() -> None:
    for stage in stages()[1:]:
        for sources, _ in copies(stage):
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
                assert in_context(source), f"COPY {source}: excluded by .dockerignore"
    assert in_context("lambda_src/switchboard/app.py")
    for local in (
        ".venv/bin/python",
        "node_modules/aws-cdk/package.json",
        ".build/deps/x.py",
        "cdk.out/manifest.json",
        ".cache/clients/x",
        "tests/integration/test_docker.py",
        ".git/HEAD",
        ".switchboard/state.db",
        "lambda_src/switchboard/__pycache__/app.cpython-312.pyc",
        "lambda_src/switchboard_gateway.egg-info/PKG-INFO",
    ):
        assert not in_context(local), f"{local} would be sent to the build"
    # the package metadata the build reads
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert in_context(project["readme"])


# --------------------------------------------------------------------------- compose.yaml


def compose(uncommented: bool = False) -> dict[str, Any]:
    text = (ROOT / "compose.yaml").read_text()
    if uncommented:  # what `sed -i -E 's/#~ ?//' compose.yaml` does
        text = re.sub(r"#~ ?", "", text)
    return yaml.safe_load(text)


def test_compose_runs_the_gateway_with_a_named_volume_and_provider_keys() -> None:
    document = compose()
    assert set(document["services"]) == {"gateway"}
    gateway = document["services"]["gateway"]
    assert gateway["build"]["context"] == "."
    assert any(str(port).endswith(":8080") for port in gateway["ports"])
    volume = next(v for v in gateway["volumes"] if v.endswith(f":{STORE_DIR}"))
    name = volume.split(":")[0]
    assert name in document["volumes"], "a named volume, not a bind mount"
    env = gateway["environment"]
    assert {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"} <= set(env)
    assert "SWITCHBOARD_AUTH" not in env
    assert "/tmp" in gateway["tmpfs"] and gateway["read_only"] is True
    assert 'auth = "open"' not in (ROOT / "compose.yaml").read_text()


def test_compose_dynamodb_alternative_is_complete_once_uncommented() -> None:
    document = compose(uncommented=True)
    services = document["services"]
    assert services["dynamodb"]["image"].startswith("amazon/dynamodb-local")
    gateway = services["gateway"]
    assert gateway["build"]["args"]["WITH_AWS"] == "true"
    assert gateway["depends_on"]["dynamodb-table"]["condition"] == "service_completed_successfully"
    (mount,) = gateway["configs"]
    assert mount["target"] == CONFIG_IN_IMAGE
    content = document["configs"][mount["source"]]["content"]
    config = parse_config(tomllib.loads(content), env={})
    assert config.gateway.auth == "required"
    assert config.store.backend == "dynamodb"
    assert config.store.endpoint_url == "http://dynamodb:8000"
    table_env = services["dynamodb-table"]["environment"]
    assert config.store.table == table_env["TABLE"]
    assert table_env["AWS_ENDPOINT_URL_DYNAMODB"] == config.store.endpoint_url
    # the same providers and models as the image's own configuration
    baked = docker_config()
    assert (config.providers, config.models) == (baked.providers, baked.models)
    assert {"dynamodb-data", "switchboard-data"} <= set(document["volumes"])


def test_compose_table_script_creates_the_store_table_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one-shot service's script, run twice against moto: the table it creates is one the
    DynamoDB store works with; the second run finds it and succeeds."""
    from moto import mock_aws

    from switchboard.state.store import open_store

    service = compose(uncommented=True)["services"]["dynamodb-table"]
    assert service["entrypoint"][:2] == ["python", "-c"]
    script = service["entrypoint"][2]
    for name, value in service["environment"].items():
        if name != "AWS_ENDPOINT_URL_DYNAMODB":  # moto answers the default endpoint
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        for _ in range(2):
            exec(compile(script, "compose.yaml:dynamodb-table", "exec"), {"__name__": "__main__"})
        import anyio

        settings = dataclasses.replace(docker_config().store, backend="dynamodb", table="switchboard")
        settings = dataclasses.replace(settings, region="us-east-1", endpoint_url=None)

        async def roundtrip() -> Any:
            store = open_store(settings)
            try:
                await store.put("KEY#x", "v", {"a": 1})
                return await store.get("KEY#x", "v")
            finally:
                await store.close()

        assert anyio.run(roundtrip)["a"] == 1


# --------------------------------------------------------------------------- a real build


def docker_engine() -> str | None:
    """Why the image cannot be built here, or None when a Docker engine answers."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 20 s"
    if info.returncode != 0:
        reason = (info.stderr.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        return f"no Docker engine answers `docker info` ({reason[:160]})"
    return None


def docker(*args: str, timeout: float = 60) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"docker {' '.join(args)}:\n{done.stderr.decode(errors='replace')}"
    return done.stdout.decode().strip()


def test_image_builds_runs_and_refuses_requests_without_a_key() -> None:
    reason = docker_engine()
    if reason:
        pytest.skip(f"needs a Docker engine to build the image: {reason}")
    tag = f"switchboard-test:{uuid.uuid4().hex[:12]}"
    docker("build", "--tag", tag, str(ROOT), timeout=900)
    container = None
    try:
        container = docker("run", "--detach", "--publish", "127.0.0.1::8080", tag)
        assert docker("exec", container, "id", "-u") != "0"
        port = docker("port", container, "8080/tcp").splitlines()[0].rsplit(":", 1)[1]
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, 60)
        status, body = post(f"{url}/v1/chat/completions", CHAT)
        assert status == 401, body
        # the first key, as the README says; then the same request is served
        created = docker(
            "exec", container, "switchboard", "keys", "create", "--config", CONFIG_IN_IMAGE,
            "--tenant", "docker-test", "--name", "ci",
        )  # fmt: skip
        match = re.search(r"sb-[A-Za-z0-9_-]+", created)
        assert match, created
        status, body = post(f"{url}/v1/chat/completions", CHAT, key=match.group(0))
        assert status == 200, body
        # Docker's own HEALTHCHECK (first run after one interval)
        deadline = time.monotonic() + 90
        while (health := docker("inspect", "--format", "{{.State.Health.Status}}", container)) != "healthy":
            assert health != "unhealthy" and time.monotonic() < deadline, docker("logs", container)
            time.sleep(2)
    finally:
        if container:
            subprocess.run(
                ["docker", "rm", "--force", "--volumes", container], capture_output=True, check=False
            )
        subprocess.run(["docker", "rmi", "--force", tag], capture_output=True, check=False)
