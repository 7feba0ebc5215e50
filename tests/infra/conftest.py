"""Synthesize the prod app once per session (each synth starts a jsii Node process, ~5 s, ~800 MB)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


NOTIFICATIONS = {
    "emails": ["oncall@acme-ops.io"],
    "https": ["https://events.pagerduty.com/integration/0123456789abcdef/enqueue"],
    "slack": {"workspace_id": "T0123ABCD", "channel_id": "C0456EFGH"},
}
"""What an operator puts in cdk.json (the shipped prod has none: synth warns, strict synth fails)."""


def with_notifications(context: dict, env: str = "prod") -> dict:
    import copy

    environments = copy.deepcopy(context["environments"])
    environments[env]["notifications"] = NOTIFICATIONS
    return {"env": env, "environments": environments}


@pytest.fixture(scope="session")
def prod(tmp_path_factory: pytest.TempPathFactory):
    import app

    outdir = tmp_path_factory.mktemp("cdk.out")
    application, stacks = app.build_app(with_notifications(app.cdk_json_context()), outdir=str(outdir))
    assembly = application.synth()
    return {"app": application, "stacks": stacks, "assembly": assembly, "outdir": outdir}


@pytest.fixture(scope="session")
def templates(prod):
    from aws_cdk.assertions import Template

    return {name: Template.from_stack(stack) for name, stack in prod["stacks"].items()}
