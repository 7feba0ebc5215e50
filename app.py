"""CDK entry (named in cdk.json). Also runs as plain `python app.py`: then cdk.json's context is
loaded here, with `-c`/CDK_CONTEXT_JSON values from the CLI taking precedence.

    npx cdk synth -c env=prod          # or: python app.py (env=dev)
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.config import DeployConfigError, load_environment, paging_problems
from infra.stacks import build_stacks

ROOT = Path(__file__).resolve().parent


def cdk_json_context() -> dict[str, Any]:
    return dict(json.loads((ROOT / "cdk.json").read_text()).get("context", {}))


STRICT_ENV = "SWITCHBOARD_STRICT_SYNTH"
"""Set by scripts/deploy (and any release pipeline): warnings that make a deploy unsafe fail it."""
NOTIFY_HELP = (
    " Set environments.<env>.notifications in cdk.json: emails (a list), https (PagerDuty / Opsgenie"
    " endpoints) and/or slack {workspace_id, channel_id} (docs/runbook.md, Paging)."
)


def warn_loudly(message: str) -> None:
    bar = "!" * 78
    print(f"{bar}\n!! {message}\n{bar}", file=sys.stderr)


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true", "yes")


def build_app(
    context: dict[str, Any] | None = None, outdir: str | None = None, *, nag: bool = True
) -> tuple[cdk.App, dict[str, cdk.Stack]]:
    """The app with every stack of the environment named by `-c env=` (default dev). cdk-nag's
    AwsSolutions pack runs on every synth (findings are errors: suppressions are per resource)."""
    merged = {**cdk_json_context(), **(context or {})}
    app = cdk.App(context=merged, outdir=outdir)
    name = str(app.node.try_get_context("env") or "dev")
    config = load_environment({"environments": app.node.try_get_context("environments")}, name)
    overrides: dict[str, Any] = {}
    for key in ("origin_secret_version", "origins_revision"):
        # -c origin_secret_version=N after rotating the origin secret; -c origins_revision=... after
        # a gateway stack was recreated (its URL changed)
        value = app.node.try_get_context(key)
        if value is not None:
            overrides[key] = str(value)
    if _truthy(app.node.try_get_context("require_bytecode")):
        overrides["require_bytecode"] = True
    config = dataclasses.replace(config, **overrides)
    problems = paging_problems(config)
    strict = _truthy(app.node.try_get_context("strict")) or _truthy(os.environ.get(STRICT_ENV))
    if problems and strict:
        raise DeployConfigError("nobody would be paged: " + "; ".join(problems) + NOTIFY_HELP)
    stacks = build_stacks(app, config)
    for problem in problems:
        warn_loudly(f"NOBODY WILL BE PAGED: {problem}.{NOTIFY_HELP}")
        for stack in stacks.values():
            cdk.Annotations.of(stack).add_warning_v2("switchboard:no-paging", problem)
    if nag:
        cdk.Aspects.of(app).add(AwsSolutionsChecks())
    return app, stacks


if __name__ == "__main__":
    application, _ = build_app(outdir=os.environ.get("CDK_OUTDIR") or str(ROOT / "cdk.out"))
    application.synth()
