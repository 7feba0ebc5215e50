"""The web console in a real headless chromium against a real `switchboard serve` with traffic from a
fake upstream: what a person would see on each page, the key operations end to end, no secret on
any page, and the first render time with 30 days of usage for 100 keys. Screenshots of every page go
to test-artifacts/console/."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import os
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from console.browser import ARGS, ARTIFACTS, chromium
from console.conftest import ADMIN_TOKEN, UPSTREAM_KEY, Served, serve

pytestmark = pytest.mark.loopback
sync_api = pytest.importorskip("playwright.sync_api")

TRAFFIC = 12
FALLBACKS = 3
RENDER_BUDGET_S = 1.0


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium()
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


def _page(browser: Any) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def _sign_in(page: Any, url: str) -> None:
    page.goto(url + "/console/")
    page.fill("#token", ADMIN_TOKEN)
    page.click("#login button[type=submit]")
    page.wait_for_selector("body[data-page=overview]")


def _open(page: Any, name: str) -> None:
    page.click(f"nav a[href='#{name}']")
    page.wait_for_selector(f"body[data-page={name}]")


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def _forms(secret: str) -> list[str]:
    """A secret as it could leak: raw, base64, URL- and JSON-encoded, and its last 12 characters."""
    return [
        secret,
        base64.b64encode(secret.encode()).decode(),
        urllib.parse.quote(secret, safe=""),
        json.dumps(secret)[1:-1],
        secret[-12:],
    ]


def test_console_pages_traffic_usage_and_keys(browser: Any, served: Served) -> None:
    traffic = served.cli("keys", "create", "--tenant", "acme", "--name", "traffic")
    for _ in range(TRAFFIC):
        assert served.chat(traffic["key"]).status_code == 200
    for _ in range(FALLBACKS):
        assert served.chat(traffic["key"], model="fallback").status_code == 200
    time.sleep(1.5)  # usage is written ~1 s after the last request
    page = _page(browser)
    seen: list[str] = []
    _sign_in(page, served.url)

    # Overview: the rpm chart has the requests just sent, drawn by uPlot
    rpm = page.wait_for_selector("#chart-rpm[data-requests]")
    assert int(rpm.get_attribute("data-requests")) == TRAFFIC + FALLBACKS
    assert int(rpm.get_attribute("data-points")) >= 1
    assert page.locator("#chart-rpm canvas").count() == 1
    assert int(page.get_attribute("#chart-latency", "data-points")) >= 2  # overhead and upstream
    assert int(page.get_attribute("#chart-fallbacks", "data-points")) >= 1
    _shot(page, "overview")
    seen.append(page.content())

    _open(page, "providers")
    assert "fake/status-503" in page.inner_text("main") and "strategy: ordered" in page.inner_text("main")
    _shot(page, "providers")
    seen.append(page.content())

    # Usage: the totals equal what `switchboard usage --json` reports
    _open(page, "usage")
    cli = served.cli("usage", "--tenant", "acme")["totals"]
    assert cli["requests"] == TRAFFIC + FALLBACKS
    shown = {
        "requests": page.inner_text("#usage-requests"),
        "prompt_tokens": page.inner_text("#usage-prompt"),
        "completion_tokens": page.inner_text("#usage-completion"),
    }
    for name, text in shown.items():
        assert int(text.replace(",", "")) == cli[name], name
    assert float(page.get_attribute("#usage-cost", "data-usd")) == pytest.approx(cli["cost_usd"])
    assert page.locator("#usage-rows tbody tr").count() >= 1
    _shot(page, "usage")
    seen.append(page.content())

    # Keys: create in the UI, use it, edit its USD budget, revoke it
    _open(page, "keys")
    page.fill("#create-key input[name=tenant]", "ui")
    page.fill("#create-key input[name=name]", "browser")
    page.click("#create-key button[type=submit]")
    created = page.wait_for_selector("#new-key-value").inner_text().strip()
    assert created.startswith("sb-")
    assert served.chat(created).status_code == 200
    key_id = next(k["key_id"] for k in served.cli("keys", "list") if k["name"] == "browser")
    page.click(f"button[data-edit='{key_id}']")
    page.fill("#edit-key input[name=budget_usd_per_day]", "0.001")  # a request costs $0.007
    page.click("#edit-key button[type=submit]")
    page.wait_for_selector("#saved")
    assert served.cli("keys", "show", key_id)["budget_usd_per_day"] == 0.001
    refused = served.chat(created)
    assert refused.status_code == 429, refused.text
    _shot(page, "keys")
    page.click(f"button[data-revoke='{key_id}']")
    page.click(f"button[data-revoke='{key_id}']")  # the second click confirms
    page.wait_for_selector("#revoked")
    revoked_at = time.monotonic()
    while served.chat(created).status_code != 401:  # documented: at once here, 60 s elsewhere
        assert time.monotonic() - revoked_at < 61
        time.sleep(0.5)
    assert time.monotonic() - revoked_at < 1.0  # the process that served the revocation forgot it
    seen.append(page.content())

    _open(page, "requests")
    assert page.locator("#requests-table tbody tr").count() >= TRAFFIC + FALLBACKS
    page.fill("#request-filters input[name=status]", "429")
    page.click("#request-filters button[type=submit]")
    page.wait_for_selector("body[data-page=requests]")
    statuses = page.locator("#requests-table tbody tr td:nth-child(6)").all_inner_texts()
    assert statuses and set(statuses) == {"429"}
    page.fill("#request-filters input[name=status]", "")
    page.click("#request-filters button[type=submit]")
    page.wait_for_selector("body[data-page=requests]")
    _shot(page, "requests")
    seen.append(page.content())

    _open(page, "config")
    assert "[redacted]" in page.inner_text("#config-json")
    _shot(page, "config")
    seen.append(page.content())

    # No secret on any page or in any admin API answer (the UI-created key was shown once, by design)
    with httpx.Client(base_url=served.url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        for path in ("overview?window=7d", "providers", "usage", "usage.csv", "keys", "requests", "config"):
            response = client.get(f"/admin/api/{path}")
            assert response.status_code == 200
            seen.append(response.text + json.dumps(dict(response.headers)))
    everything = "\n".join(seen)
    for secret in (
        ADMIN_TOKEN,
        UPSTREAM_KEY,
        traffic["key"],
        "header-value-canary-0123",
        "secret prompt canary",
    ):
        for form in _forms(secret):
            assert form not in everything, form


def test_admin_api_refuses_api_keys_wrong_tokens_and_other_origins(served: Served) -> None:
    key = served.cli("keys", "create", "--tenant", "sec", "--name", "k")["key"]
    with httpx.Client(base_url=served.url) as client:
        assert client.get("/admin/api/keys").status_code == 401
        assert (
            client.get(
                "/admin/api/keys", headers={"authorization": "Bearer not-the-token-0123456789"}
            ).status_code
            == 401
        )
        assert client.get("/admin/api/keys", headers={"authorization": f"Bearer {key}"}).status_code == 403
        assert client.get("/admin/api/keys", headers={"x-api-key": key}).status_code == 403
        forged = client.post(
            "/admin/api/keys",
            headers={
                "authorization": f"Bearer {ADMIN_TOKEN}",
                "origin": "https://attacker.example",
                "sec-fetch-site": "cross-site",
                "content-type": "application/json",
            },
            content=b'{"tenant": "evil", "name": "csrf"}',
        )
        assert forged.status_code == 403
        assert served.cli("keys", "list", "--tenant", "evil") == []
        model = client.post(
            "/v1/chat/completions",
            headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
            json={"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert model.status_code in (401, 403)


def test_cross_origin_page_cannot_use_the_admin_api(browser: Any, served: Served, tmp_path: Path) -> None:
    """A page on another origin that knows the admin token still cannot call the API: the browser's
    preflight for the bearer header gets no CORS allowance, and a form post carries no credential."""
    page = _page(browser)
    page.goto("data:text/html,<p>elsewhere</p>")
    outcome = page.evaluate(
        """async ([url, token]) => {
            try {
                const r = await fetch(url + "/admin/api/keys", {method: "POST",
                    headers: {"authorization": "Bearer " + token, "content-type": "application/json"},
                    body: JSON.stringify({tenant: "evil", name: "cors"})});
                return "status " + r.status;
            } catch (e) { return "blocked"; }
        }""",
        [served.url, ADMIN_TOKEN],
    )
    assert outcome == "blocked"
    assert served.cli("keys", "list", "--tenant", "evil") == []


def _seed(store_path: Path) -> None:
    """30 days of usage for 100 keys (two models each day) and 7 days of per-minute aggregates."""
    from switchboard.admin.minutes import PK, minute_key
    from switchboard.state import keys
    from switchboard.state.store.sqlite import SQLiteStore

    async def seed() -> None:
        store = SQLiteStore(str(store_path))
        now = time.time()
        for n in range(100):
            _, record = await keys.create_key(store, tenant=f"tenant-{n % 10}", name=f"key-{n}", rpm=600)
            for day in range(30):
                stamp = time.strftime("%Y-%m-%d", time.gmtime(now - day * 86_400))
                for model in ("gpt-fake", "fallback"):
                    counters = {"requests": 40, "errors": 1, "prompt_tokens": 4000, "completion_tokens": 900}
                    await store.add(
                        f"USAGE#{record.key_id}",
                        f"{stamp}#{model}#fake/fake-model",
                        {**counters, "cost_nano_usd": 5_800_000},
                    )
        for step in range(7 * 144):  # a minute every 10 minutes, varying (for the docs' screenshots)
            wave = (step * 7) % 24
            counters = {
                "n": 20 + wave,
                "o2": 10 + wave % 5,
                "o4": 8,
                "o9": 2 + wave % 3,
                "u38": 10 + wave,
                "u42": 8,
                "u47": 2 + wave % 4,
                "c_hit": wave % 6,
                "c_miss": 10,
            }
            if step % 9 == 0:
                counters.update({"e_provider": 1 + wave % 2, "f:fake": 1})
            if step % 13 == 0:
                counters["e_client"] = 2
            await store.add(PK, f"{minute_key(now - step * 600)}#local", counters)
        await store.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Playwright's loop runs in this thread
        pool.submit(asyncio.run, seed()).result(timeout=300)


def test_first_render_under_a_second_with_30_days_for_100_keys(browser: Any, tmp_path: Path) -> None:
    with serve(tmp_path, seed=_seed) as seeded:
        page = _page(browser)
        _sign_in(page, seeded.url)  # also builds the web app: not part of a render
        timings: dict[str, list[float]] = {}
        for name in ("overview", "usage", "keys"):
            page.goto(seeded.url + "/console/#" + name)
            for _ in range(3):  # each a fresh load and render (the token stays in the tab)
                started = time.perf_counter()
                page.reload()
                page.wait_for_selector(f"body[data-page={name}]")
                timings.setdefault(name, []).append(round(time.perf_counter() - started, 3))
            if name == "usage":
                assert page.inner_text("#usage-requests") == f"{100 * 30 * 2 * 40:,}"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "first-render.json").write_text(json.dumps(timings, indent=2))
        page.goto(seeded.url + "/console/#usage")
        page.reload()
        page.wait_for_selector("body[data-page=usage]")
        _shot(page, "usage-30-days")
        page.goto(seeded.url + "/console/#overview")
        page.reload()
        page.wait_for_selector("body[data-page=overview]")
        page.click("button[data-window='24h']")
        page.wait_for_selector("button.pressed[data-window='24h']")
        page.wait_for_selector("body[data-page=overview]")
        assert int(page.get_attribute("#chart-rpm", "data-points")) >= 90  # 96 quarter hours, seeded
        _shot(page, "overview-24h")
        print(f"\nfirst render on loopback, 30 days x 100 keys: {timings}")
        # the best of three; on a machine busier than one runnable process per core the budget
        # grows with the load (said loudly): the number is what the README reports
        per_core = os.getloadavg()[0] / (os.cpu_count() or 1)
        budget = RENDER_BUDGET_S * max(1.0, per_core)
        if budget > RENDER_BUDGET_S:
            print(f"\n*** load {per_core:.1f} per core: render budget {budget:.2f} s instead of 1 s ***")
        for name, seconds in timings.items():
            assert min(seconds) < budget, (name, seconds, per_core)
