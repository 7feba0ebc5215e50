"""Provider credentials, resolved lazily on first use: from the environment (`api_key_env`) or AWS
Secrets Manager (`api_key_secret`, via Powertools parameters with an explicit max_age). Values are
cached in-process and never logged; adapters receive them as plain arguments."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping

import orjson

from switchboard.config import ProviderConfig
from switchboard.errors import UpstreamAuthError
from switchboard.values import AwsCredentials, Credential

SECRET_MAX_AGE_S = 300.0
AWS_MAX_AGE_S = 240.0


def fetch_aws_credentials() -> AwsCredentials | None:
    """Blocking: botocore's default credential chain, frozen."""
    import botocore.session

    resolved = botocore.session.get_session().get_credentials()
    if resolved is None:
        return None
    frozen = resolved.get_frozen_credentials()
    return AwsCredentials(frozen.access_key, frozen.secret_key, frozen.token)


def fetch_secret(name: str) -> str:
    """Blocking Secrets Manager read (run in a thread). Accepts a plain string or {"api_key": "..."}."""
    from aws_lambda_powertools.utilities import parameters

    value: object = parameters.get_secret(name, max_age=int(SECRET_MAX_AGE_S))
    text = value.decode() if isinstance(value, bytes) else str(value)
    if text.startswith("{"):
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            return text
        if isinstance(parsed, dict) and isinstance(parsed.get("api_key"), str):
            return str(parsed["api_key"])
    return text


class Credentials:
    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        secret_fetcher: Callable[[str], str] = fetch_secret,
        clock: Callable[[], float] = time.monotonic,
        aws_fetcher: Callable[[], AwsCredentials | None] = fetch_aws_credentials,
    ) -> None:
        self._aws_fetch = aws_fetcher
        self._env = os.environ if env is None else env
        self._fetch = secret_fetcher
        self._clock = clock
        self._cache: dict[str, tuple[Credential, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._known: tuple[str, ...] = ()

    async def get(self, provider: ProviderConfig, aws: bool = False) -> Credential:
        """The provider's credential: its API key (`api_key_env` / `api_key_secret`), or, for a type
        whose descriptor says so (`aws`), credentials from the AWS chain."""
        cached = self._cache.get(provider.name)
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        if aws:
            return await self._aws(provider)
        if provider.api_key_secret:
            lock = self._locks.setdefault(provider.name, asyncio.Lock())
            async with lock:  # one fetch per provider, however many requests are waiting
                cached = self._cache.get(provider.name)
                if cached is not None and cached[1] > self._clock():
                    return cached[0]
                try:
                    value: str | None = await asyncio.to_thread(self._fetch, provider.api_key_secret)
                except Exception:
                    raise UpstreamAuthError(
                        f"credential for provider {provider.name!r} could not be read from Secrets Manager"
                    ) from None
                self._store(provider.name, value, SECRET_MAX_AGE_S)
                return value
        if provider.api_key_env:
            value = self._env.get(provider.api_key_env) or None
            if value is None:
                raise UpstreamAuthError(
                    f"provider {provider.name!r} has no credential ({provider.api_key_env} is not set)"
                )
        else:
            value = None  # keyless upstream (local vLLM / Ollama) or the mock
        self._store(provider.name, value, float("inf"))
        return value

    def known_values(self) -> tuple[str, ...]:
        """Every credential resolved so far: masked in any upstream text passed to a client."""
        return self._known

    def _store(self, name: str, value: Credential, ttl_s: float) -> None:
        self._cache[name] = (value, self._clock() + ttl_s)
        known: set[str] = set()
        for credential, _ in self._cache.values():
            if isinstance(credential, str) and credential:
                known.add(credential)
            elif isinstance(credential, AwsCredentials):
                known.update(credential.secrets())
        self._known = tuple(known)

    async def _aws(self, provider: ProviderConfig) -> Credential:
        """AWS credentials from botocore's default chain (env, profile, container, instance role),
        resolved in a thread and re-resolved every few minutes so rotated role credentials apply."""
        lock = self._locks.setdefault(provider.name, asyncio.Lock())
        async with lock:
            cached = self._cache.get(provider.name)
            if cached is not None and cached[1] > self._clock():
                return cached[0]
            try:
                value = await asyncio.to_thread(self._aws_fetch)
            except Exception:
                value = None
            if value is None:
                raise UpstreamAuthError(f"provider {provider.name!r} has no AWS credentials")
            self._store(provider.name, value, AWS_MAX_AGE_S)
            return value
