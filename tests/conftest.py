import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _fresh_powertools_providers():
    """Powertools caches one boto3 client per provider type; under moto each test needs its own."""
    from aws_lambda_powertools.utilities.parameters import base

    base.DEFAULT_PROVIDERS.clear()
    yield
    base.DEFAULT_PROVIDERS.clear()
