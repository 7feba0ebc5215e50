"""GatewayFunction: the gateway on Lambda with response streaming through the Lambda Web Adapter,
an alias whose provisioned concurrency is owned by a target-tracking scalable target, and a function
URL on the alias. Versions are retained (a rollback has somewhere to go back to); `GradualRollout`
moves the alias to a new version through CodeDeploy (canary or linear) and rolls back by itself when
the region's health alarms fire."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.gateway_config import BEDROCK_INVOKE_ACTIONS, BedrockResources

LWA_ACCOUNT = "753240598075"
LWA_VERSION = 27
_LWA_LAYER = {"arm64": "LambdaAdapterLayerArm64", "x86_64": "LambdaAdapterLayerX86"}
_ARCH = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}
PORT = "8080"


class GatewayFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        architecture: str,
        memory_mb: int,
        timeout_s: int,
        provisioned_min: int,
        provisioned_max: int,
        reserved_concurrency: int | None,
        log_retention_days: int,
        code: lambda_.Code,
        auth_mode: str,
        table_name: str,
        origin_secret_name: str,
        provider_secrets: Sequence[str],
        region_count: int = 1,
        bedrock: BedrockResources | None = None,
        store_conversations: bool = True,
        cache_responses: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        log_group = logs.LogGroup(self, "Logs", retention=RETENTION[log_retention_days])
        role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        log_group.grant_write(role)
        layer = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "WebAdapter",
            f"arn:aws:lambda:{stack.region}:{LWA_ACCOUNT}:layer:{_LWA_LAYER[architecture]}:{LWA_VERSION}",
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=_ARCH[architecture],
            handler="run.sh",
            code=code,
            memory_size=memory_mb,
            timeout=Duration.seconds(timeout_s),
            layers=[layer],
            role=role,
            log_group=log_group,
            reserved_concurrent_executions=reserved_concurrency,
            environment={
                "AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
                "AWS_LWA_INVOKE_MODE": "response_stream",
                "AWS_LWA_PORT": PORT,
                "AWS_LWA_READINESS_CHECK_PATH": "/healthz",
                "SWITCHBOARD_CONFIG": "/var/task/gateway.toml",
                # required (default): /v1 answers 401 (or 503 naming the fix) while the store holds no
                # key; open only with cdk.json `openGateway: true` for the environment.
                "SWITCHBOARD_AUTH": auth_mode,
                "SWITCHBOARD_ORIGIN_SECRET": origin_secret_name,
                "SWITCHBOARD_TABLE": table_name,
                "SWITCHBOARD_REGION_COUNT": str(region_count),
                # data residency: "off" keeps stored conversations / cached answers out of the
                # (replicated) table
                "SWITCHBOARD_STORE_CONVERSATIONS": "on" if store_conversations else "off",
                "SWITCHBOARD_CACHE": "on" if cache_responses else "off",
                "PYTHONDONTWRITEBYTECODE": "1",
            },
            description="Switchboard AI gateway (Lambda Web Adapter, response streaming)",
            # Old versions stay when a new one is published: CodeDeploy (and an operator) can move
            # `live` back to them (docs/runbook.md, "Roll back").
            current_version_options=lambda_.VersionOptions(removal_policy=RemovalPolicy.RETAIN),
        )
        # No ProvisionedConcurrencyConfig on the alias: the scalable target alone owns the capacity
        # (it scales the alias to min_capacity when registered). Setting both would reset any
        # scaled-out capacity to the minimum on every deploy.
        self.alias = lambda_.Alias(self, "Live", alias_name="live", version=self.function.current_version)
        if provisioned_max > 0:  # 0: on-demand only (dev: nothing billed while idle)
            scaling = self.alias.add_auto_scaling(min_capacity=provisioned_min, max_capacity=provisioned_max)
            scaling.scale_on_utilization(utilization_target=0.7)
        # The URL is on the alias: a $LATEST URL never uses provisioned concurrency.
        self.url = self.alias.add_function_url(
            auth_type=lambda_.FunctionUrlAuthType.NONE, invoke_mode=lambda_.InvokeMode.RESPONSE_STREAM
        )
        table_arn = stack.format_arn(service="dynamodb", resource="table", resource_name=table_name)
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:Query",
                ],
                resources=[table_arn],
            )
        )
        secret_arns = [
            stack.format_arn(
                service="secretsmanager",
                resource="secret",
                resource_name=f"{name}-??????",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for name in (origin_secret_name, *provider_secrets)
        ]
        role.add_to_policy(
            iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=secret_arns)
        )
        self.bedrock_statement: iam.PolicyStatement | None = None
        if bedrock:
            # Exactly the models and inference profiles deploy/gateway.toml names (tests pin them).
            self.bedrock_statement = iam.PolicyStatement(
                actions=list(BEDROCK_INVOKE_ACTIONS), resources=bedrock.arns(stack.account)
            )
            role.add_to_policy(self.bedrock_statement)


DEPLOYMENT_CONFIGS = {
    "canary": codedeploy.LambdaDeploymentConfig.CANARY_10_PERCENT_5_MINUTES,
    "linear": codedeploy.LambdaDeploymentConfig.LINEAR_10_PERCENT_EVERY_1_MINUTE,
    "all-at-once": codedeploy.LambdaDeploymentConfig.ALL_AT_ONCE,
}


class GradualRollout(Construct):
    """A CodeDeploy deployment group on the `live` alias: a new version takes 10 % of the traffic for
    5 minutes (canary) or 10 % more every minute (linear) and the deployment rolls back by itself
    (alias back on the previous version) when any of `alarms` goes into ALARM meanwhile, or when the
    deployment fails or is stopped."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alias: lambda_.Alias,
        deployment: str,
        alarms: Sequence[cw.IAlarm],
    ) -> None:
        super().__init__(scope, construct_id)
        self.group = codedeploy.LambdaDeploymentGroup(
            self,
            "Group",
            alias=alias,
            deployment_config=DEPLOYMENT_CONFIGS[deployment],
            alarms=list(alarms),
            auto_rollback=codedeploy.AutoRollbackConfig(
                failed_deployment=True, stopped_deployment=True, deployment_in_alarm=True
            ),
        )


RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}
