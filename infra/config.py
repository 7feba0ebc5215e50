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


PLACEHOLDER_DOMAINS = ("example.com", "example.org", "example.net", "example.invalid", "localhost")
"""Reserved documentation domains (RFC 2606): an address there pages nobody."""


@dataclass(frozen=True)
class SlackChannel:
    """An AWS Chatbot Slack channel (the workspace is authorised once in the Chatbot console)."""

    workspace_id: str
    channel_id: str


@dataclass(frozen=True)
class Notifications:
    """Who is paged: one SNS topic per region is built from this one setting (CloudWatch alarms can
    only notify a topic in their own region)."""

    emails: tuple[str, ...] = ()
    https: tuple[str, ...] = ()
    """HTTPS endpoints (PagerDuty / Opsgenie integration URLs): SNS posts every alarm and OK there."""
    slack: SlackChannel | None = None

    @property
    def targets(self) -> tuple[str, ...]:
        return (*self.emails, *self.https, *((f"slack:{self.slack.channel_id}",) if self.slack else ()))

    def problems(self) -> list[str]:
        """Why this pages nobody (empty: it pages someone)."""
        if not self.targets:
            return ["no notification target (notifications.emails / https / slack)"]
        found = []
        for target in (*self.emails, *self.https):
            host = target.rpartition("@")[2] if "@" in target else target.split("//")[-1].split("/")[0]
            host = host.split(":")[0].lower()
            if any(host == d or host.endswith("." + d) for d in PLACEHOLDER_DOMAINS):
                found.append(f"{target!r} is a placeholder address")
        if found and len(found) == len(self.emails) + len(self.https) and self.slack is None:
            return found
        return []


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
    notifications: Notifications = Notifications()
    production: bool = False
    """A production environment: synth warns loudly when nobody would be paged, and fails under
    `-c strict=true` (or SWITCHBOARD_STRICT_SYNTH=1, what scripts/deploy sets)."""
    deployment: str = "canary"
    """How the `live` alias moves to a new version in each region (CodeDeploy): `canary` (10 % for
    5 minutes), `linear` (10 % every minute) or `all-at-once`; rolled back on the region's alarms."""
    prober_regions: tuple[str, ...] = ()
    """Regions the health probers run in (each votes; a region is evacuated on the votes of at least
    two when two or more run). Default: the edge region and the first other gateway region."""
    waf: bool = True
    """A WAF web ACL on the distribution (~$5-10 a month plus requests: dev may switch it off)."""
    waf_ip_limit_per_min: int = 2_000
    waf_key_limit_per_min: int = 1_200
    """Per API-key rate rule (the `authorization` / `x-api-key` header's value), per minute."""
    access_logs: bool = True
    """CloudFront standard logs and WAF logs (authorization headers redacted) to a log bucket."""
    domain_names: tuple[str, ...] = ()
    """Custom domain(s) on the distribution (with `certificate_arn`, an ACM certificate in us-east-1)."""
    certificate_arn: str | None = None
    table_kms_key_arns: Mapping[str, str] | None = None
    """Customer-managed KMS key ARN per gateway region for the table (every region, or none)."""
    store_conversations: bool = True
    """False: stored Responses-API conversations are not written to the (replicated) table."""
    cache_responses: bool = True
    """False: cached answers are not written to the (replicated) table."""
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

    @property
    def probers(self) -> tuple[str, ...]:
        if not self.auto_evacuation or len(self.regions) < 2:
            return ()
        if self.prober_regions:
            return self.prober_regions
        others = [r for r in self.regions if r != EDGE_REGION]
        return (EDGE_REGION, others[0]) if others else (EDGE_REGION,)

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
    if "alarm_email" in raw:  # the earlier single-address setting
        email = raw.pop("alarm_email")
        raw.setdefault("notifications", {"emails": [email] if email else []})
    raw["notifications"] = _notifications(raw.get("notifications", {}), where)
    kms = raw.get("table_kms_key_arns")
    if kms is not None and (
        not isinstance(kms, Mapping) or not all(isinstance(v, str) and v for v in kms.values())
    ):
        raise DeployConfigError(f"{where}.table_kms_key_arns: a map of region -> KMS key ARN")
    for key in ("regions", "provider_secrets", "prober_regions", "domain_names"):
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
    if not 0 <= env.provisioned_min <= env.provisioned_max:
        raise DeployConfigError(f"{where}.provisioned_min/max: 0 <= min <= max (max 0: none)")
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
    if env.table_kms_key_arns is not None and set(env.table_kms_key_arns) != set(env.regions):
        raise DeployConfigError(f"{where}.table_kms_key_arns: one key ARN for each of regions")
    if env.deployment not in DEPLOYMENTS:
        raise DeployConfigError(f"{where}.deployment: one of {sorted(DEPLOYMENTS)}")
    if not set(env.prober_regions) <= set(env.regions) | {EDGE_REGION}:
        raise DeployConfigError(f"{where}.prober_regions: gateway regions (or {EDGE_REGION}) only")
    if bool(env.domain_names) != bool(env.certificate_arn):
        raise DeployConfigError(f"{where}.domain_names and certificate_arn: both or neither")
    if env.certificate_arn and not env.certificate_arn.startswith(f"arn:aws:acm:{EDGE_REGION}:"):
        raise DeployConfigError(f"{where}.certificate_arn: an ACM certificate in {EDGE_REGION} (CloudFront)")
    if env.log_retention_days not in LOG_RETENTION_DAYS:
        raise DeployConfigError(f"{where}.log_retention_days: one of {sorted(LOG_RETENTION_DAYS)}")
    if not 128 <= env.memory_mb <= 10240 or not 1 <= env.timeout_s <= 900:
        raise DeployConfigError(f"{where}: memory_mb 128..10240, timeout_s 1..900")
    if env.name and not re.fullmatch(r"[a-z][a-z0-9-]{0,20}", env.name):
        raise DeployConfigError(f"{where}: environment names are lower-case letters, digits and '-'")
    return env


DEPLOYMENTS = frozenset({"canary", "linear", "all-at-once"})


def _notifications(raw: Any, where: str) -> Notifications:
    if isinstance(raw, Notifications):
        return raw
    if not isinstance(raw, Mapping):
        raise DeployConfigError(f"{where}.notifications: an object with emails / https / slack")
    unknown = set(raw) - {"emails", "https", "slack"}
    if unknown:
        raise DeployConfigError(f"{where}.notifications.{sorted(unknown)[0]}: unknown key")
    lists = {}
    for key in ("emails", "https"):
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise DeployConfigError(f"{where}.notifications.{key}: a list of strings")
        lists[key] = tuple(value)
    for email in lists["emails"]:
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            raise DeployConfigError(f"{where}.notifications.emails: {email!r} is not an e-mail address")
    for url in lists["https"]:
        if not url.startswith("https://"):
            raise DeployConfigError(f"{where}.notifications.https: {url!r} is not an https:// URL")
    slack = raw.get("slack")
    channel = None
    if slack is not None:
        if not (
            isinstance(slack, Mapping)
            and isinstance(slack.get("workspace_id"), str)
            and isinstance(slack.get("channel_id"), str)
        ):
            raise DeployConfigError(f"{where}.notifications.slack: {{workspace_id, channel_id}}")
        channel = SlackChannel(slack["workspace_id"], slack["channel_id"])
    return Notifications(lists["emails"], lists["https"], channel)


def paging_problems(env: EnvironmentConfig) -> list[str]:
    """Why a production environment would page nobody (empty when it pages someone, or when it is
    not a production environment)."""
    if not env.production:
        return []
    return [f"environment {env.name!r}: {p}" for p in env.notifications.problems()]
