"""One stack per deployment unit: data (primary region), gateway (per region), edge (us-east-1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.config import EDGE_REGION, EnvironmentConfig
from infra.constructs.dashboard import GlobalDashboard, LatencyDashboard
from infra.constructs.edge import EdgeDistribution
from infra.constructs.function import GatewayFunction
from infra.constructs.table import GatewayTable

ROOT = Path(__file__).resolve().parents[1]
TABLE_LOGICAL_ID = "GatewayTable"
ORIGIN_SECRET_LOGICAL_ID = "OriginSecret"


def table_name(env: EnvironmentConfig) -> str:
    return f"switchboard-{env.name}"


def origin_secret_name(env: EnvironmentConfig) -> str:
    # A fixed name: the gateway (every region) and the edge stack find the replica by it.
    return f"switchboard/{env.name}/origin"


class DataStack(cdk.Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        others = [r for r in config.regions if r != config.primary_region]
        self.table = GatewayTable(
            self,
            "GatewayTable",
            table_name=table_name(config),
            replica_regions=others,
            deletion_protection=config.deletion_protection,
        ).table
        _pin(self.table, TABLE_LOGICAL_ID)
        secret_regions = sorted({*others, EDGE_REGION} - {config.primary_region})
        self.origin_secret = secretsmanager.Secret(
            self,
            "OriginSecret",
            secret_name=origin_secret_name(config),
            description="Switchboard: the x-switchboard-origin value CloudFront sends (current) and the one "
            "still accepted during a rotation (previous)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template='{"previous": ""}',
                generate_string_key="current",
                exclude_punctuation=True,
                password_length=48,
            ),
            replica_regions=[secretsmanager.ReplicaRegion(region=r) for r in secret_regions],
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        _pin(self.origin_secret, ORIGIN_SECRET_LOGICAL_ID)
        cdk.CfnOutput(self, "TableName", value=table_name(config))
        cdk.CfnOutput(self, "OriginSecretName", value=origin_secret_name(config))
        acknowledge(
            self.origin_secret,
            (
                "AwsSolutions-SMG4",
                "Rotated by the documented two-value procedure (current/previous) and an "
                "edge redeploy; a rotation Lambda cannot update CloudFront's origin header.",
            ),
        )


class GatewayStack(cdk.Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        gateway = GatewayFunction(
            self,
            "Gateway",
            architecture=config.architecture,
            memory_mb=config.memory_mb,
            timeout_s=config.timeout_s,
            provisioned_min=config.provisioned_min,
            provisioned_max=config.provisioned_max,
            reserved_concurrency=config.reserved_concurrency,
            log_retention_days=config.log_retention_days,
            gateway_config=ROOT / config.gateway_config,
            table_name=table_name(config),
            origin_secret_name=origin_secret_name(config),
            provider_secrets=config.provider_secrets,
            region_count=len(config.regions),
        )
        self.function_url = gateway.url.url
        dashboard = LatencyDashboard(
            self,
            "Dashboard",
            region=self.region,
            alias=gateway.alias,
            function=gateway.function,
            log_group=gateway.function.log_group,
            p99_overhead_alarm_ms=config.p99_overhead_alarm_ms,
            alarm_email=config.alarm_email,
        )
        cdk.CfnOutput(
            self,
            "FunctionUrl",
            value=self.function_url,
            description="Regional endpoint (needs the origin header)",
        )
        cdk.CfnOutput(self, "DashboardName", value=dashboard.dashboard.dashboard_name)
        acknowledge(
            self,
            (
                "AwsSolutions-L1",
                "Python 3.12 is pinned: the asset's manylinux wheels and bytecode are built for it.",
            ),
            (
                "AwsSolutions-SNS2",
                "Alarm notifications carry no sensitive data; CloudWatch alarms cannot publish "
                "to topics encrypted with the AWS managed SNS key.",
            ),
        )


class EdgeStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        function_urls: dict[str, str],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        edge = EdgeDistribution(
            self,
            "Edge",
            function_urls=function_urls,
            default_region=config.fallback_region,
            origin_secret_name=origin_secret_name(config),
            origin_secret_version=config.origin_secret_version,
        )
        dashboard = GlobalDashboard(self, "GlobalDashboard", regions=list(function_urls))
        cdk.CfnOutput(
            self,
            "GatewayUrl",
            value=f"https://{edge.distribution.distribution_domain_name}/v1",
            description="base_url for the OpenAI SDK",
        )
        cdk.CfnOutput(self, "RegionHealthStoreArn", value=edge.health_store.key_value_store_arn)
        cdk.CfnOutput(self, "GlobalDashboardName", value=dashboard.dashboard.dashboard_name)
        acknowledge(
            self,
            ("AwsSolutions-CFR1", "An API for every country; no geo restriction by design."),
            (
                "AwsSolutions-CFR3",
                "Gateway request logs and per-request EMF records are kept in each region; "
                "CloudFront standard logs would duplicate them in a bucket.",
            ),
            (
                "AwsSolutions-CFR4",
                "The default *.cloudfront.net certificate cannot set a minimum TLS version; "
                "use a custom domain and certificate to enforce TLSv1.2_2021.",
            ),
        )


def acknowledge(scope: Construct, *rules: tuple[str, str]) -> None:
    """Suppress cdk-nag findings on `scope` and its children, each with its reason."""
    NagSuppressions.add_resource_suppressions(
        scope, [NagPackSuppression(id=rule, reason=reason) for rule, reason in rules], apply_to_children=True
    )


def _pin(construct: Construct, logical_id: str) -> None:
    """Stateful resources keep their logical IDs whatever the construct tree becomes (tested)."""
    child = construct.node.default_child
    assert isinstance(child, cdk.CfnResource)
    child.override_logical_id(logical_id)


def build_stacks(app: cdk.App, config: EnvironmentConfig) -> dict[str, cdk.Stack]:
    account = config.account
    data = DataStack(
        app,
        config.stack_name("Data"),
        config=config,
        env=cdk.Environment(account=account, region=config.primary_region),
    )
    stacks: dict[str, cdk.Stack] = {"data": data}
    urls: dict[str, str] = {}
    for region in config.regions:
        gateway = GatewayStack(
            app,
            config.stack_name(f"Gateway-{region}"),
            config=config,
            env=cdk.Environment(account=account, region=region),
        )
        gateway.add_stack_dependency(data)
        stacks[f"gateway-{region}"] = gateway
        urls[region] = gateway.function_url
    edge = EdgeStack(
        app,
        config.stack_name("Edge"),
        config=config,
        function_urls=urls,
        env=cdk.Environment(account=account, region=EDGE_REGION),
    )
    for region in config.regions:
        edge.add_stack_dependency(stacks[f"gateway-{region}"])
    stacks["edge"] = edge
    for stack in stacks.values():
        cdk.Tags.of(stack).add("project", "switchboard")
        cdk.Tags.of(stack).add("environment", config.name)
    return stacks
