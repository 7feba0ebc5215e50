"""Pre-deploy checks (`scripts/preflight -c env=prod`): what each region's account has against what
the environment needs, before CloudFormation finds out halfway through a deploy.

- Lambda concurrency: the gateway reserves `reserved_concurrency` per region and Lambda keeps
  100 unreserved, so a region needs `reserved + 100` of account concurrency that no other function
  has reserved (new accounts often start far below the default 1,000). Without a reservation,
  provisioned concurrency (`provisioned_max`) must fit in the unreserved pool above those 100.
- A CPython 3.12 to compile the asset's bytecode (else the asset ships source-only).

The decision is a pure function (tested offline); `main` feeds it from the AWS API.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from infra.config import UNRESERVED_MINIMUM, EnvironmentConfig, load_environment, paging_problems

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class RegionQuota:
    region: str
    account_limit: int
    """AccountLimit.ConcurrentExecutions"""
    unreserved: int
    """AccountLimit.UnreservedConcurrentExecutions (limit minus every function's reservation)"""
    current_reservation: int = 0
    """What this environment's gateway function already reserves there (a redeploy frees it)."""


@dataclass(frozen=True)
class Verdict:
    region: str
    ok: bool
    message: str


def needed(env: EnvironmentConfig) -> int:
    """Concurrency this environment takes from each region's pool."""
    return env.reserved_concurrency if env.reserved_concurrency is not None else env.provisioned_max


def check_region(env: EnvironmentConfig, quota: RegionQuota) -> Verdict:
    want = needed(env)
    available = quota.unreserved + quota.current_reservation - UNRESERVED_MINIMUM
    what = "reserved_concurrency" if env.reserved_concurrency is not None else "provisioned_max"
    summary = (
        f"{quota.region}: account limit {quota.account_limit}, unreserved {quota.unreserved}"
        f" (this gateway holds {quota.current_reservation}); needs {what} {want} + {UNRESERVED_MINIMUM} "
        f"kept unreserved"
    )
    if want <= available:
        return Verdict(quota.region, True, f"ok   {summary}")
    return Verdict(
        quota.region,
        False,
        f"FAIL {summary}: {want - available} short. Request a Lambda 'Concurrent executions' quota of at "
        f"least {quota.account_limit + want - available} in {quota.region} (Service Quotas), or lower {what} "
        f"to {max(available, 0)} in cdk.json",
    )


def _quota(region: str, stack_name: str) -> RegionQuota:  # pragma: no cover - needs an AWS account
    import boto3

    settings = boto3.client("lambda", region_name=region).get_account_settings()["AccountLimit"]
    current = 0
    try:
        resources = boto3.client("cloudformation", region_name=region).list_stack_resources(
            StackName=stack_name
        )
        for resource in resources["StackResourceSummaries"]:
            if resource["ResourceType"] == "AWS::Lambda::Function" and resource[
                "LogicalResourceId"
            ].startswith("GatewayFunction"):
                found = boto3.client("lambda", region_name=region).get_function_concurrency(
                    FunctionName=resource["PhysicalResourceId"]
                )
                current = int(found.get("ReservedConcurrentExecutions") or 0)
    except Exception:
        current = 0
    return RegionQuota(
        region,
        int(settings["ConcurrentExecutions"]),
        int(settings["UnreservedConcurrentExecutions"]),
        current,
    )


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - needs an AWS account
    parser = argparse.ArgumentParser(prog="scripts/preflight", description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--context", action="append", default=[], help="env=<name> (as for cdk)")
    args = parser.parse_args(argv)
    context = dict(item.split("=", 1) for item in args.context)
    cdk_context = json.loads((ROOT / "cdk.json").read_text())["context"]
    env = load_environment(cdk_context, context.get("env", cdk_context.get("env", "dev")))
    from infra.asset import find_python312

    failures = 0
    python312 = find_python312()
    found = python312 or "not found: the asset ships source-only"
    print(f"{'ok  ' if python312 else 'WARN'} CPython 3.12 for bytecode: {found}")
    print(
        f"auth: SWITCHBOARD_AUTH={env.auth_mode}"
        + ("  (openGateway: anyone can call /v1!)" if env.open_gateway else "")
    )
    from botocore.exceptions import BotoCoreError, NoCredentialsError, NoRegionError

    for problem in paging_problems(env):
        failures += 1
        print(f"FAIL paging: {problem} (cdk.json notifications; docs/runbook.md, Paging)")
    try:
        for region in env.regions:
            verdict = check_region(env, _quota(region, env.stack_name(f"Gateway-{region}")))
            failures += not verdict.ok
            print(verdict.message)
    except (NoCredentialsError, NoRegionError):
        print(NO_CREDENTIALS)
        return 2
    except BotoCoreError as exc:
        print(
            f"FAIL the AWS API could not be reached ({type(exc).__name__}): check the network and credentials"
        )
        return 2
    return 1 if failures else 0


NO_CREDENTIALS = (
    "FAIL no AWS credentials: the quota checks need read access to Lambda in every region.\n"
    "     Set AWS_PROFILE=<profile> (after `aws sso login --profile <profile>`), or run `aws configure`,\n"
    "     then run scripts/preflight again. Nothing was checked against the account."
)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
