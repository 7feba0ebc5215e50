"""CDK assertions for every stack of the prod environment (three regions)."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


def test_expected_stacks(prod) -> None:
    names = sorted(s.stack_name for s in prod["assembly"].stacks)
    assert names == sorted(
        ["Switchboard-prod-Data", "Switchboard-prod-Edge"]
        + [f"Switchboard-prod-Gateway-{r}" for r in REGIONS]
    )
    regions = {s.stack_name: s.environment.region for s in prod["assembly"].stacks}
    assert regions["Switchboard-prod-Edge"] == "us-east-1"
    assert regions["Switchboard-prod-Gateway-eu-west-1"] == "eu-west-1"


# ---------------------------------------------------------------------------- data


def test_table_schema_ttl_replicas_and_pinned_logical_id(templates) -> None:
    data = templates["data"]
    tables = data.find_resources("AWS::DynamoDB::GlobalTable")
    assert list(tables) == ["GatewayTable"]  # pinned: a rename would replace the table
    props = tables["GatewayTable"]["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TableName"] == "switchboard-prod"
    assert sorted(r["Region"] for r in props["Replicas"]) == sorted(REGIONS)
    for replica in props["Replicas"]:
        assert replica["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert replica["DeletionProtectionEnabled"] is True
    assert tables["GatewayTable"]["DeletionPolicy"] == "Retain"


def test_origin_secret_replicated_to_every_region_and_the_edge(templates) -> None:
    secrets = templates["data"].find_resources("AWS::SecretsManager::Secret")
    assert list(secrets) == ["OriginSecret"]
    props = secrets["OriginSecret"]["Properties"]
    assert props["Name"] == "switchboard/prod/origin"
    assert sorted(r["Region"] for r in props["ReplicaRegions"]) == ["ap-southeast-2", "eu-west-1"]
    assert props["GenerateSecretString"]["GenerateStringKey"] == "current"
    assert json.loads(props["GenerateSecretString"]["SecretStringTemplate"]) == {"previous": ""}


# ---------------------------------------------------------------------------- gateway


@pytest.mark.parametrize("region", REGIONS)
def test_function_lwa_streaming(templates, region: str) -> None:
    gateway = templates[f"gateway-{region}"]
    gateway.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.12",
            "Handler": "run.sh",
            "Architectures": ["arm64"],
            "MemorySize": 1769,
            "Timeout": 900,
            "ReservedConcurrentExecutions": 100,
            "Layers": [f"arn:aws:lambda:{region}:753240598075:layer:LambdaAdapterLayerArm64:27"],
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
                        "AWS_LWA_INVOKE_MODE": "response_stream",
                        "AWS_LWA_READINESS_CHECK_PATH": "/healthz",
                        "AWS_LWA_PORT": "8080",
                        "SWITCHBOARD_CONFIG": "/var/task/gateway.toml",
                        "SWITCHBOARD_ORIGIN_SECRET": "switchboard/prod/origin",
                        "SWITCHBOARD_TABLE": "switchboard-prod",
                    }
                )
            },
        },
    )
    gateway.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 90})


@pytest.mark.parametrize("region", REGIONS)
def test_alias_provisioned_concurrency_scaling_and_url_on_alias(templates, region: str) -> None:
    gateway = templates[f"gateway-{region}"]
    aliases = gateway.find_resources("AWS::Lambda::Alias")
    assert len(aliases) == 1
    alias_id, alias = next(iter(aliases.items()))
    assert alias["Properties"]["Name"] == "live"
    assert alias["Properties"]["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 2}
    gateway.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {"MinCapacity": 2, "MaxCapacity": 20, "ScalableDimension": "lambda:function:ProvisionedConcurrency"},
    )
    gateway.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                {
                    "TargetValue": 0.7,
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "LambdaProvisionedConcurrencyUtilization"
                    },
                }
            ),
        },
    )
    urls = gateway.find_resources("AWS::Lambda::Url")
    assert len(urls) == 1
    url = next(iter(urls.values()))["Properties"]
    assert url["InvokeMode"] == "RESPONSE_STREAM"
    assert url["AuthType"] == "NONE"
    assert url["Qualifier"] == "live"  # on the alias (provisioned concurrency), never $LATEST
    assert alias_id


@pytest.mark.parametrize("region", REGIONS)
def test_least_privilege_role(templates, region: str) -> None:
    gateway = templates[f"gateway-{region}"]
    statements = [
        s
        for policy in gateway.find_resources("AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    rendered = json.dumps(statements)
    assert (
        '"*"' not in rendered.replace('"Resource": "*"', "RESOURCE_STAR") and "RESOURCE_STAR" not in rendered
    )
    dynamo = next(s for s in statements if "dynamodb:GetItem" in s["Action"])
    assert "table/switchboard-prod" in json.dumps(dynamo["Resource"])
    assert not any(a.endswith("*") for a in dynamo["Action"])
    secrets = next(s for s in statements if s["Action"] == "secretsmanager:GetSecretValue")
    joined = json.dumps(secrets["Resource"])
    assert "secret:switchboard/prod/origin-??????" in joined
    assert "secret:switchboard/openai-??????" in joined
    assert gateway.find_resources("AWS::IAM::Role")
    for role in gateway.find_resources("AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]


def _dashboard_body(template) -> str:
    dashboards = template.find_resources("AWS::CloudWatch::Dashboard")
    assert len(dashboards) == 1
    return json.dumps(next(iter(dashboards.values()))["Properties"]["DashboardBody"])


@pytest.mark.parametrize("region", REGIONS)
def test_dashboard_widgets_and_alarms(templates, region: str) -> None:
    gateway = templates[f"gateway-{region}"]
    body = _dashboard_body(gateway)
    for needle in (
        "Gateway overhead (ms)",
        "OverheadMs",
        "p50",
        "p90",
        "p99",
        "UpstreamMs",
        "TimeToFirstTokenMs",
        "Requests",
        "Errors5xx",
        "Errors4xx",
        "Fallbacks",
        "CacheHits",
        "initDuration",
        "ProvisionedConcurrencyUtilization",
        "ProvisionedConcurrencySpilloverInvocations",
        "Throttles",
    ):
        assert needle in body, needle
    alarms = gateway.find_resources("AWS::CloudWatch::Alarm")
    assert len(alarms) == 3
    by_metric = {
        json.dumps(a["Properties"]).split('"MetricName": "')[1].split('"')[0]: a["Properties"]
        for a in alarms.values()
    }
    overhead = by_metric["OverheadMs"]
    assert overhead["Threshold"] == 5 and overhead["Metrics"][0]["MetricStat"]["Stat"] == "p99"
    assert "Errors5xx" in by_metric and "ProvisionedConcurrencySpilloverInvocations" in by_metric
    assert all(a["AlarmActions"] for a in by_metric.values())
    gateway.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"}
    )


def test_asset_size_within_budget(prod) -> None:
    from infra.asset import ASSET_BUDGET_BYTES, directory_size

    assets = [p for p in prod["outdir"].iterdir() if p.is_dir() and p.name.startswith("asset.")]
    assert len(assets) == 1  # one asset shared by the three regions
    asset = assets[0]
    assert (asset / "run.sh").exists() and (asset / "gateway.toml").exists()
    assert (asset / "switchboard" / "edge" / "server.py").exists()
    assert any(asset.glob("uvloop/*aarch64*.so")), "wheels are for the target architecture"
    assert not list(asset.glob("boto3")), "boto3 comes from the Lambda runtime"
    size = directory_size(asset)
    print(f"asset size: {size / 1e6:.1f} MB (budget {ASSET_BUDGET_BYTES / 1e6:.0f} MB)")
    assert size <= ASSET_BUDGET_BYTES


# ---------------------------------------------------------------------------- edge


def test_distribution_behaviours(templates) -> None:
    edge = templates["edge"]
    config = next(iter(edge.find_resources("AWS::CloudFront::Distribution").values()))["Properties"][
        "DistributionConfig"
    ]
    behaviours = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    assert set(behaviours) == {"/v1/*", *(f"/regions/{r}/*" for r in REGIONS)}
    for behaviour in [config["DefaultCacheBehavior"], *behaviours.values()]:
        assert len(behaviour["AllowedMethods"]) == 7
        assert behaviour["Compress"] is False
        assert behaviour["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST
        assert behaviour["ViewerProtocolPolicy"] == "https-only"
        assert behaviour["FunctionAssociations"][0]["EventType"] == "viewer-request"
    assert behaviours["/v1/*"]["TargetOriginId"] == "us-east-1"
    edge.has_resource_properties(
        "AWS::CloudFront::CachePolicy",
        {"CachePolicyConfig": Match.object_like({"DefaultTTL": 0, "MinTTL": 0, "MaxTTL": 1})},
    )
    assert config["WebACLId"]
    edge.resource_count_is("AWS::WAFv2::WebACL", 1)


def test_origins_one_per_region_with_secret_header_and_stream_timeouts(templates) -> None:
    edge = templates["edge"]
    config = next(iter(edge.find_resources("AWS::CloudFront::Distribution").values()))["Properties"][
        "DistributionConfig"
    ]
    origins = {o["Id"]: o for o in config["Origins"]}
    assert sorted(origins) == sorted(REGIONS)
    for region, origin in origins.items():
        custom = origin["CustomOriginConfig"]
        assert custom["OriginProtocolPolicy"] == "https-only"
        assert custom["OriginReadTimeout"] == 120
        assert origin["ResponseCompletionTimeout"] == 3600
        assert origin["OriginCustomHeaders"] == [
            {
                "HeaderName": "x-switchboard-origin",
                "HeaderValue": "{{resolve:secretsmanager:switchboard/prod/origin:SecretString:current::}}",
            }
        ]
        source = origin["DomainName"]["Fn::Select"][1]["Fn::Split"][1]["Fn::GetStackOutput"]
        assert source["StackName"] == f"Switchboard-prod-Gateway-{region}" and source["Region"] == region


def test_router_function_and_key_value_store(templates) -> None:
    edge = templates["edge"]
    functions = edge.find_resources("AWS::CloudFront::Function")
    assert len(functions) == 1
    props = next(iter(functions.values()))["Properties"]
    assert props["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    assert props["FunctionConfig"]["KeyValueStoreAssociations"]
    code = props["FunctionCode"]
    assert "__SWITCHBOARD_CONFIG__" not in code
    assert '"regions":["us-east-1","eu-west-1","ap-southeast-2"]' in code
    edge.resource_count_is("AWS::CloudFront::KeyValueStore", 1)
    body = _dashboard_body(edge)
    for region in REGIONS:
        assert region in body
    assert "OverheadMs" in body


# ---------------------------------------------------------------------------- checks


def test_cdk_nag_aws_solutions_has_no_unsuppressed_errors(prod) -> None:
    from aws_cdk.assertions import Annotations

    for name, stack in prod["stacks"].items():
        errors = Annotations.from_stack(stack).find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
        assert errors == [], f"{name}: {[e.entry.data for e in errors]}"
        warnings = Annotations.from_stack(stack).find_warning(
            "*", Match.string_like_regexp("AwsSolutions-.*")
        )
        assert warnings == [], f"{name}: {[w.entry.data for w in warnings]}"


def test_every_suppression_has_a_reason(prod) -> None:
    found = 0
    for path in prod["outdir"].glob("*.template.json"):
        for resource in json.loads(path.read_text())["Resources"].values():
            for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
                found += 1
                assert len(rule["reason"]) >= 20, rule
    assert found >= 5


def test_cdk_nag_is_active() -> None:
    """The pack must flag a known-bad resource; otherwise the test above proves nothing."""
    import aws_cdk as cdk
    from aws_cdk import aws_sns as sns
    from aws_cdk.assertions import Annotations
    from cdk_nag import AwsSolutionsChecks

    app = cdk.App()
    stack = cdk.Stack(app, "Bad", env=cdk.Environment(region="us-east-1"))
    sns.Topic(stack, "Topic")
    cdk.Aspects.of(app).add(AwsSolutionsChecks())
    app.synth()
    errors = Annotations.from_stack(stack).find_error("*", Match.string_like_regexp("AwsSolutions-SNS3.*"))
    assert errors


def test_cfn_lint_has_no_errors(prod) -> None:
    import subprocess
    import sys

    templates = sorted(str(p) for p in prod["outdir"].glob("*.template.json"))
    assert len(templates) == 5
    result = subprocess.run(
        [sys.executable, "-m", "cfnlint", "--format", "parseable", *templates],
        capture_output=True,
        text=True,
        check=False,
    )
    errors = [line for line in result.stdout.splitlines() if ":E" in line]
    assert errors == [], "\n".join(errors)
