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
        ({"notifications": {"emails": "a@b.io"}}, "notifications.emails: a list"),
        ({"notifications": {"emails": ["not-an-address"]}}, "not an e-mail address"),
        ({"notifications": {"https": ["http://pager.io/x"]}}, "not an https:// URL"),
        ({"notifications": {"slack": {"channel_id": "C1"}}}, "notifications.slack"),
        ({"notifications": {"sms": []}}, "notifications.sms: unknown key"),
        ({"deployment": "blue-green"}, "deployment: one of"),
        ({"prober_regions": ["eu-west-1"]}, "prober_regions"),
        ({"domain_names": ["api.acme.io"]}, "domain_names and certificate_arn"),
        (
            {"domain_names": ["api.acme.io"], "certificate_arn": "arn:aws:acm:eu-west-1:1:certificate/x"},
            "an ACM certificate in us-east-1",
        ),
        ({"table_kms_key_arns": {"eu-west-1": "arn:aws:kms:eu-west-1:1:key/x"}}, "one key ARN for each"),
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
        ["Switchboard-prod-Data", "Switchboard-prod-Edge", "Switchboard-prod-Prober-eu-west-1"]
        + [f"Switchboard-prod-Gateway-{r}" for r in ("us-east-1", "eu-west-1", "ap-southeast-2")]
    )
    # the shipped prod pages nobody yet: the synth says so, loudly (and fails under -c strict=true)
    assert "NOBODY WILL BE PAGED" in result.stderr


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
    assert "# pass 9" in result.stdout


def test_open_gateway_is_explicit_and_revisions_change_the_distribution() -> None:
    """dev with cdk.json `openGateway: true`: SWITCHBOARD_AUTH=open plus a synth warning; the
    origin-secret version and the origins revision both change the distribution (a re-resolve)."""
    from aws_cdk.assertions import Annotations, Match, Template

    import app

    environments = context()["environments"]
    dev = {
        **environments["dev"],
        "openGateway": True,
        "domain_names": ["llm.acme-corp.io"],
        "certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/abc",
        "table_kms_key_arns": {"us-east-1": "arn:aws:kms:us-east-1:123456789012:key/k1"},
        "store_conversations": False,
        "cache_responses": False,
    }
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
    edge = Template.from_stack(stacks["edge"])
    edge.has_resource_properties(
        "AWS::CloudFront::Distribution",
        {
            "DistributionConfig": Match.object_like(
                {
                    "Comment": "Switchboard AI gateway (origin secret v7, origins r2026-12-02)",
                    # a custom domain: clients never bind to *.cloudfront.net; TLS 1.2+ for viewers
                    "Aliases": ["llm.acme-corp.io"],
                    "ViewerCertificate": {
                        "AcmCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc",
                        "MinimumProtocolVersion": "TLSv1.2_2021",
                        "SslSupportMethod": "sni-only",
                    },
                }
            )
        },
    )
    outputs = edge.find_outputs("GatewayUrl")
    assert next(iter(outputs.values()))["Value"] == "https://llm.acme-corp.io/v1"
    # dev is cheap while idle: no provisioned concurrency, no WAF, no access logs, no prober
    gateway.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 0)
    edge.resource_count_is("AWS::WAFv2::WebACL", 0)
    edge.resource_count_is("AWS::S3::Bucket", 0)
    assert not [
        f
        for f in edge.find_resources("AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "handler.handler"
    ]
    gateway.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {
                "Variables": Match.object_like(
                    {"SWITCHBOARD_STORE_CONVERSATIONS": "off", "SWITCHBOARD_CACHE": "off"}
                )
            }
        },
    )
    # data residency: the table encrypted with the customer-managed key
    data = Template.from_stack(stacks["data"])
    table = next(iter(data.find_resources("AWS::DynamoDB::GlobalTable").values()))["Properties"]
    assert table["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
    assert table["Replicas"][0]["SSESpecification"] == {
        "KMSMasterKeyId": "arn:aws:kms:us-east-1:123456789012:key/k1"
    }


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


# ---------------------------------------------------------------------------- paging


def test_the_shipped_cdk_json_carries_no_placeholder_address() -> None:
    text = (ROOT / "cdk.json").read_text()
    for placeholder in ("example.com", "example.org", "example.net", "@example", ".invalid", ".test"):
        assert placeholder not in text


@pytest.mark.parametrize(
    ("notifications", "pages"),
    [
        ({}, False),
        ({"emails": ["oncall@example.com"]}, False),  # a placeholder pages nobody
        ({"emails": ["ops@sub.example.org"], "https": ["https://hooks.example.net/x"]}, False),
        ({"emails": ["oncall@example.com", "ops@acme.io"]}, True),  # one real address is enough
        ({"https": ["https://events.pagerduty.com/integration/k/enqueue"]}, True),
        ({"slack": {"workspace_id": "T1", "channel_id": "C1"}}, True),
    ],
)
def test_paging_problems_of_a_production_environment(notifications: dict, pages: bool) -> None:
    from infra.config import paging_problems

    base = {"primary_region": "us-east-1", "regions": ["us-east-1"], "notifications": notifications}
    prod = load_environment({"environments": {"p": {**base, "production": True}}}, "p")
    assert (paging_problems(prod) == []) is pages
    dev = load_environment({"environments": {"d": base}}, "d")
    assert paging_problems(dev) == []  # only production environments must page


def test_prod_without_a_target_warns_and_fails_under_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    """The release pipeline sets strict (scripts/deploy does): an environment that pages nobody is
    not deployed. Without it (offline synth, tests) the synth warns on every stack."""
    import app

    environments = context()["environments"]
    placeholder = {**environments["prod"], "notifications": {"emails": ["oncall@example.com"]}}
    ctx = {"env": "prod", "environments": {**environments, "prod": placeholder}}
    with pytest.raises(DeployConfigError, match=r"nobody would be paged.*placeholder"):
        app.build_app({**ctx, "strict": "true"}, nag=False)
    monkeypatch.setenv("SWITCHBOARD_STRICT_SYNTH", "1")
    with pytest.raises(DeployConfigError, match="nobody would be paged"):
        app.build_app(ctx, nag=False)


def test_a_production_environment_refuses_mock_models() -> None:
    import app

    environments = context()["environments"]
    with_mocks = {**environments["prod"], "gateway_config": "deploy/gateway-dev.toml"}
    with pytest.raises(DeployConfigError, match=r"mock provider\(s\) mock"):
        app.build_app({"env": "prod", "environments": {**environments, "prod": with_mocks}}, nag=False)
    assert 'type = "mock"' not in (ROOT / "deploy" / "gateway.toml").read_text()
    assert load_environment(context(), "dev").gateway_config == "deploy/gateway-dev.toml"
