"""Offline unit tests of the deployment's own logic: the gateway-config derived checks (attempt
budget, Bedrock IAM), the asset recipe (hash inputs, source-only marking), the region prober's
decisions (hysteresis, manual overrides) and the pre-deploy quota check."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.config import DeployConfigError, EnvironmentConfig, load_environment
from infra.gateway_config import bedrock_resources, check_attempt_budget, load_gateway_config

ROOT = Path(__file__).resolve().parents[2]
PROBER = ROOT / "infra" / "prober"

BEDROCK_TOML = """
[providers.bedrock-us]
type = "bedrock"
region = "us-east-1"

[providers.bedrock-eu]
type = "bedrock"
region = "eu-west-1"

[providers.openai]
type = "openai"
base_url = "https://api.openai.com/v1"

[models.claude]
targets = ["bedrock-us/us.anthropic.claude-sonnet-4-5-20250929-v1:0", "bedrock-eu/anthropic.claude-3-haiku-20240307-v1:0"]
timeout_ms = 100000

[models.titan]
targets = ["bedrock-us/amazon.titan-embed-text-v2:0", "openai/text-embedding-3-small"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------- gateway config


def test_deployed_gateway_config_fits_under_the_origin_read_timeout() -> None:
    config = load_gateway_config(ROOT / "deploy" / "gateway.toml")
    check_attempt_budget(config, 120, source="deploy/gateway.toml")  # what synth does


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            '[models.slow]\ntargets = ["mock/echo"]\ntimeout_ms = 120000\n',
            r'models."slow".timeout_ms = 120000',
        ),
        ("[routing]\ntimeout_ms = 115000\nmax_timeout_ms = 115000\n", "routing.timeout_ms = 115000"),
        (
            "[routing]\nmax_timeout_ms = 600000\nstream_idle_timeout_ms = 100000\n",
            "routing.max_timeout_ms = 600000",
        ),
        (
            "[routing]\nmax_timeout_ms = 100000\nstream_heartbeat_ms = 0\n",
            "routing.stream_idle_timeout_ms = 120000",
        ),
    ],
)
def test_attempt_budget_over_the_read_timeout_is_refused_with_the_key(
    tmp_path: Path, extra: str, message: str
) -> None:
    base = '[providers.mock]\ntype = "mock"\n[models.m]\ntargets = ["mock/echo"]\n'
    config = load_gateway_config(_write(tmp_path, extra + base))
    with pytest.raises(DeployConfigError, match="origin read timeout is 120 s") as err:
        check_attempt_budget(config, 120, source="gateway.toml")
    assert message in str(err.value)


def test_bedrock_resources_are_derived_from_the_config(tmp_path: Path) -> None:
    resources = bedrock_resources(load_gateway_config(_write(tmp_path, BEDROCK_TOML)))
    assert resources.arns("123456789012") == [
        "arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0",
        "arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0",
    ]
    assert not bedrock_resources(load_gateway_config(ROOT / "deploy" / "gateway.toml"))


def test_gateway_role_grants_exactly_the_configured_bedrock_models(tmp_path: Path) -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk.assertions import Template

    from infra.constructs.function import GatewayFunction

    app = cdk.App()
    stack = cdk.Stack(app, "G", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    GatewayFunction(
        stack,
        "Gateway",
        architecture="arm64",
        memory_mb=1024,
        timeout_s=900,
        provisioned_min=1,
        provisioned_max=2,
        reserved_concurrency=None,
        log_retention_days=14,
        code=lambda_.Code.from_inline("unused"),
        auth_mode="required",
        table_name="switchboard-x",
        origin_secret_name="switchboard/x/origin",
        provider_secrets=(),
        bedrock=bedrock_resources(load_gateway_config(_write(tmp_path, BEDROCK_TOML))),
    )
    statements = [
        s
        for p in Template.from_stack(stack).find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    bedrock = [s for s in statements if "bedrock" in json.dumps(s["Action"])]
    assert len(bedrock) == 1
    assert sorted(bedrock[0]["Action"]) == ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
    rendered = json.dumps(bedrock[0]["Resource"])
    assert "inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0" in rendered
    assert "eu-west-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0" in rendered
    assert '"*"' not in rendered and "bedrock:*" not in json.dumps(bedrock[0]["Action"])


# ---------------------------------------------------------------------------- asset


def test_asset_hash_covers_recipe_toolchain_and_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from infra import asset

    compiled = asset.Toolchain("/usr/bin/python3.12", "/usr/bin/llvm-strip")
    source_only = asset.Toolchain(None, "/usr/bin/llvm-strip")
    unstripped = asset.Toolchain("/usr/bin/python3.12", None)
    keys = {asset.deps_key("arm64", t) for t in (compiled, source_only, unstripped)}
    assert len(keys) == 3
    assert asset.deps_key("arm64", compiled) != asset.deps_key("x86_64", compiled)
    config = ROOT / "deploy" / "gateway.toml"
    first = asset.GatewayAsset("arm64", config, tools=compiled, cache_dir=tmp_path).hash
    assert asset.GatewayAsset("arm64", config, tools=compiled, cache_dir=tmp_path).hash == first
    monkeypatch.setattr(asset, "recipe_bytes", lambda: b"a changed recipe")
    assert asset.GatewayAsset("arm64", config, tools=compiled, cache_dir=tmp_path).hash != first


def test_source_only_asset_warns_loudly_and_is_marked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No CPython 3.12 (a fresh CI machine): the asset is built source-only, says so, and a
    synth that requires bytecode fails."""
    from infra import asset

    tools = asset.Toolchain(None, None)
    built = asset.GatewayAsset("arm64", ROOT / "deploy" / "gateway.toml", tools=tools, cache_dir=tmp_path)
    assert "SOURCE ONLY" in capsys.readouterr().err
    # stand-in for the (slow, cached) dependency layer: the package layer is what is tested here
    deps = tmp_path / f"deps-arm64-{asset.deps_key('arm64', tools)}"
    deps.mkdir()
    (deps / ".complete").write_text(tools.tag)
    out = built.build()
    marker = json.loads((out / asset.MARKER).read_text())
    assert marker["bytecode"] is None and marker["stripped"] is False and marker["hash"] == built.hash
    assert (out / "switchboard" / "lambda_handler.py").exists() and not list(out.rglob("*.pyc"))
    assert not (out / "switchboard" / "devtools").exists()
    with pytest.raises(asset.AssetBuildError, match="bytecode is required"):
        asset.GatewayAsset("arm64", ROOT / "deploy" / "gateway.toml", tools=tools, require_bytecode=True)


def test_package_snapshot_is_taken_once(tmp_path: Path) -> None:
    from infra import asset

    config = tmp_path / "gateway.toml"
    config.write_text("# one\n")
    snap = asset.GatewayAsset("arm64", config, tools=asset.Toolchain("/x", None), cache_dir=tmp_path)
    config.write_text("# two\n")  # edited after the app was built
    assert snap.files["gateway.toml"] == b"# one\n"


# ---------------------------------------------------------------------------- prober


@pytest.fixture
def health() -> Any:
    sys.path.insert(0, str(PROBER))
    try:
        import health as module

        yield module
    finally:
        sys.path.remove(str(PROBER))


def _run(health: Any, store: dict[str, str], results: list[dict[str, bool]]) -> list[dict[str, str]]:
    """Apply `plan` minute by minute; returns the store after each minute."""
    history = []
    for minute in results:
        probes = [health.Probe(region, ok, True) for region, ok in minute.items()]
        store.update(health.plan(store, probes))
        history.append({k: v for k, v in store.items() if not k.startswith("probe:")})
    return history


def test_prober_evacuates_after_three_failures_and_restores_after_five_successes(health: Any) -> None:
    store = {"us-east-1": "healthy", "eu-west-1": "healthy"}
    down, up = {"us-east-1": True, "eu-west-1": False}, {"us-east-1": True, "eu-west-1": True}
    history = _run(health, store, [down, down, up, down, down, down])
    assert [h["eu-west-1"] for h in history] == ["healthy"] * 5 + ["probe-unhealthy"]  # a blip resets
    history = _run(health, store, [up, up, up, up, down, up, up, up, up, up])
    assert [h["eu-west-1"] for h in history] == ["probe-unhealthy"] * 9 + ["healthy"]


def test_prober_leaves_manual_values_alone(health: Any) -> None:
    store = {"us-east-1": "unhealthy", "eu-west-1": "force-healthy", "ap-southeast-2": "healthy"}
    good = {"us-east-1": True, "eu-west-1": False, "ap-southeast-2": True}
    history = _run(health, store, [good] * 8)
    assert history[-1] == {
        "us-east-1": "unhealthy",
        "eu-west-1": "force-healthy",
        "ap-southeast-2": "healthy",
    }


def test_prober_never_evacuates_the_last_served_region(health: Any) -> None:
    store = {"us-east-1": "healthy", "eu-west-1": "unhealthy"}
    history = _run(health, store, [{"us-east-1": False, "eu-west-1": False}] * 6)
    assert history[-1]["us-east-1"] == "healthy"


def test_prober_writes_nothing_in_steady_state(health: Any) -> None:
    probes = [health.Probe("us-east-1", True, True), health.Probe("eu-west-1", True, True)]
    assert health.plan({"us-east-1": "healthy", "eu-west-1": "healthy"}, probes) == {}
    assert health.plan({}, probes) == {}  # missing keys read as healthy


def test_prober_handler_reads_alarms_and_writes_with_the_etag(
    health: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import handler  # infra/prober on sys.path (fixture)

    calls: list[tuple[str, dict[str, Any]]] = []

    class CloudWatch:
        def __init__(self, region: str) -> None:
            self.region = region

        def describe_alarms(self, AlarmNames: list[str]) -> dict[str, Any]:
            state = "ALARM" if self.region == "eu-west-1" else "OK"
            return {"MetricAlarms": [{"AlarmName": n, "StateValue": state} for n in AlarmNames]}

    class Paginator:
        def paginate(self, **_: Any) -> list[dict[str, Any]]:
            return [
                {
                    "Items": [
                        {"Key": "eu-west-1", "Value": "healthy"},
                        {"Key": "probe:eu-west-1", "Value": "2"},
                    ]
                }
            ]

    class Kvs:
        def describe_key_value_store(self, KvsARN: str) -> dict[str, str]:
            return {"ETag": "E1"}

        def get_paginator(self, name: str) -> Paginator:
            return Paginator()

        def update_keys(self, **kwargs: Any) -> None:
            calls.append(("update_keys", kwargs))

    class Session:
        def create_client(self, service: str, region_name: str) -> Any:
            return Kvs() if service == "cloudfront-keyvaluestore" else CloudWatch(region_name)

    monkeypatch.setattr(handler, "probe_healthz", lambda domain, region: (True, "healthz 200"))
    env = {
        "REGIONS": json.dumps(["us-east-1", "eu-west-1"]),
        "HEALTH_ALARMS": json.dumps({"us-east-1": ["a-us"], "eu-west-1": ["a-eu"]}),
        "KVS_ARN": "arn:kvs",
        "DISTRIBUTION_DOMAIN": "d.example",
    }
    report = handler.run(Session(), env)
    assert report["probes"]["eu-west-1"] == {"ok": False, "detail": "healthz 200; alarms: a-eu"}
    assert calls == [
        (
            "update_keys",
            {
                "KvsARN": "arn:kvs",
                "IfMatch": "E1",
                "Puts": [
                    {"Key": "eu-west-1", "Value": "probe-unhealthy"},
                    {"Key": "probe:eu-west-1", "Value": "0"},
                ],
            },
        )
    ]


# ---------------------------------------------------------------------------- preflight


def test_preflight_concurrency_verdicts() -> None:
    from infra.preflight import RegionQuota, check_region

    prod = EnvironmentConfig(
        name="prod",
        primary_region="us-east-1",
        regions=("us-east-1",),
        reserved_concurrency=100,
        provisioned_max=20,
    )
    ok = check_region(prod, RegionQuota("us-east-1", 1000, 1000))
    assert ok.ok and "needs reserved_concurrency 100 + 100" in ok.message
    fresh = check_region(prod, RegionQuota("eu-west-1", 50, 50))
    assert not fresh.ok and "150 short" in fresh.message and "at least 200" in fresh.message
    redeploy = check_region(prod, RegionQuota("us-east-1", 200, 100, current_reservation=100))
    assert redeploy.ok  # its own reservation is freed and taken again
    dev = EnvironmentConfig(name="dev", primary_region="us-east-1", regions=("us-east-1",), provisioned_max=2)
    assert check_region(dev, RegionQuota("us-east-1", 10, 10)).message.startswith("FAIL")


def test_preflight_without_credentials_says_what_to_do(tmp_path: Path) -> None:
    """No traceback: the missing credentials and how to provide them."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "HOME": str(tmp_path),
    }
    run = subprocess.run(
        [sys.executable, "-m", "infra.preflight", "-c", "env=dev"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert "no AWS credentials" in run.stdout and "AWS_PROFILE" in run.stdout


def test_provider_secret_goes_to_every_region_from_a_file_never_the_command_line(tmp_path: Path) -> None:
    from infra.provider_secret import read_key, write_everywhere

    key_file = tmp_path / "key.txt"
    key_file.write_text("sk-live-0123456789\n")
    assert read_key(str(key_file), stdin_is_tty=True) == "sk-live-0123456789"

    class NotFound(Exception):
        pass

    calls: list[tuple[str, str, str]] = []

    class Client:
        exceptions = type("E", (), {"ResourceNotFoundException": NotFound})

        def __init__(self, region: str) -> None:
            self.region = region

        def put_secret_value(self, SecretId: str, SecretString: str) -> None:
            if self.region == "ap-southeast-2":
                raise NotFound
            calls.append((self.region, "put", SecretString))

        def create_secret(self, Name: str, SecretString: str, Description: str) -> None:
            calls.append((self.region, "create", SecretString))

    env = EnvironmentConfig(
        name="prod", primary_region="us-east-1", regions=("us-east-1", "eu-west-1", "ap-southeast-2")
    )
    lines = write_everywhere(env, "switchboard/openai", "sk-live-0123456789", Client)
    assert [c[:2] for c in calls] == [
        ("us-east-1", "put"),
        ("eu-west-1", "put"),
        ("ap-southeast-2", "create"),
    ]
    assert all(json.loads(c[2]) == {"api_key": "sk-live-0123456789"} for c in calls)
    assert not any("sk-live" in line for line in lines)  # the key is never printed


def test_deploy_plan_one_region_first_then_the_rest_then_the_edge_and_probers() -> None:
    from infra.deploy import plan

    prod = load_environment(json.loads((ROOT / "cdk.json").read_text())["context"], "prod")
    steps = [(s.kind, s.target) for s in plan(prod, "eu-west-1")]
    assert steps == [
        ("deploy", "Switchboard-prod-Data"),
        ("deploy", "Switchboard-prod-Gateway-eu-west-1"),
        ("check", "switchboard-prod-eu-west-1-RegionUnhealthy"),
        ("deploy", "Switchboard-prod-Gateway-us-east-1"),
        ("check", "switchboard-prod-us-east-1-RegionUnhealthy"),
        ("deploy", "Switchboard-prod-Gateway-ap-southeast-2"),
        ("check", "switchboard-prod-ap-southeast-2-RegionUnhealthy"),
        ("deploy", "Switchboard-prod-Edge"),
        ("deploy", "Switchboard-prod-Prober-eu-west-1"),
    ]
    with pytest.raises(ValueError, match="not one of"):
        plan(prod, "sa-east-1")


# ---------------------------------------------------------------------------- prober votes and causes


def test_one_prober_alone_cannot_evacuate_a_region(health: Any) -> None:
    """Two voters: us-east-1's prober sees eu-west-1 fail (its own network path), eu-west-1's does not."""
    store = {"us-east-1": "healthy", "eu-west-1": "healthy"}
    voters = ("us-east-1", "eu-west-1")
    up = health.Probe("us-east-1", True, True)
    for _ in range(6):
        store.update(
            health.plan(store, [up, health.Probe("eu-west-1", False, True)], voter="us-east-1", voters=voters)
        )
        store.update(
            health.plan(store, [up, health.Probe("eu-west-1", True, True)], voter="eu-west-1", voters=voters)
        )
    assert store["eu-west-1"] == "healthy"
    assert store["probe:eu-west-1@us-east-1"] == "6"
    for _ in range(3):  # now both see it fail
        store.update(
            health.plan(store, [up, health.Probe("eu-west-1", False, True)], voter="eu-west-1", voters=voters)
        )
    assert store["eu-west-1"] == "probe-unhealthy"
    assert store["probe:eu-west-1@us-east-1"] == store["probe:eu-west-1@eu-west-1"] == "0"  # counted afresh


def test_a_provider_outage_everywhere_evacuates_nothing_but_a_clearly_worse_region_goes(health: Any) -> None:
    def probes(rates: dict[str, float]) -> list[Any]:
        return [health.Probe(r, True, True, "", pct, 100) for r, pct in rates.items()]

    assert health.clearly_worse(probes({"a": 100.0, "b": 100.0, "c": 95.0})) == set()  # an outage
    assert health.clearly_worse(probes({"a": 70.0, "b": 2.0, "c": 3.0})) == {"a"}  # a's provider path
    assert health.clearly_worse(probes({"a": 30.0, "b": 20.0, "c": 20.0})) == set()  # not clearly
    assert health.clearly_worse(probes({"a": 100.0})) == set()  # nothing to compare with
    few = [health.Probe("a", True, True, "", 90.0, 5), health.Probe("b", True, True, "", 0.0, 100)]
    assert health.clearly_worse(few) == set()  # 5 requests say nothing
    store: dict[str, str] = {}
    for _ in range(3):
        store.update(health.plan(store, probes({"a": 100.0, "b": 100.0, "c": 100.0})))
    assert all(store.get(r, "healthy") == "healthy" for r in "abc")
    for _ in range(3):
        store.update(health.plan(store, probes({"a": 80.0, "b": 1.0, "c": 0.0})))
    assert store["a"] == "probe-unhealthy" and store.get("b", "healthy") == "healthy"
