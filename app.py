"""CDK entry (named in cdk.json). Also runs as plain `python app.py`: then cdk.json's context is
loaded here, with `-c`/CDK_CONTEXT_JSON values from the CLI taking precedence.

    npx cdk synth -c env=prod          # or: python app.py (env=dev)
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk

from infra.config import load_environment
from infra.stacks import build_stacks

ROOT = Path(__file__).resolve().parent


def cdk_json_context() -> dict[str, Any]:
    return dict(json.loads((ROOT / "cdk.json").read_text()).get("context", {}))


def build_app(
    context: dict[str, Any] | None = None, outdir: str | None = None
) -> tuple[cdk.App, dict[str, cdk.Stack]]:
    merged = {**cdk_json_context(), **(context or {})}
    app = cdk.App(context=merged, outdir=outdir)
    name = str(app.node.try_get_context("env") or "dev")
    config = load_environment({"environments": app.node.try_get_context("environments")}, name)
    version = app.node.try_get_context("origin_secret_version")
    if version is not None:  # -c origin_secret_version=N after rotating the origin secret
        config = dataclasses.replace(config, origin_secret_version=str(version))
    return app, build_stacks(app, config)


if __name__ == "__main__":
    application, _ = build_app(outdir=os.environ.get("CDK_OUTDIR") or str(ROOT / "cdk.out"))
    application.synth()
