"""The deep health check (`GET /healthz/deep`): what the region prober calls through CloudFront.

`/healthz` answers 200 whenever the process runs (the Lambda Web Adapter's readiness check: it has no
origin header). `/healthz/deep` is behind the origin guard like every other route, so a 200 means,
in this region: the origin secret was readable and matches what CloudFront sends, the configuration
is loaded (it names at least one model), and the store answered a read within `STORE_TIMEOUT_S`.
It never calls a provider: a provider outage must not make a region look broken. The answer names
each check (`{"status": "ok"|"failing", "region": ..., "checks": {"store": "ok"|"timeout"|...}}`),
never a secret or an error text.
"""

from __future__ import annotations

import asyncio
from typing import Final

import orjson

from switchboard.config import Config
from switchboard.errors import StoreError
from switchboard.state.store.base import Store

STORE_TIMEOUT_S: Final = 2.0
PROBE_KEY: Final = ("HEALTH", "probe")
"""An item nobody writes: reading it costs one consistent-enough read and proves the store answers."""


class DeepHealth:
    def __init__(self, config: Config, store: Store | None, timeout_s: float = STORE_TIMEOUT_S) -> None:
        self._config = config
        self._store = store
        self._timeout = timeout_s

    async def _store_check(self) -> str:
        if self._store is None:
            return "not-configured"
        try:
            await asyncio.wait_for(self._store.get(*PROBE_KEY), self._timeout)
        except TimeoutError:
            return "timeout"
        except StoreError:
            return "error"
        return "ok"

    async def check(self) -> tuple[int, bytes]:
        """(status, JSON body): 200 when every check passed, else 503."""
        checks = {
            "origin": "ok",  # this code runs only after the origin guard let the request in
            "config": "ok" if self._config.models else "no-models",
            "store": await self._store_check(),
        }
        ok = all(v in ("ok", "not-configured") for v in checks.values())
        body = {"status": "ok" if ok else "failing", "region": self._config.gateway.region, "checks": checks}
        return (200 if ok else 503), orjson.dumps(body)
