"""GatewayFunction: the gateway on Lambda with response streaming through the Lambda Web Adapter,
an alias with provisioned concurrency and target-tracking scaling, and a function URL on the alias."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.asset import gateway_code

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
        gateway_config: Path,
        table_name: str,
        origin_secret_name: str,
        provider_secrets: Sequence[str],
        region_count: int = 1,
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
            code=gateway_code(architecture, gateway_config),
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
                "SWITCHBOARD_ORIGIN_SECRET": origin_secret_name,
                "SWITCHBOARD_TABLE": table_name,
                "SWITCHBOARD_REGION_COUNT": str(region_count),
                "PYTHONDONTWRITEBYTECODE": "1",
            },
            description="Switchboard AI gateway (Lambda Web Adapter, response streaming)",
        )
        self.alias = lambda_.Alias(
            self,
            "Live",
            alias_name="live",
            version=self.function.current_version,
            provisioned_concurrent_executions=provisioned_min or None,
        )
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
                    "dynamodb:BatchGetItem",
                    "dynamodb:BatchWriteItem",
                    "dynamodb:ConditionCheckItem",
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
