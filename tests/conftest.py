from pathlib import Path

import pytest

SLOW = ("infra", "reliability", "clients", "console")
"""Test folders marked `slow` (CDK synth and cdk-nag, the reliability suite, real clients, the browser):
`scripts/test -m "not slow"` is the fast developer loop; CI runs everything."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).parent
    for item in items:
        parts = Path(str(item.fspath)).relative_to(root).parts
        if parts and parts[0] in SLOW:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _fresh_powertools_providers():
    """Powertools caches one boto3 client per provider type, and boto3 one default session (with the
    region it saw when created); under moto each test needs fresh ones."""
    import boto3
    from aws_lambda_powertools.utilities.parameters import base

    base.DEFAULT_PROVIDERS.clear()
    boto3.DEFAULT_SESSION = None
    yield
    base.DEFAULT_PROVIDERS.clear()
    boto3.DEFAULT_SESSION = None
