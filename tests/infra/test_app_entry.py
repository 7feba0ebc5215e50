"""The CDK entry points work offline: plain `python app.py` (dev) and the pinned CDK CLI (prod);
the deployment matrix is validated; the CloudFront Function's JavaScript passes its Node tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import DeployConfigError, load_environment

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CDK_DISABLE_VERSION_CHECK": "1"}


def context() -> dict:
    return json.loads((ROOT / "cdk.json").read_text())["context"]


def test_cdk_json_environments_load() -> None:
    dev = load_environment(context(), "dev")
    prod = load_environment(context(), "prod")
    assert dev.regions == ("us-east-1",) and dev.architecture == "arm64"
    assert len(prod.regions) == 3 and prod.deletion_protection and prod.provisioned_max == 20
    assert context()["@aws-cdk/core:defaultCrossStackReferences"] == "weak"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"regions": []}, "regions"),
        ({"regions": ["us-east-1", "us-east-1"]}, "regions"),
        ({"primary_region": "eu-west-1"}, "must be one of regions"),
        ({"regions": ["us-east-1", "eu-central-2"]}, "not available in eu-central-2"),
        ({"architecture": "sparc"}, "architecture"),
        ({"provisioned_min": 5, "provisioned_max": 2}, "provisioned_min/max"),
        ({"reserved_concurrency": 1}, "reserved_concurrency"),
        ({"log_retention_days": 8}, "log_retention_days"),
        ({"colour": "blue"}, "environments.x.colour: unknown key"),
        ({"regions": "us-east-1"}, "expected a list"),
        ({"openGateway": "yes"}, "openGateway: true or false"),
        (
            {"reserved_concurrency": 100, "provisioned_max": 20, "account_concurrency_limit": 150},
            r"reserved_concurrency: 100 \+ 100 that Lambda keeps unreserved = 200 > account_concurrency_limit 150",
        ),
        ({"provisioned_max": 60, "account_concurrency_limit": 150}, "provisioned_max: 60"),
    ],
)
def test_bad_environments_are_named(override: dict, message: str) -> None:
    base = {"primary_region": "us-east-1", "regions": ["us-east-1"], **override}
    with pytest.raises(DeployConfigError, match=message):
        load_environment({"environments": {"x": base}}, "x")
    with pytest.raises(DeployConfigError, match="unknown environment"):
        load_environment({"environments": {"x": base}}, "y")


def test_plain_python_app_py_synthesizes_dev(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env={**ENV, "CDK_OUTDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    stacks = sorted(p.name for p in tmp_path.glob("*.template.json"))
    assert stacks == [
        "Switchboard-dev-Data.template.json",
        "Switchboard-dev-Edge.template.json",
        "Switchboard-dev-Gateway-us-east-1.template.json",
    ]


@pytest.mark.skipif(not (ROOT / "node_modules" / ".bin" / "cdk").exists(), reason="npm ci has not run")
def test_cdk_cli_synth_prod_offline(tmp_path: Path) -> None:
    """`npx cdk synth -c env=prod --no-notices` with the pinned CLI, no AWS credentials."""
    env = {k: v for k, v in ENV.items() if not k.startswith("AWS_")}
    result = subprocess.run(
        [
            "npx",
            "--no-install",
            "cdk",
            "synth",
            "-c",
            "env=prod",
            "--no-notices",
            "--quiet",
            "-o",
            str(tmp_path),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-3000:])
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    stacks = sorted(k for k, v in manifest["artifacts"].items() if v["type"] == "aws:cloudformation:stack")
    assert stacks == sorted(
        ["Switchboard-prod-Data", "Switchboard-prod-Edge"]
        + [f"Switchboard-prod-Gateway-{r}" for r in ("us-east-1", "eu-west-1", "ap-southeast-2")]
    )


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_router_javascript_unit_tests() -> None:
    result = subprocess.run(
        ["node", "--test", str(ROOT / "infra" / "edge" / "router.test.mjs")],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "# fail 0" in result.stdout
    assert "# pass 8" in result.stdout


def test_open_gateway_is_explicit_and_revisions_change_the_distribution() -> None:
    """dev with cdk.json `openGateway: true`: SWITCHBOARD_AUTH=open plus a synth warning; the
    origin-secret version and the origins revision both change the distribution (a re-resolve)."""
    from aws_cdk.assertions import Annotations, Match, Template

    import app

    environments = context()["environments"]
    dev = {**environments["dev"], "openGateway": True}
    _, stacks = app.build_app(
        {
            "env": "dev",
            "environments": {**environments, "dev": dev},
            "origin_secret_version": "7",
            "origins_revision": "2026-12-02",
        }
    )
    gateway = Template.from_stack(stacks["gateway-us-east-1"])
    gateway.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({"SWITCHBOARD_AUTH": "open"})}},
    )
    warnings = Annotations.from_stack(stacks["gateway-us-east-1"]).find_warning(
        "*", Match.string_like_regexp(".*openGateway.*")
    )
    assert warnings
    Template.from_stack(stacks["edge"]).has_resource_properties(
        "AWS::CloudFront::Distribution",
        {
            "DistributionConfig": Match.object_like(
                {"Comment": "Switchboard AI gateway (origin secret v7, origins r2026-12-02)"}
            )
        },
    )


def test_every_cdk_json_environment_is_closed_by_default() -> None:
    for name in context()["environments"]:
        env = load_environment(context(), name)
        assert env.auth_mode == "required" and not env.open_gateway, name


def test_cdk_json_sets_the_recommended_feature_flags() -> None:
    """What `cdk init` writes for the pinned aws-cdk-lib (its recommended-feature-flags.json)."""
    import tarfile

    import aws_cdk

    tgz = next((Path(aws_cdk.__file__).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz"))
    with tarfile.open(tgz) as archive:
        member = archive.extractfile("package/recommended-feature-flags.json")
        assert member is not None
        recommended = json.load(member)
    ctx = context()
    assert {k: ctx.get(k) for k in recommended} == recommended
