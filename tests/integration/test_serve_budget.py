"""The issue-21 reproduction through a real `switchboard serve` on 127.0.0.1 and its SQLite store: a
key created with `switchboard keys create --budget-usd-per-day 0.0001` gets not one answer from a
model nobody prices (before: 15 of 15 served at `x-switchboard-cost-usd: 0`), is refused by a priced
model whose worst case exceeds the budget, and is served by a chain's priced target."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from served import UPSTREAM_KEY, FakeProviders, create_key, provider_config, run_serve

pytestmark = pytest.mark.loopback


def test_a_budget_key_is_never_served_by_an_unpriced_model(tmp_path: Path) -> None:
    with FakeProviders() as fake:
        config = tmp_path / "switchboard.toml"
        config.write_text(
            "\n".join(
                [
                    "[routing]",
                    "retry_budget = 0",
                    "[store]",
                    'backend = "sqlite"',
                    f"path = {json.dumps(str(tmp_path / 'state.db'))}",
                    provider_config(fake.root),
                    '[models."gpt-4o"]',
                    'targets = ["oa/gpt-4o"]',
                    '[models."sol-x"]',
                    'targets = ["oa/gpt-6-sol-x"]',
                    '[models."x-then-luna"]',
                    'targets = ["oa/gpt-6-sol-x", "oc/gpt-6-luna"]',
                ]
            )
            + "\n"
        )
        env = {"FAKE_UPSTREAM_KEY": UPSTREAM_KEY}
        with run_serve(config, env) as served:
            flags = ("--tenant", "t", "--name", "budget", "--budget-usd-per-day", "0.0001")
            budget_key = create_key(config, {**os.environ, **env}, *flags)
            body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}
            with httpx.Client(base_url=f"{served.base}/v1", timeout=20) as client:

                def ask(model: str, key: str, **extra: object) -> httpx.Response:
                    return client.post(
                        "/chat/completions",
                        json={**body, "model": model, **extra},
                        headers={"authorization": f"Bearer {key}"},
                    )

                seen_before = len(fake.seen)
                unpriced = [ask("sol-x", budget_key) for _ in range(15)]
                reached = len(fake.seen) - seen_before
                dear = ask("gpt-4o", budget_key, max_tokens=1_000)  # worst case $0.01 > $0.0001
                chain = ask("x-then-luna", budget_key)
                free = ask("sol-x", served.key)  # a key without a budget keeps the whole chain
    assert [r.status_code for r in unpriced] == [403] * 15 and reached == 0
    assert unpriced[0].json()["error"]["code"] == "unpriced_model"
    assert "oa/gpt-6-sol-x" in unpriced[0].json()["error"]["message"]
    assert dear.status_code == 429 and "USD per day" in dear.json()["error"]["message"]
    assert chain.status_code == 200 and chain.headers["x-switchboard-provider"] == "oc"
    assert float(chain.headers["x-switchboard-cost-usd"]) > 0
    assert free.status_code == 200 and "x-switchboard-cost-usd" not in free.headers
