import pytest


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
