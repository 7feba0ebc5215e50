"""The deployment matrix, read once in `app.py` from `cdk.json` context into frozen dataclasses.

Constructs and stacks receive these typed values; nothing below `app.py` reads context or env.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

EDGE_REGION = "us-east-1"  # CloudFront, its functions and key value stores live here
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
# Function URLs are not offered in these regions (shared/notes/aws.md)
NO_FUNCTION_URLS = frozenset(
    {
        "ap-south-2",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-6",
        "ap-southeast-7",
        "ap-east-2",
        "ca-west-1",
        "eu-south-2",
        "eu-central-2",
        "il-central-1",
        "me-central-1",
    }
)


UNRESERVED_MINIMUM = 100
"""Lambda keeps at least this much of a region's account concurrency unreserved."""

LOG_RETENTION_DAYS = frozenset({1, 3, 5, 7, 14, 30, 60, 90, 180, 365, 731, 1827, 3653})


class DeployConfigError(ValueError):
    pass


@dataclass(frozen=True)
class EnvironmentConfig:
    name: str
    primary_region: str
    regions: tuple[str, ...]
    account: str | None = None
    architecture: str = "arm64"
    memory_mb: int = 1024
    timeout_s: int = 900
    provisioned_min: int = 1
    provisioned_max: int = 4
    reserved_concurrency: int | None = None
    log_retention_days: int = 30
    alarm_email: str | None = None
    provider_secrets: tuple[str, ...] = ()
    deletion_protection: bool = False
    gateway_config: str = "deploy/gateway.toml"
    default_region: str | None = None
    """Region for viewers whose location maps to no deployed region (default: primary)."""
    p99_overhead_alarm_ms: float = 5.0
    origin_secret_version: str = "1"
    """Bump (`-c origin_secret_version=N` or here) to make the edge pick up a rotated origin secret."""
    origins_revision: str = "1"
    """Any new value (`-c origins_revision=...`) makes the edge re-read every gateway's host: weak
    cross-stack references are not re-resolved when only the producing stack changed."""
    open_gateway: bool = False
    """cdk.json `openGateway`: serve /v1 without API keys (SWITCHBOARD_AUTH=open). Never in prod."""
    account_concurrency_limit: int | None = None
    """The account's per-region Lambda concurrency quota, when known: synth refuses a
    reserved_concurrency that cannot fit (scripts/preflight reads the real value)."""
    auto_evacuation: bool = True
    """Deploy the region health prober that evacuates and restores regions in the KeyValueStore."""
    require_bytecode: bool = False
    """Fail the synth when no CPython 3.12 can compile the asset (else: warn and ship source)."""

    @property
    def auth_mode(self) -> str:
        return "open" if self.open_gateway else "required"

    @property
    def fallback_region(self) -> str:
        return self.default_region or self.primary_region

    def stack_name(self, unit: str) -> str:
        return f"Switchboard-{self.name}-{unit}"


_FIELDS = set(EnvironmentConfig.__dataclass_fields__)


def load_environment(context: Mapping[str, Any], name: str) -> EnvironmentConfig:
    """`context["environments"][name]` -> EnvironmentConfig, validated with messages naming the key."""
    environments = context.get("environments")
    if not isinstance(environments, Mapping) or name not in environments:
        known = ", ".join(sorted(environments)) if isinstance(environments, Mapping) else "none"
        raise DeployConfigError(f"unknown environment {name!r} (cdk.json context 'environments': {known})")
    raw = dict(environments[name])
    where = f"environments.{name}"
    if "openGateway" in raw:  # the documented, camel-cased name of the one setting that opens a gateway
        raw["open_gateway"] = raw.pop("openGateway")
    if not isinstance(raw.get("open_gateway", False), bool):
        raise DeployConfigError(f"{where}.openGateway: true or false")
    unknown = set(raw) - _FIELDS
    if unknown:
        raise DeployConfigError(f"{where}.{sorted(unknown)[0]}: unknown key")
    for key in ("regions", "provider_secrets"):
        if key in raw:
            if not isinstance(raw[key], list) or not all(isinstance(v, str) for v in raw[key]):
                raise DeployConfigError(f"{where}.{key}: expected a list of strings")
            raw[key] = tuple(raw[key])
    try:
        env = EnvironmentConfig(name=name, **raw)
    except TypeError as exc:
        raise DeployConfigError(f"{where}: {exc}") from None
    if not env.regions or len(set(env.regions)) != len(env.regions):
        raise DeployConfigError(f"{where}.regions: a non-empty list without duplicates")
    for region in (*env.regions, env.primary_region, env.fallback_region):
        if not _REGION.match(region):
            raise DeployConfigError(f"{where}: {region!r} is not a region name")
        if region in NO_FUNCTION_URLS:
            raise DeployConfigError(f"{where}: Lambda function URLs are not available in {region}")
    if env.primary_region not in env.regions or env.fallback_region not in env.regions:
        raise DeployConfigError(f"{where}.primary_region / default_region: must be one of regions")
    if env.architecture not in ("arm64", "x86_64"):
        raise DeployConfigError(f"{where}.architecture: arm64 or x86_64")
    if not 0 <= env.provisioned_min <= env.provisioned_max or env.provisioned_max < 1:
        raise DeployConfigError(f"{where}.provisioned_min/max: 0 <= min <= max, max >= 1")
    if env.reserved_concurrency is not None and env.reserved_concurrency < env.provisioned_max:
        raise DeployConfigError(f"{where}.reserved_concurrency: must be >= provisioned_max")
    if env.account_concurrency_limit is not None:
        key = "reserved_concurrency" if env.reserved_concurrency is not None else "provisioned_max"
        want = env.reserved_concurrency if env.reserved_concurrency is not None else env.provisioned_max
        if want + UNRESERVED_MINIMUM > env.account_concurrency_limit:
            raise DeployConfigError(
                f"{where}.{key}: {want} + {UNRESERVED_MINIMUM} that Lambda keeps unreserved = "
                f"{want + UNRESERVED_MINIMUM} > account_concurrency_limit {env.account_concurrency_limit}: "
                f"lower {key} to at most {env.account_concurrency_limit - UNRESERVED_MINIMUM} or request a "
                "quota increase (Service Quotas: Lambda 'Concurrent executions') in every region"
            )
    if env.log_retention_days not in LOG_RETENTION_DAYS:
        raise DeployConfigError(f"{where}.log_retention_days: one of {sorted(LOG_RETENTION_DAYS)}")
    if not 128 <= env.memory_mb <= 10240 or not 1 <= env.timeout_s <= 900:
        raise DeployConfigError(f"{where}: memory_mb 128..10240, timeout_s 1..900")
    if env.name and not re.fullmatch(r"[a-z][a-z0-9-]{0,20}", env.name):
        raise DeployConfigError(f"{where}: environment names are lower-case letters, digits and '-'")
    return env
