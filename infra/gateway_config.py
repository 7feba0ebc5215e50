"""What the deployment derives from the gateway configuration it bundles (`deploy/gateway.toml`):
the Bedrock resources its role may invoke, and the check that no request can outlive CloudFront's
origin read timeout. Read-only use of the runtime's own parser (`switchboard.config.load_config`)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "lambda_src") not in sys.path:  # a clone without `pip install -e .`
    sys.path.append(str(ROOT / "lambda_src"))

from infra.config import DeployConfigError  # noqa: E402
from switchboard.config import Config, ConfigError, load_config  # noqa: E402

BEDROCK_INVOKE_ACTIONS = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")
"""Converse and InvokeModel (embeddings) authorize as bedrock:InvokeModel, ConverseStream as
bedrock:InvokeModelWithResponseStream: Bedrock has no separate Converse* IAM actions."""
# Cross-region inference profile ids start with a geography: `us.anthropic.claude-...`.
_PROFILE_PREFIXES = frozenset({"us", "us-gov", "eu", "apac", "ap", "ca", "jp", "au", "global"})
BUDGET_MARGIN_S = 10
"""Room left under the origin read timeout for a cold start, authentication and the first write."""


def load_gateway_config(path: Path) -> Config:
    try:
        return load_config(path, env={})
    except ConfigError as exc:
        raise DeployConfigError(
            f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {exc}"
        ) from None


@dataclass(frozen=True)
class BedrockResources:
    foundation_models: tuple[str, ...] = ()
    """ARNs `arn:aws:bedrock:<region>::foundation-model/<id>` (any region behind a profile), or ARNs
    named in the configuration."""
    inference_profiles: tuple[tuple[str, str], ...] = ()
    """(region, profile id), e.g. ("us-east-1", "us.anthropic.claude-sonnet-4-5-20250929-v1:0")."""

    def arns(self, account: str) -> list[str]:
        profiles = [
            f"arn:aws:bedrock:{region}:{account}:inference-profile/{pid}"
            for region, pid in self.inference_profiles
        ]
        return sorted({*self.foundation_models, *profiles})

    def __bool__(self) -> bool:
        return bool(self.foundation_models or self.inference_profiles)


def bedrock_resources(config: Config) -> BedrockResources:
    """Every Bedrock model and inference profile a target of the configuration names."""
    models: set[str] = set()
    profiles: set[tuple[str, str]] = set()
    for model in config.models.values():
        for target in model.targets:
            provider = config.providers[target.provider]
            if provider.type != "bedrock" or not provider.region:
                continue
            region, model_id = provider.region, target.model
            if model_id.startswith("arn:"):  # a provisioned model, an application profile, ...
                models.add(model_id)
                continue
            geo, _, base = model_id.partition(".")
            if geo in _PROFILE_PREFIXES and base:
                profiles.add((region, model_id))
                # A profile routes to the model in any region of its geography: grant the model there.
                models.add(f"arn:aws:bedrock:*::foundation-model/{base}")
            else:
                models.add(f"arn:aws:bedrock:{region}::foundation-model/{model_id}")
    return BedrockResources(tuple(sorted(models)), tuple(sorted(profiles)))


def check_attempt_budget(config: Config, origin_read_timeout_s: int, *, source: str) -> None:
    """Every request's total attempt budget (its deadline across retries and fallbacks, to the first
    streamed byte for streams) must end before CloudFront's origin read timeout: otherwise the
    client gets CloudFront's 504 while the function keeps running, and billing, to its deadline."""
    limit_ms = (origin_read_timeout_s - BUDGET_MARGIN_S) * 1000
    routing = config.routing
    problems: list[str] = []
    for name, model in config.models.items():
        budget = model.timeout_ms or routing.timeout_ms
        if budget > limit_ms:
            key = f'models."{name}".timeout_ms' if model.timeout_ms else "routing.timeout_ms"
            problems.append(f"{key} = {budget} (model {name!r})")
    if config.gateway.allow_request_routing and routing.max_timeout_ms > limit_ms:
        problems.append(f"routing.max_timeout_ms = {routing.max_timeout_ms} (caps a request's own 'timeout')")
    heartbeat = getattr(routing, "stream_heartbeat_ms", None)
    if heartbeat:  # the gateway sends an SSE comment after this much upstream silence
        if heartbeat > limit_ms:
            problems.append(f"routing.stream_heartbeat_ms = {heartbeat}")
    elif routing.stream_idle_timeout_ms > limit_ms:
        problems.append(f"routing.stream_idle_timeout_ms = {routing.stream_idle_timeout_ms} (no heartbeat)")
    if problems:
        raise DeployConfigError(
            f"{source}: CloudFront's origin read timeout is {origin_read_timeout_s} s, so every attempt "
            "budget "
            f"must be <= {limit_ms} ms ({BUDGET_MARGIN_S} s of margin); too long: " + "; ".join(problems)
        )
