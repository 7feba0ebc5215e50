"""One stack per deployment unit: data (primary region), gateway (per region), edge (us-east-1), and a
prober stack for each health prober outside us-east-1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.asset import GatewayAsset
from infra.config import EDGE_REGION, DeployConfigError, EnvironmentConfig
from infra.constructs.dashboard import (
    HEALTH_ALARMS,
    EdgeMetrics,
    GlobalDashboard,
    LatencyDashboard,
    alarm_name,
)
from infra.constructs.edge import ORIGIN_READ_TIMEOUT_S, EdgeDistribution
from infra.constructs.function import GatewayFunction, GradualRollout
from infra.constructs.paging import AlarmTopic, existing_topic, notify
from infra.constructs.prober import RegionProber
from infra.constructs.table import GatewayTable
from infra.gateway_config import (
    BedrockResources,
    bedrock_resources,
    check_attempt_budget,
    load_gateway_config,
)

ROOT = Path(__file__).resolve().parents[1]
TABLE_LOGICAL_ID = "GatewayTable"
ORIGIN_SECRET_LOGICAL_ID = "OriginSecret"
ORIGIN_HOST_OUTPUT = "OriginHost"
HEALTH_STORE_OUTPUT = "RegionHealthStoreArn"
DOMAIN_OUTPUT = "DistributionDomain"


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
            kms_key_arns=config.table_kms_key_arns,
            primary_region=config.primary_region,
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
            # Retained where the table is: a destroyed secret's fixed name stays taken for its
            # recovery window, which would block the redeploy that recovers the retained table.
            removal_policy=cdk.RemovalPolicy.RETAIN
            if config.deletion_protection
            else cdk.RemovalPolicy.DESTROY,
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
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        asset: GatewayAsset,
        bedrock: BedrockResources,
        **kwargs: Any,
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
            code=asset.code(),
            auth_mode=config.auth_mode,
            table_name=table_name(config),
            origin_secret_name=origin_secret_name(config),
            provider_secrets=config.provider_secrets,
            region_count=len(config.regions),
            bedrock=bedrock,
            store_conversations=config.store_conversations,
            cache_responses=config.cache_responses,
        )
        self.gateway = gateway
        self.topic = AlarmTopic(
            self, "Paging", env_name=config.name, notifications=config.notifications
        ).topic
        if config.open_gateway:
            cdk.Annotations.of(gateway.function).add_warning_v2(
                "switchboard:open-gateway",
                f"environment {config.name!r} sets openGateway: its /v1 endpoints serve anyone who finds "
                "the CloudFront domain, without an API key",
            )
        dashboard = LatencyDashboard(
            self,
            "Dashboard",
            region=self.region,
            alias=gateway.alias,
            function=gateway.function,
            log_group=gateway.function.log_group,
            p99_overhead_alarm_ms=config.p99_overhead_alarm_ms,
            topic=self.topic,
            env_name=config.name,
            timeout_s=config.timeout_s,
        )
        self.dashboard = dashboard
        self.rollout = GradualRollout(
            self, "Rollout", alias=gateway.alias, deployment=config.deployment, alarms=dashboard.health_alarms
        )
        NagSuppressions.add_resource_suppressions(
            self.rollout.group.role.node.default_child,  # type: ignore[arg-type]
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM4",
                    reason="AWSCodeDeployRoleForLambdaLimited is AWS's own scoped policy for CodeDeploy on "
                    "Lambda (alias updates and the deployment's hooks only); CDK attaches it to this role.",
                    applies_to=[
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited"
                    ],
                )
            ],
        )
        # The bare host of the function URL, for CloudFront only (the edge reads it with
        # Fn::GetStackOutput). The URL itself is not published: it bypasses WAF.
        cdk.CfnOutput(
            self,
            ORIGIN_HOST_OUTPUT,
            value=cdk.Fn.select(2, cdk.Fn.split("/", gateway.url.url)),
            description="CloudFront origin host of this region (not an endpoint: use the distribution)",
        )
        cdk.CfnOutput(self, "DashboardName", value=dashboard.dashboard.dashboard_name)
        acknowledge(
            gateway.function,
            (
                "AwsSolutions-L1",
                "Python 3.12 is pinned: the asset's manylinux wheels and bytecode are built for it.",
            ),
        )


class EdgeStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        hosts = {
            region: cdk.Fn.get_stack_output(
                config.stack_name(f"Gateway-{region}"), ORIGIN_HOST_OUTPUT, region
            )
            for region in config.regions
        }
        edge = EdgeDistribution(
            self,
            "Edge",
            origin_hosts=hosts,
            default_region=config.fallback_region,
            origin_secret_name=origin_secret_name(config),
            response_completion_timeout_s=config.timeout_s,
            origin_secret_version=config.origin_secret_version,
            origins_revision=config.origins_revision,
            web_acl_name=web_acl_name(config),
            waf=config.waf,
            ip_limit_per_min=config.waf_ip_limit_per_min,
            key_limit_per_min=config.waf_key_limit_per_min,
            access_logs=config.access_logs,
            log_retention_days=config.log_retention_days,
            domain_names=config.domain_names,
            certificate_arn=config.certificate_arn,
        )
        self.edge = edge
        if EDGE_REGION in config.regions:  # the us-east-1 gateway stack made this region's topic
            self.topic = existing_topic(self, "Paging", config.name)
        else:
            self.topic = AlarmTopic(
                self, "Paging", env_name=config.name, notifications=config.notifications
            ).topic
        extra_alarms = []
        if EDGE_REGION in config.probers:
            prober = RegionProber(
                self,
                "Prober",
                architecture=config.architecture,
                health_store_arn=edge.health_store.key_value_store_arn,
                distribution_domain=edge.distribution.distribution_domain_name,
                health_alarms=health_alarms(config),
                log_retention_days=config.log_retention_days,
                voter=EDGE_REGION,
                voters=config.probers,
            )
            extra_alarms.append(prober.errors_alarm)
            acknowledge_prober(prober)
        dashboard = GlobalDashboard(
            self,
            "GlobalDashboard",
            regions=list(config.regions),
            edge=EdgeMetrics(
                distribution_id=edge.distribution.distribution_id,
                web_acl_name=web_acl_name(config) if config.waf else None,
            ),
            env_name=config.name,
            topic=self.topic,
            extra_alarms=extra_alarms,
        )
        self.dashboard = dashboard
        cdk.CfnOutput(self, DOMAIN_OUTPUT, value=edge.distribution.distribution_domain_name)
        # clients bind to the custom domain when there is one, never to *.cloudfront.net
        public_host = (
            config.domain_names[0] if config.domain_names else edge.distribution.distribution_domain_name
        )
        cdk.CfnOutput(
            self,
            "GatewayUrl",
            value=f"https://{public_host}/v1",
            description="base_url for the OpenAI SDK",
        )
        cdk.CfnOutput(self, HEALTH_STORE_OUTPUT, value=edge.health_store.key_value_store_arn)
        cdk.CfnOutput(self, "GlobalDashboardName", value=dashboard.dashboard.dashboard_name)
        distribution_findings = [
            ("AwsSolutions-CFR1", "An API for every country; no geo restriction by design."),
        ]
        if not config.access_logs:
            distribution_findings.append(
                (
                    "AwsSolutions-CFR3",
                    f"access_logs is off for {config.name!r} (cost); gateway request logs and EMF "
                    "records are kept in each region.",
                )
            )
        if not config.certificate_arn:
            distribution_findings.append(
                (
                    "AwsSolutions-CFR4",
                    "No custom domain configured: the default *.cloudfront.net certificate cannot set a "
                    "minimum TLS version (set domain_names + certificate_arn for TLSv1.2_2021).",
                )
            )
        if not config.waf:
            distribution_findings.append(
                ("AwsSolutions-CFR2", f"waf is off for {config.name!r}: a cheap development environment.")
            )
        acknowledge(edge.distribution, *distribution_findings)
        if edge.log_bucket is not None:
            acknowledge(
                edge.log_bucket,
                (
                    "AwsSolutions-S1",
                    "This bucket holds the CloudFront access logs; logging its own accesses would log "
                    "the log deliveries.",
                ),
            )


class ProberStack(cdk.Stack):
    """The health prober of a second region (its vote counts with the us-east-1 prober's)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        edge = config.stack_name("Edge")
        prober = RegionProber(
            self,
            "Prober",
            architecture=config.architecture,
            health_store_arn=cdk.Fn.get_stack_output(edge, HEALTH_STORE_OUTPUT, EDGE_REGION),
            distribution_domain=cdk.Fn.get_stack_output(edge, DOMAIN_OUTPUT, EDGE_REGION),
            health_alarms=health_alarms(config),
            log_retention_days=config.log_retention_days,
            voter=self.region,
            voters=config.probers,
        )
        notify(prober.errors_alarm, existing_topic(self, "Paging", config.name))
        acknowledge_prober(prober)


def web_acl_name(config: EnvironmentConfig) -> str:
    return f"switchboard-{config.name}-edge"


def health_alarms(config: EnvironmentConfig) -> dict[str, list[str]]:
    return {r: [alarm_name(config.name, r, a) for a in HEALTH_ALARMS] for r in config.regions}


def acknowledge_prober(prober: RegionProber) -> None:
    acknowledge(prober.function, ("AwsSolutions-L1", "Python 3.12 is pinned, as for the gateway."))
    NagSuppressions.add_resource_suppressions(
        prober.role.node.find_child("DefaultPolicy").node.default_child,  # type: ignore[arg-type]
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason="cloudwatch:GetMetricData has no resource-level permissions (read-only metrics "
                "of the regions' provider failure rates).",
                applies_to=["Resource::*"],
            )
        ],
    )


def acknowledge(scope: Construct, *rules: tuple[str, str]) -> None:
    """Suppress cdk-nag findings on one resource (an L2's own CloudFormation resource), each with
    its reason; never on a stack or a subtree."""
    resource = scope.node.default_child or scope
    assert isinstance(resource, cdk.CfnResource), scope.node.path
    NagSuppressions.add_resource_suppressions(
        resource,
        [NagPackSuppression(id=rule, reason=reason) for rule, reason in rules],
        apply_to_children=False,
    )


def _pin(construct: Construct, logical_id: str) -> None:
    """Stateful resources keep their logical IDs whatever the construct tree becomes (tested)."""
    child = construct.node.default_child
    assert isinstance(child, cdk.CfnResource)
    child.override_logical_id(logical_id)


def build_stacks(app: cdk.App, config: EnvironmentConfig) -> dict[str, cdk.Stack]:
    account = config.account
    gateway_config_path = ROOT / config.gateway_config
    gateway_config = load_gateway_config(gateway_config_path)
    mocks = sorted(name for name, p in gateway_config.providers.items() if p.type == "mock")
    if config.production and mocks:
        raise DeployConfigError(
            f"environments.{config.name}: {config.gateway_config} defines mock provider(s) "
            f"{', '.join(mocks)}; a production environment serves real models only "
            "(deploy/gateway-dev.toml has the mocks)"
        )
    check_attempt_budget(gateway_config, ORIGIN_READ_TIMEOUT_S, source=config.gateway_config)
    bedrock = bedrock_resources(gateway_config)
    # One asset (one hash, one content) for every region, fixed now: files edited during the synth
    # cannot give two regions different code.
    asset = GatewayAsset(config.architecture, gateway_config_path, require_bytecode=config.require_bytecode)
    data = DataStack(
        app,
        config.stack_name("Data"),
        config=config,
        env=cdk.Environment(account=account, region=config.primary_region),
    )
    stacks: dict[str, cdk.Stack] = {"data": data}
    for region in config.regions:
        gateway = GatewayStack(
            app,
            config.stack_name(f"Gateway-{region}"),
            config=config,
            asset=asset,
            bedrock=bedrock,
            env=cdk.Environment(account=account, region=region),
        )
        gateway.add_stack_dependency(data)
        stacks[f"gateway-{region}"] = gateway
    edge = EdgeStack(
        app,
        config.stack_name("Edge"),
        config=config,
        env=cdk.Environment(account=account, region=EDGE_REGION),
    )
    for region in config.regions:
        edge.add_stack_dependency(stacks[f"gateway-{region}"])
    stacks["edge"] = edge
    for region in config.probers:
        if region == EDGE_REGION:
            continue
        prober = ProberStack(
            app,
            config.stack_name(f"Prober-{region}"),
            config=config,
            env=cdk.Environment(account=account, region=region),
        )
        prober.add_stack_dependency(edge)
        stacks[f"prober-{region}"] = prober
    for stack in stacks.values():
        cdk.Tags.of(stack).add("project", "switchboard")
        cdk.Tags.of(stack).add("environment", config.name)
    return stacks
