"""CDK assertions for every stack of the prod environment (three regions)."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"


def test_expected_stacks(prod) -> None:
    names = sorted(s.stack_name for s in prod["assembly"].stacks)
    assert names == sorted(
        ["Switchboard-prod-Data", "Switchboard-prod-Edge", "Switchboard-prod-Prober-eu-west-1"]
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
    # retained with the table: a deleted secret's name stays taken during its recovery window
    assert secrets["OriginSecret"]["DeletionPolicy"] == "Retain"
    assert secrets["OriginSecret"]["UpdateReplacePolicy"] == "Retain"


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
                        "SWITCHBOARD_AUTH": "required",  # closed by default
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
    # the scalable target alone owns provisioned concurrency (a deploy never resets scaled-out capacity)
    assert "ProvisionedConcurrencyConfig" not in alias["Properties"]
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
    assert sorted(dynamo["Action"]) == sorted(
        [
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:Query",
        ]
    )  # no BatchGetItem / BatchWriteItem / ConditionCheckItem: the runtime never calls them
    assert not any("bedrock" in json.dumps(s["Action"]) for s in statements)  # no Bedrock provider deployed
    secrets = next(s for s in statements if s["Action"] == "secretsmanager:GetSecretValue")
    joined = json.dumps(secrets["Resource"])
    assert "secret:switchboard/prod/origin-??????" in joined
    assert "secret:switchboard/openai-??????" in joined
    assert gateway.find_resources("AWS::IAM::Role")
    for role in gateway.find_resources("AWS::IAM::Role").values():
        principal = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]
        if principal == "codedeploy.amazonaws.com":  # a role AWS assumes to run its own service
            assert json.dumps(role["Properties"]["ManagedPolicyArns"]).count("iam::aws:policy/") == 1
            assert "service-role/AWSCodeDeployRoleForLambdaLimited" in json.dumps(role["Properties"])
        else:
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
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in gateway.find_resources("AWS::CloudWatch::Alarm").values()
    }
    prefix = f"switchboard-prod-{region}-"
    assert sorted(alarms) == sorted(
        prefix + n
        for n in (
            "OverheadP99",
            "GatewayErrorRate",
            "ProviderErrorRate",
            "DirectCalls",
            "FunctionErrors",
            "Throttles",
            "DurationNearTimeout",
            "Spillover",
        )
    )
    rendered = {name[len(prefix) :]: json.dumps(props) for name, props in alarms.items()}
    overhead = alarms[prefix + "OverheadP99"]
    assert overhead["Threshold"] == 5 and overhead["Metrics"][0]["MetricStat"]["Stat"] == "p99"
    # failures split by cause: the region's own evacuate it, the providers' do not
    for alarm, cause in (
        ("GatewayErrorRate", "gateway"),
        ("ProviderErrorRate", "provider"),
        ("DirectCalls", "direct"),
    ):
        assert '"FailuresByCause"' in rendered[alarm], alarm
        assert f'{{"Name": "cause", "Value": "{cause}"}}' in rendered[alarm], alarm
    assert alarms[prefix + "GatewayErrorRate"]["Threshold"] == 5
    assert alarms[prefix + "ProviderErrorRate"]["Threshold"] == 20
    # Lambda's own metrics: crashes, init failures, timeouts and throttles write no app record
    assert '"AWS/Lambda"' in rendered["FunctionErrors"] and '"Errors"' in rendered["FunctionErrors"]
    assert '"Invocations"' in rendered["FunctionErrors"]
    throttles = alarms[prefix + "Throttles"]
    assert throttles["MetricName"] == "Throttles" and throttles["Namespace"] == "AWS/Lambda"
    duration = alarms[prefix + "DurationNearTimeout"]
    assert duration["MetricName"] == "Duration" and duration["Statistic"] == "Maximum"
    assert duration["Threshold"] == 810_000  # 90 % of the 900 s timeout
    # spillover: a rate over 5 minutes (scale-out spills briefly by design), not "> 0"
    spill = alarms[prefix + "Spillover"]
    assert (
        '"ProvisionedConcurrencySpilloverInvocations"' in rendered["Spillover"] and spill["Threshold"] == 10
    )
    assert all(m.get("MetricStat", {}).get("Period", 300) == 300 for m in spill["Metrics"])


@pytest.mark.parametrize("region", REGIONS)
def test_paging_one_topic_per_region_composite_pages_and_every_alarm_has_its_ok_action(
    templates, region: str
) -> None:
    gateway = templates[f"gateway-{region}"]
    topics = gateway.find_resources("AWS::SNS::Topic")
    assert len(topics) == 1  # one topic per region, from the one `notifications` setting
    topic_id, topic = next(iter(topics.items()))
    assert topic["Properties"]["TopicName"] == "switchboard-prod-alarms"
    subscriptions = sorted(
        (s["Properties"]["Protocol"], s["Properties"]["Endpoint"])
        for s in gateway.find_resources("AWS::SNS::Subscription").values()
    )
    assert subscriptions == [
        ("email", "oncall@acme-ops.io"),
        ("https", "https://events.pagerduty.com/integration/0123456789abcdef/enqueue"),
    ]
    gateway.has_resource_properties(
        "AWS::Chatbot::SlackChannelConfiguration",
        {"SlackWorkspaceId": "T0123ABCD", "SlackChannelId": "C0456EFGH", "SnsTopicArns": [{"Ref": topic_id}]},
    )
    composites = gateway.find_resources("AWS::CloudWatch::CompositeAlarm")
    assert len(composites) == 1
    composite = next(iter(composites.values()))["Properties"]
    prefix = f"switchboard-prod-{region}-"
    assert composite["AlarmName"] == prefix + "RegionUnhealthy"
    rule = json.dumps(composite["AlarmRule"])
    for member in ("GatewayErrorRate", "FunctionErrors", "Throttles"):
        assert member in rule
    assert "ProviderErrorRate" not in rule  # a provider outage is not a broken region
    assert composite["AlarmActions"] == composite["OKActions"] == [{"Ref": topic_id}]
    members = {prefix + m for m in ("GatewayErrorRate", "FunctionErrors", "Throttles")}
    for alarm in gateway.find_resources("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        if props["AlarmName"] in members:  # the composite pages for them (no double page)
            assert "AlarmActions" not in props and "OKActions" not in props
        else:
            assert props["AlarmActions"] == props["OKActions"] == [{"Ref": topic_id}], props["AlarmName"]


@pytest.mark.parametrize("region", REGIONS)
def test_gradual_rollout_with_automatic_rollback_and_retained_versions(templates, region: str) -> None:
    gateway = templates[f"gateway-{region}"]
    groups = gateway.find_resources("AWS::CodeDeploy::DeploymentGroup")
    assert len(groups) == 1
    group = next(iter(groups.values()))["Properties"]
    assert group["DeploymentConfigName"] == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    assert group["DeploymentStyle"] == {
        "DeploymentOption": "WITH_TRAFFIC_CONTROL",
        "DeploymentType": "BLUE_GREEN",
    }
    assert sorted(group["AutoRollbackConfiguration"]["Events"]) == [
        "DEPLOYMENT_FAILURE",
        "DEPLOYMENT_STOP_ON_ALARM",
        "DEPLOYMENT_STOP_ON_REQUEST",
    ]
    alarms = json.dumps(group["AlarmConfiguration"])
    assert group["AlarmConfiguration"]["Enabled"] is True
    assert len(group["AlarmConfiguration"]["Alarms"]) == 3
    for member in ("GatewayErrorRate", "FunctionErrors", "Throttles"):
        assert member in alarms
    alias = next(iter(gateway.find_resources("AWS::Lambda::Alias").values()))
    assert "CodeDeployLambdaAliasUpdate" in alias["UpdatePolicy"]  # CodeDeploy moves `live`
    versions = gateway.find_resources("AWS::Lambda::Version")
    assert len(versions) == 1
    version = next(iter(versions.values()))
    assert version["DeletionPolicy"] == version["UpdateReplacePolicy"] == "Retain"  # rollback targets stay


def _gateway_asset(prod):
    assets = [p for p in prod["outdir"].iterdir() if p.is_dir() and (p / "run.sh").exists()]
    assert len(assets) == 1  # one asset shared by the three regions
    return assets[0]


def test_asset_content_and_size_within_budget(prod) -> None:
    from infra.asset import ASSET_BUDGET_BYTES, ASSET_BUDGET_UNSTRIPPED_BYTES, MARKER, directory_size

    asset = _gateway_asset(prod)
    assert (asset / "run.sh").exists() and (asset / "gateway.toml").exists()
    assert (asset / "switchboard" / "edge" / "server.py").exists()
    assert (asset / "switchboard" / "lambda_handler.py").exists()
    assert not (asset / "switchboard" / "devtools").exists()
    assert any(asset.glob("uvloop/*aarch64*.so")), "wheels are for the target architecture"
    assert not list(asset.glob("boto3")), "boto3 comes from the Lambda runtime"
    # no pip-compiled bytecode of the build machine's interpreter, no sources of extensions, no tests
    assert not list(asset.rglob("*.cpython-311.pyc"))
    assert not [p for p in asset.rglob("*") if p.suffix in (".c", ".pyx", ".pxd", ".pyi", ".h")]
    assert not [p for p in asset.rglob("*") if p.is_dir() and p.name in ("tests", "test")]
    assert not (asset / "aws_lambda_powertools" / "event_handler").exists()
    marker = json.loads((asset / MARKER).read_text())
    compiled = list(asset.rglob("*.cpython-312.pyc"))
    if marker["bytecode"] == "cpython-312":
        assert (asset / "switchboard" / "edge" / "__pycache__" / "server.cpython-312.pyc").exists()
        assert len(compiled) > 500
    else:  # a machine without CPython 3.12: source-only, and the asset says so
        assert marker["bytecode"] is None and not compiled
    uvloop = next(asset.glob("uvloop/loop.*.so")).stat().st_size
    if marker["stripped"]:
        assert uvloop < 4_000_000  # 16 MB with debug info
    budget = ASSET_BUDGET_BYTES if marker["stripped"] else ASSET_BUDGET_UNSTRIPPED_BYTES
    size = directory_size(asset)
    print(f"asset size: {size / 1e6:.1f} MB unzipped (budget {budget / 1e6:.0f} MB), marker {marker}")
    assert size <= budget


def test_pruned_powertools_still_reads_a_secret(prod, tmp_path) -> None:
    """The asset's pruned Powertools (pure Python) reads a secret as the gateway does (moto)."""
    import subprocess
    import sys

    asset = _gateway_asset(prod)
    pure = tmp_path / "pure"
    pure.mkdir()
    for name in ("aws_lambda_powertools", "jmespath", "typing_extensions.py"):
        src = asset / name
        (pure / name).symlink_to(src, target_is_directory=src.is_dir())
    code = (
        "import sys, boto3\n"
        "from moto import mock_aws\n"
        "with mock_aws():\n"
        "    boto3.client('secretsmanager').create_secret(Name='s', SecretString='v')\n"
        "    from aws_lambda_powertools.utilities import parameters\n"
        "    assert parameters.get_secret('s', max_age=300) == 'v'\n"
        "    import aws_lambda_powertools\n"
        f"    assert aws_lambda_powertools.__file__.startswith({str(pure)!r}), aws_lambda_powertools.__file__\n"
    )
    env = {
        "PYTHONPATH": str(pure),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]


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
        assert behaviour["CachePolicyId"] == CACHING_DISABLED
        assert behaviour["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST
        assert behaviour["ViewerProtocolPolicy"] == "https-only"
        assert behaviour["FunctionAssociations"][0]["EventType"] == "viewer-request"
    assert behaviours["/v1/*"]["TargetOriginId"] == "us-east-1"
    edge.resource_count_is("AWS::CloudFront::CachePolicy", 0)
    assert config["WebACLId"]
    edge.resource_count_is("AWS::WAFv2::WebACL", 1)


def test_origins_connect_fast_so_a_dead_region_holds_a_request_seconds_not_half_a_minute(templates) -> None:
    edge = templates["edge"]
    config = next(iter(edge.find_resources("AWS::CloudFront::Distribution").values()))["Properties"][
        "DistributionConfig"
    ]
    assert len(config["Origins"]) == len(REGIONS)
    for origin in config["Origins"]:
        assert origin["ConnectionAttempts"] == 2 and origin["ConnectionTimeout"] == 2  # defaults 3 x 10 s


def test_waf_rules_logging_with_credentials_redacted_and_cloudfront_logs(templates) -> None:
    edge = templates["edge"]
    acl = next(iter(edge.find_resources("AWS::WAFv2::WebACL").values()))["Properties"]
    rules = {r["Name"]: r for r in acl["Rules"]}
    assert sorted(r["Priority"] for r in rules.values()) == list(range(len(rules)))
    per_ip = rules["rate-limit-per-ip-1min"]["Statement"]["RateBasedStatement"]
    assert per_ip["EvaluationWindowSec"] == 60 and per_ip["AggregateKeyType"] == "IP"
    assert rules["rate-limit-per-ip"]["Statement"]["RateBasedStatement"]["EvaluationWindowSec"] == 300
    for name, header in (
        ("rate-limit-per-key-1min", "authorization"),
        ("rate-limit-per-x-api-key-1min", "x-api-key"),
    ):
        statement = rules[name]["Statement"]["RateBasedStatement"]
        assert statement["AggregateKeyType"] == "CUSTOM_KEYS" and statement["EvaluationWindowSec"] == 60
        assert statement["CustomKeys"][0]["Header"]["Name"] == header
        assert rules[name]["Action"] == {"Block": {}}
    managed = {
        r["Statement"]["ManagedRuleGroupStatement"]["Name"]: r["OverrideAction"]
        for r in rules.values()
        if "ManagedRuleGroupStatement" in r["Statement"]
    }
    assert managed == {
        "AWSManagedRulesAmazonIpReputationList": {"None": {}},
        "AWSManagedRulesKnownBadInputsRuleSet": {"None": {}},
        "AWSManagedRulesAnonymousIpList": {"Count": {}},  # counted, not blocked
    }
    logging = next(iter(edge.find_resources("AWS::WAFv2::LoggingConfiguration").values()))["Properties"]
    assert logging["RedactedFields"] == [
        {"SingleHeader": {"Name": "authorization"}},
        {"SingleHeader": {"Name": "x-api-key"}},
    ]
    edge.has_resource_properties(
        "AWS::Logs::LogGroup", {"LogGroupName": "aws-waf-logs-switchboard-prod-edge"}
    )
    config = next(iter(edge.find_resources("AWS::CloudFront::Distribution").values()))["Properties"][
        "DistributionConfig"
    ]
    assert config["Logging"]["Prefix"] == "cloudfront/" and "IncludeCookies" not in config["Logging"]
    bucket = next(iter(edge.find_resources("AWS::S3::Bucket").values()))["Properties"]
    assert bucket["PublicAccessBlockConfiguration"]["BlockPublicAcls"] is True
    assert bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 90


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
        assert origin["ResponseCompletionTimeout"] == 900  # the function's timeout: nothing runs longer
        assert origin["OriginCustomHeaders"] == [
            {
                "HeaderName": "x-switchboard-origin",
                "HeaderValue": "{{resolve:secretsmanager:switchboard/prod/origin:SecretString:current::}}",
            }
        ]
        # the bare host output of the region's stack, used as it is (no Fn::Split over it: E1017)
        assert origin["DomainName"] == {
            "Fn::GetStackOutput": {
                "StackName": f"Switchboard-prod-Gateway-{region}",
                "OutputName": "OriginHost",
                "Region": region,
            }
        }


@pytest.mark.parametrize("region", REGIONS)
def test_gateway_outputs_the_bare_host_and_not_the_url(templates, region: str) -> None:
    outputs = templates[f"gateway-{region}"].to_json()["Outputs"]
    assert "FunctionUrl" not in outputs  # the raw URL bypasses WAF
    url_id = next(iter(templates[f"gateway-{region}"].find_resources("AWS::Lambda::Url")))
    assert outputs["OriginHost"]["Value"] == {
        "Fn::Select": [2, {"Fn::Split": ["/", {"Fn::GetAtt": [url_id, "FunctionUrl"]}]}]
    }
    assert not [
        o for o in outputs.values() if "FunctionUrl" in json.dumps(o) and o is not outputs["OriginHost"]
    ]


# What CloudFront sends to the origin, per its documented rules, for the synthesized behaviour:
# with any cache policy other than CachingDisabled, `Authorization` on GET/HEAD is dropped unless the
# cache policy puts it in the cache key; with CachingDisabled the origin request policy decides.
MANAGED_ORIGIN_REQUEST = {
    ALL_VIEWER_EXCEPT_HOST: {"forward": "allViewer", "except": {"host"}, "cloudfront": True}
}


def _headers_at_origin(
    behaviour: dict, method: str, headers: dict[str, str], cache_key: set[str]
) -> dict[str, str]:
    policy = MANAGED_ORIGIN_REQUEST[behaviour["OriginRequestPolicyId"]]
    out = {k: v for k, v in headers.items() if k.lower() not in policy["except"]}
    if (
        method in ("GET", "HEAD")
        and behaviour["CachePolicyId"] != CACHING_DISABLED
        and "authorization" not in cache_key
    ):
        out.pop("authorization", None)
    return out


def test_get_with_a_bearer_token_reaches_the_origin(templates) -> None:
    edge = templates["edge"]
    config = next(iter(edge.find_resources("AWS::CloudFront::Distribution").values()))["Properties"][
        "DistributionConfig"
    ]
    headers = {
        "authorization": "Bearer sb-test",
        "host": "d.cloudfront.net",
        "cloudfront-viewer-country": "DE",
    }
    for behaviour in [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]:
        sent = _headers_at_origin(behaviour, "GET", headers, cache_key=set())
        assert sent["authorization"] == "Bearer sb-test"  # models.list() with a key
        assert "host" not in sent and sent["cloudfront-viewer-country"] == "DE"
    # the rule the test encodes: the old custom cache policy would have stripped it
    old = {**config["DefaultCacheBehavior"], "CachePolicyId": "custom"}
    assert "authorization" not in _headers_at_origin(
        old, "GET", headers, cache_key={"cloudfront-viewer-country"}
    )


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
    for needle in (
        "OverheadMs",
        "AWS/CloudFront",
        "5xxErrorRate",
        "4xxErrorRate",
        "AWS/WAFV2",
        "BlockedRequests",
    ):
        assert needle in body, needle


def test_edge_alarms_cloudfront_waf_and_prober(templates) -> None:
    edge = templates["edge"]
    alarms = {
        a["Properties"].get("AlarmName", key): a["Properties"]
        for key, a in edge.find_resources("AWS::CloudWatch::Alarm").items()
    }
    cf = json.dumps(alarms["switchboard-prod-edge-CloudFront5xxRate"])
    assert '"Namespace": "AWS/CloudFront"' in cf and '"MetricName": "5xxErrorRate"' in cf
    assert '{"Name": "Region", "Value": "Global"}' in cf
    waf = json.dumps(alarms["switchboard-prod-edge-WafBlocks"])
    assert '"Namespace": "AWS/WAFV2"' in waf and '"MetricName": "BlockedRequests"' in waf
    assert '{"Name": "WebACL", "Value": "switchboard-prod-edge"}' in waf
    edge.has_resource_properties("AWS::WAFv2::WebACL", {"Name": "switchboard-prod-edge"})
    prober = [p for name, p in alarms.items() if "ProberErrors" in name]
    assert len(prober) == 1 and prober[0]["TreatMissingData"] == "breaching"  # a prober that stops is seen
    four = json.dumps(alarms["switchboard-prod-edge-CloudFront4xxRate"])
    assert '"MetricName": "4xxErrorRate"' in four  # a botched origin-secret rotation answers 403 everywhere
    assert len(alarms) == 4
    assert edge.find_resources("AWS::SNS::Topic") == {}  # us-east-1's topic is the gateway stack's
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == alarm["OKActions"], alarm
        assert "switchboard-prod-alarms" in json.dumps(alarm["AlarmActions"])


def test_region_prober_schedule_permissions_and_environment(templates) -> None:
    edge = templates["edge"]
    functions = {k: v["Properties"] for k, v in edge.find_resources("AWS::Lambda::Function").items()}
    prober = next(p for p in functions.values() if p["Handler"] == "handler.handler")
    assert prober["ReservedConcurrentExecutions"] == 1 and prober["Runtime"] == "python3.12"
    variables = prober["Environment"]["Variables"]
    assert json.loads(variables["REGIONS"]) == REGIONS
    assert json.loads(variables["HEALTH_ALARMS"])["eu-west-1"] == [
        "switchboard-prod-eu-west-1-GatewayErrorRate",
        "switchboard-prod-eu-west-1-FunctionErrors",
        "switchboard-prod-eu-west-1-Throttles",
    ]
    assert variables["VOTER"] == "us-east-1" and json.loads(variables["VOTERS"]) == ["us-east-1", "eu-west-1"]
    edge.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(1 minute)"})
    statements = [
        s
        for p in edge.find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    kvs = next(s for s in statements if "cloudfront-keyvaluestore:UpdateKeys" in s["Action"])
    assert "Fn::GetAtt" in json.dumps(kvs["Resource"])  # the store's ARN, not *
    describe = next(s for s in statements if s["Action"] == "cloudwatch:DescribeAlarms")
    assert len(describe["Resource"]) == 3 * len(REGIONS)
    metrics = next(s for s in statements if s["Action"] == "cloudwatch:GetMetricData")
    assert metrics["Resource"] == "*"  # GetMetricData has no resource-level permissions (nag: reasoned)


def test_a_second_prober_votes_from_another_region(templates) -> None:
    """One prober in us-east-1 cannot tell its own network trouble from a region failure."""
    stack = templates["prober-eu-west-1"]
    prober = next(iter(stack.find_resources("AWS::Lambda::Function").values()))["Properties"]
    variables = prober["Environment"]["Variables"]
    assert variables["VOTER"] == "eu-west-1" and json.loads(variables["VOTERS"]) == ["us-east-1", "eu-west-1"]
    rendered = json.dumps(variables)
    assert "Fn::GetStackOutput" in rendered and "Switchboard-prod-Edge" in rendered
    stack.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(1 minute)"})
    alarm = next(iter(stack.find_resources("AWS::CloudWatch::Alarm").values()))["Properties"]
    assert alarm["AlarmActions"] == alarm["OKActions"] and "switchboard-prod-alarms" in json.dumps(
        alarm["AlarmActions"]
    )


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


def test_every_suppression_is_per_resource_has_a_reason_and_is_used(prod) -> None:
    import csv
    from collections import Counter

    rows: set[tuple[str, str]] = set()  # (rule, resource path) where a suppression silenced a finding
    for path in prod["outdir"].glob("AwsSolutions-*-NagReport.csv"):
        with path.open() as fh:
            rows |= {
                (r["Rule ID"], r["Resource ID"])
                for r in csv.DictReader(fh)
                if r["Compliance"] == "Suppressed"
            }
    suppressed = Counter((resource.split("/")[0], rule) for rule, resource in rows)
    declared: Counter[tuple[str, str]] = Counter()
    for path in prod["outdir"].glob("*.template.json"):
        template = json.loads(path.read_text())
        assert "cdk_nag" not in json.dumps(template.get("Metadata", {}))  # never stack-wide
        stack = path.name.removesuffix(".template.json")
        for resource in template["Resources"].values():
            for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
                assert len(rule["reason"]) >= 20, rule
                declared[(stack, rule["id"])] += 1
    assert declared == suppressed  # each suppression silences a finding on its resource: none is dead
    assert sum(declared.values()) >= 8


def test_cdk_nag_runs_in_app_py() -> None:
    import ast
    from pathlib import Path

    tree = ast.parse((Path(__file__).resolve().parents[2] / "app.py").read_text())
    assert "AwsSolutionsChecks" in {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


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
    from pathlib import Path

    templates = sorted(str(p) for p in prod["outdir"].glob("*.template.json"))
    assert len(templates) == 6
    for path in templates:  # no rule is ignored anywhere
        assert "cfn-lint" not in Path(path).read_text()
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", "--", *templates],
        capture_output=True,
        text=True,
        check=False,
    )
    # exit code: 2 = errors, 4 = warnings, 8 = informational (anything else: cfn-lint itself failed)
    assert result.returncode & ~(4 | 8) == 0, (
        result.returncode,
        result.stdout[-3000:],
        result.stderr[-3000:],
    )
    errors = [line for line in result.stdout.splitlines() if ":E" in line]
    assert errors == [], "\n".join(errors)
    print(f"cfn-lint: 0 errors, {sum(':W' in line for line in result.stdout.splitlines())} warnings")
