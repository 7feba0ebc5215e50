"""RegionProber: a scheduled Lambda (every minute) that votes to evacuate a failing region in the
KeyValueStore and to restore it once healthy again (logic: infra/prober/health.py). One runs in the
edge stack (us-east-1) and one in a second region's prober stack: a region moves on two votes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import jsii
from aws_cdk import ArnFormat, BundlingOptions, DockerImage, Duration, ILocalBundling, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.asset import PLATFORMS, _digest, recipe_bytes
from infra.constructs.function import _ARCH, RETENTION

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "infra" / "prober"
SCHEDULE = Duration.minutes(1)


def _prober_files() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(SOURCE.glob("*.py")) if p.name != "__init__.py"}


def prober_hash(architecture: str) -> str:
    files = _prober_files()
    return _digest(
        b"prober",
        architecture.encode(),
        recipe_bytes(),
        Path(__file__).read_bytes(),
        (SOURCE / "requirements.txt").read_bytes(),
        *(part for name, content in files.items() for part in (name.encode(), content)),
    )


def build_prober(architecture: str, cache_dir: Path | None = None) -> Path:
    cache_dir = cache_dir or ROOT / ".build"
    out = cache_dir / f"prober-{architecture}-{prober_hash(architecture)}"
    if (out / ".complete").exists():
        return out
    work = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
            "--no-compile", "--target", str(work), "--platform", PLATFORMS[architecture],
            "--implementation", "cp", "--python-version", "3.12", "--only-binary=:all:",
            "-r", str(SOURCE / "requirements.txt"),
        ],
        check=True,
    )  # fmt: skip
    shutil.rmtree(work / "bin", ignore_errors=True)
    for name, content in _prober_files().items():
        (work / name).write_bytes(content)
    (work / ".complete").write_text("ok\n")
    shutil.rmtree(out, ignore_errors=True)
    work.rename(out)
    for old in sorted(cache_dir.glob(f"prober-{architecture}-*"), key=lambda p: p.stat().st_mtime)[:-2]:
        if ".tmp" not in old.name:
            shutil.rmtree(old, ignore_errors=True)
    return out


@jsii.implements(ILocalBundling)
class _LocalBundler:
    def __init__(self, architecture: str) -> None:
        self._architecture = architecture

    def try_bundle(self, output_dir: str, *_: object, **__: object) -> bool:
        built = build_prober(self._architecture)
        shutil.copytree(built, output_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".complete"))
        return True


class RegionProber(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        architecture: str,
        health_store_arn: str,
        distribution_domain: str,
        health_alarms: Mapping[str, Sequence[str]],
        log_retention_days: int,
        voter: str,
        voters: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        log_group = logs.LogGroup(self, "Logs", retention=RETENTION[log_retention_days])
        role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        self.role = role
        log_group.grant_write(role)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=_ARCH[architecture],
            handler="handler.handler",
            code=lambda_.Code.from_asset(
                str(SOURCE),
                asset_hash=prober_hash(architecture),
                bundling=BundlingOptions(
                    image=DockerImage.from_registry("docker-is-not-used"), local=_LocalBundler(architecture)
                ),
            ),
            memory_size=256,
            timeout=Duration.seconds(50),
            reserved_concurrent_executions=1,  # one run at a time: runs never race each other
            role=role,
            log_group=log_group,
            environment={
                "REGIONS": json.dumps(list(health_alarms)),
                "HEALTH_ALARMS": json.dumps({r: list(names) for r, names in health_alarms.items()}),
                "KVS_ARN": health_store_arn,
                "DISTRIBUTION_DOMAIN": distribution_domain,
                "VOTER": voter,
                "VOTERS": json.dumps(list(voters)),
            },
            description="Switchboard: evacuate and restore regions in the routing KeyValueStore",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "cloudfront-keyvaluestore:DescribeKeyValueStore",
                    "cloudfront-keyvaluestore:ListKeys",
                    "cloudfront-keyvaluestore:UpdateKeys",
                ],
                resources=[health_store_arn],
            )
        )
        # GetMetricData has no resource-level permissions (IAM: "*" only); read-only metrics
        self.metrics_statement = iam.PolicyStatement(actions=["cloudwatch:GetMetricData"], resources=["*"])
        role.add_to_policy(self.metrics_statement)
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:DescribeAlarms"],
                resources=[
                    stack.format_arn(
                        service="cloudwatch",
                        region=region,
                        resource="alarm",
                        resource_name=name,
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                    for region, names in health_alarms.items()
                    for name in names
                ],
            )
        )
        self.rule = events.Rule(
            self,
            "Schedule",
            schedule=events.Schedule.rate(SCHEDULE),
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],
            description="Switchboard region health prober",
        )
        self.errors_alarm = cw.Alarm(
            self,
            "ProberErrors",
            metric=self.function.metric_errors(statistic="Sum", period=Duration.minutes(5)),
            threshold=3,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.BREACHING,
            alarm_description="The region health prober fails or does not run: automatic evacuation is off",
        )
