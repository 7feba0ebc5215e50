"""The gradual multi-region deploy (`scripts/deploy -c env=prod`): one region first, the rest only
after it is healthy, then the edge and the second prober.

Steps (each a `cdk deploy <stack> --exclusively`, with a strict synth: an environment that would
page nobody fails, and the asset must be compiled to bytecode):

1. the data stack (table, origin secret);
2. the first gateway region (`--first`, default the primary). CodeDeploy shifts 10 % of its `live`
   alias to the new version for 5 minutes (canary) and rolls back by itself when the region's health
   alarms fire; CloudFormation waits for that deployment, so `cdk deploy` returns only once the new
   version carries all traffic (or fails, with the old version back in place);
3. a bake: the region's `RegionUnhealthy` composite alarm must stay OK for `--bake-minutes`;
4. every other gateway region (CodeDeploy canary in each), then the same check for each;
5. the edge stack (router, WAF, probers), then the probers outside us-east-1.

`--dry-run` prints the plan and needs no credentials. The planning is a pure function (tested).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from infra.config import EDGE_REGION, EnvironmentConfig, load_environment

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Step:
    kind: str
    """`deploy` (a stack) or `check` (a region's RegionUnhealthy alarm stays OK)."""
    target: str
    region: str


def plan(env: EnvironmentConfig, first: str | None = None) -> list[Step]:
    first = first or env.primary_region
    if first not in env.regions:
        raise ValueError(f"--first {first}: not one of {', '.join(env.regions)}")
    rest = [r for r in env.regions if r != first]
    steps = [Step("deploy", env.stack_name("Data"), env.primary_region)]
    for region in (first, *rest):
        steps.append(Step("deploy", env.stack_name(f"Gateway-{region}"), region))
        steps.append(Step("check", f"switchboard-{env.name}-{region}-RegionUnhealthy", region))
    steps.append(Step("deploy", env.stack_name("Edge"), EDGE_REGION))
    steps += [Step("deploy", env.stack_name(f"Prober-{r}"), r) for r in env.probers if r != EDGE_REGION]
    return steps


def _alarm_state(name: str, region: str) -> str:  # pragma: no cover - needs an AWS account
    import boto3

    found = boto3.client("cloudwatch", region_name=region).describe_alarms(
        AlarmNames=[name], AlarmTypes=["CompositeAlarm"]
    )["CompositeAlarms"]
    return str(found[0]["StateValue"]) if found else "MISSING"


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - runs cdk against an account
    parser = argparse.ArgumentParser(prog="scripts/deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--context", action="append", default=[], help="env=<name> (as for cdk)")
    parser.add_argument("--first", help="the region deployed and checked first (default: primary)")
    parser.add_argument("--bake-minutes", type=float, default=10.0)
    parser.add_argument("--dry-run", action="store_true", help="print the plan only")
    args = parser.parse_args(argv)
    context = dict(item.split("=", 1) for item in args.context)
    cdk_context = json.loads((ROOT / "cdk.json").read_text())["context"]
    name = context.get("env", cdk_context.get("env", "dev"))
    env = load_environment(cdk_context, name)
    steps = plan(env, args.first)
    for number, step in enumerate(steps, 1):
        print(f"{number:2}. {step.kind:6} {step.target} ({step.region})")
    if args.dry_run:
        return 0
    cdk_args = [f"-c{k}={v}" for k, v in context.items()] + ["-c", "require_bytecode=true"]
    environ = {**os.environ, "SWITCHBOARD_STRICT_SYNTH": "1"}
    for step in steps:
        if step.kind == "deploy":
            print(f"==> deploying {step.target}", flush=True)
            command = ["npx", "--no-install", "cdk", "deploy", step.target, "--exclusively"]
            command += ["--require-approval", "never", "--no-notices", *cdk_args]
            if subprocess.run(command, cwd=ROOT, env=environ, check=False).returncode:
                print(
                    f"!! {step.target} failed (CodeDeploy rolled the alias back). Stop here: docs/runbook.md"
                )
                return 1
            continue
        print(f"==> {step.target} must stay OK for {args.bake_minutes:g} minutes", flush=True)
        deadline = time.monotonic() + args.bake_minutes * 60
        while time.monotonic() < deadline:
            state = _alarm_state(step.target, step.region)
            if state != "OK":
                print(f"!! {step.target} is {state}: stop; roll back by hand if CodeDeploy did not (runbook)")
                return 1
            time.sleep(30)
    print("deployed: every region healthy")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
