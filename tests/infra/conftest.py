"""Synthesize the prod app once per session (each synth starts a jsii Node process, ~5 s, ~800 MB)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@pytest.fixture(scope="session")
def prod(tmp_path_factory: pytest.TempPathFactory):
    import app

    outdir = tmp_path_factory.mktemp("cdk.out")
    application, stacks = app.build_app({"env": "prod"}, outdir=str(outdir))
    assembly = application.synth()
    return {"app": application, "stacks": stacks, "assembly": assembly, "outdir": outdir}


@pytest.fixture(scope="session")
def templates(prod):
    from aws_cdk.assertions import Template

    return {name: Template.from_stack(stack) for name, stack in prod["stacks"].items()}
