"""The admin API in process: who may call it, the key operations it shares with the CLI, what the
console reads (request ring, per-minute aggregates, usage, providers, configuration) and what it
must never show (secrets, keys)."""

from __future__ import annotations

import base64
import json
import urllib.parse
from typing import Any

import httpx
import pytest

from support import KEYS, build_app, chat, client_for, completion, json_response, make_config
from switchboard.admin import tokens, views
from switchboard.state.store.memory import MemoryStore

pytestmark = pytest.mark.anyio
ADMIN = "admin-env-token-0123456789abcdef"


def _app(store: MemoryStore, handler: Any = None, **sections: Any) -> Any:
    config = make_config(
        gateway={"region": "test-region", "auth": "required"},
        admin={"token_env": "SB_TEST_ADMIN"},
        # a key with a dollar budget is never served by an unpriced target (issue 21): price them
        prices={"model-a": {"prompt": 1.0, "completion": 2.0}, "model-b": {"prompt": 1.0, "completion": 2.0}},
        **sections,
    )
    return build_app(config, handler or (lambda request: json_response(200, completion())), store=store)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SB_TEST_ADMIN", ADMIN)


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_admin_api_refuses_missing_wrong_and_api_key_credentials(env: None) -> None:
    store = MemoryStore()
    app = _app(store)
    async with client_for(app) as client:
        created = await client.post(
            "/admin/api/keys", headers=_bearer(ADMIN), json={"tenant": "t", "name": "n"}
        )
        assert created.status_code == 201
        api_key = created.json()["key"]
        for headers, status in (
            ({}, 401),
            (_bearer("wrong-token-0123456789abcdef"), 401),
            (_bearer("sba-" + "x" * 43), 401),
            ({"authorization": f"Basic {ADMIN}"}, 401),
            (_bearer(api_key), 403),
            ({"x-api-key": api_key}, 403),
            ({**_bearer(ADMIN), "x-api-key": api_key}, 403),
        ):
            for method, path in (
                ("GET", "/admin/api/keys"),
                ("POST", "/admin/api/keys"),
                ("GET", "/admin/api/config"),
            ):
                response = await client.request(
                    method, path, headers=headers, json={"tenant": "x", "name": "y"}
                )
                assert response.status_code == status, (headers, path, response.text)
        assert len((await client.get("/admin/api/keys", headers=_bearer(ADMIN))).json()["keys"]) == 1


async def test_stored_admin_tokens_work_and_never_serve_model_traffic(env: None) -> None:
    store = MemoryStore()
    token, record = await tokens.create_token(store, "ops")
    assert token.startswith("sba-") and record["token_id"] not in token
    assert "token" not in str(await store.scan_prefix("ADMIN#")).replace("token_id", "")
    app = _app(store)
    async with client_for(app) as client:
        assert (await client.get("/admin/api/session", headers=_bearer(token))).status_code == 200
        for presented in (token, ADMIN):
            response = await client.post(
                "/v1/chat/completions", headers=_bearer(presented), json=chat("solo")
            )
            assert response.status_code in (401, 403), presented
        refused = await client.post("/v1/chat/completions", headers=_bearer(token), json=chat("solo"))
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "admin_token"
    assert await tokens.revoke_token(store, record["token_id"])
    async with client_for(app) as client:
        assert (await client.get("/admin/api/session", headers=_bearer(token))).status_code == 401


async def test_cross_origin_requests_are_refused_even_with_a_token(env: None) -> None:
    app = _app(MemoryStore())
    async with client_for(app) as client:
        for extra in (
            {"origin": "https://evil.example"},
            {"origin": "null"},
            {"sec-fetch-site": "cross-site"},
            {"sec-fetch-site": "same-site", "origin": "https://sub.gateway"},
        ):
            response = await client.post(
                "/admin/api/keys", headers={**_bearer(ADMIN), **extra}, json={"tenant": "t", "name": "n"}
            )
            assert response.status_code == 403, extra
            assert response.json()["error"]["code"] == "cross_origin"
        same = await client.post(
            "/admin/api/keys",
            headers={**_bearer(ADMIN), "origin": "http://gateway", "sec-fetch-site": "same-origin"},
            json={"tenant": "t", "name": "n"},
        )
        assert same.status_code == 201
        assert (await client.get("/admin/api/keys", headers=_bearer(ADMIN))).json()["keys"][0][
            "tenant"
        ] == "t"


async def test_key_operations_validate_like_the_cli_and_take_effect_at_once(env: None) -> None:
    store = MemoryStore()
    app = _app(store)
    async with client_for(app) as client:
        admin = _bearer(ADMIN)
        for bad, field in (
            ({"tenant": "t"}, "name"),
            ({"tenant": "t", "name": "n", "rpm": 0}, "rpm"),
            ({"tenant": "t", "name": "n", "rpm": True}, "rpm"),
            ({"tenant": "t", "name": "n", "budget_usd_per_day": -1}, "budget_usd_per_day"),
            ({"tenant": "t", "name": "n", "expires": "soon"}, "expires"),
            ({"tenant": "t", "name": "n", "color": "red"}, "unknown"),
        ):
            response = await client.post("/admin/api/keys", headers=admin, json=bad)
            assert response.status_code == 400, bad
            assert field in response.json()["error"]["message"]
        assert (await client.post("/admin/api/keys", headers=admin, json=["x"])).status_code == 400
        created = (
            await client.post(
                "/admin/api/keys",
                headers=admin,
                json={"tenant": "acme", "name": "ui", "budget_usd_per_day": "2.5"},
            )
        ).json()
        key, key_id = created["key"], created["key_id"]
        assert created["budget_usd_per_day"] == 2.5
        listed = (await client.get("/admin/api/keys", headers=admin)).text
        assert key not in listed and key[-4:] in listed  # the hint only
        ok = await client.post("/v1/chat/completions", headers=_bearer(key), json=chat("solo"))
        assert ok.status_code == 200
        edited = await client.patch(
            f"/admin/api/keys/{key_id}", headers=admin, json={"rpm": 1, "budget_usd_per_day": None}
        )
        assert edited.status_code == 200
        assert (edited.json()["rpm"], edited.json()["budget_usd_per_day"]) == (1, None)
        second = await client.post("/v1/chat/completions", headers=_bearer(key), json=chat("solo"))
        third = await client.post("/v1/chat/completions", headers=_bearer(key), json=chat("solo"))
        assert {second.status_code, third.status_code} == {200, 429}  # the new rpm applies at once
        revoked = await client.post(f"/admin/api/keys/{key_id}/revoke", headers=admin)
        assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
        gone = await client.post("/v1/chat/completions", headers=_bearer(key), json=chat("solo"))
        assert gone.status_code == 401  # at once in this process (the key cache was told)
        assert (await client.post("/admin/api/keys/nope/revoke", headers=admin)).status_code == 404
        assert (await client.patch("/admin/api/keys/nope", headers=admin, json={"rpm": 2})).status_code == 404


async def test_rotation_shows_the_new_key_once(env: None) -> None:
    app = _app(MemoryStore())
    async with client_for(app) as client:
        admin = _bearer(ADMIN)
        old = (
            await client.post("/admin/api/keys", headers=admin, json={"tenant": "t", "name": "n", "rpm": 50})
        ).json()
        rotated = await client.post(f"/admin/api/keys/{old['key_id']}/rotate", headers=admin)
        assert rotated.status_code == 200
        new = rotated.json()
        assert new["key"].startswith("sb-") and new["rpm"] == 50 and new["key_id"] != old["key_id"]
        assert (
            await client.post("/v1/chat/completions", headers=_bearer(old["key"]), json=chat("solo"))
        ).status_code == 401
        assert (
            await client.post("/v1/chat/completions", headers=_bearer(new["key"]), json=chat("solo"))
        ).status_code == 200


async def test_ring_overview_usage_and_providers_see_the_traffic(env: None) -> None:
    store = MemoryStore()
    calls = {"n": 0}

    def upstream(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if request.url.host == "a.example" and calls["n"] % 2:
            return json_response(503, {"error": {"message": "busy"}})
        return json_response(200, completion())

    app = _app(store, upstream)
    async with client_for(app) as client:
        admin = _bearer(ADMIN)
        key = (
            await client.post("/admin/api/keys", headers=admin, json={"tenant": "acme", "name": "k"})
        ).json()
        for _ in range(6):
            response = await client.post(
                "/v1/chat/completions", headers=_bearer(key["key"]), json=chat("chain")
            )
            assert response.status_code == 200
        bad = await client.post("/v1/chat/completions", headers=_bearer(key["key"]), json={"model": "chain"})
        assert bad.status_code == 400
        ring = (await client.get("/admin/api/requests", headers=admin)).json()
        assert ring["per_process"] is True and len(ring["requests"]) == 7
        assert ring["requests"][0]["status"] == 400 and ring["requests"][0]["cause"] == "client"
        assert {r["key_id"] for r in ring["requests"]} == {key["key_id"]}
        filtered = (await client.get("/admin/api/requests?status=4xx", headers=admin)).json()["requests"]
        assert [r["status"] for r in filtered] == [400]
        overview = (await client.get("/admin/api/overview?window=15m", headers=admin)).json()
        assert overview["totals"]["requests"] == 7
        assert sum(overview["requests"]) == 7 and len(overview["t"]) == 15
        assert overview["totals"]["fallbacks"] == sum(r["attempts"] > 1 for r in ring["requests"]) > 0
        assert any(v is not None for v in overview["overhead_p50"])
        assert any(v is not None for v in overview["upstream_p99"])
        assert (await client.get("/admin/api/overview?window=2d", headers=admin)).status_code == 400
        await app.services.usage.drain()  # (a body that does not parse is not counted in usage)
        usage = (await client.get("/admin/api/usage", headers=admin)).json()
        assert usage["totals"]["requests"] == 6 and usage["by_tenant"][0]["tenant"] == "acme"
        assert usage["totals"]["prompt_tokens"] == 6
        csv = (await client.get("/admin/api/usage.csv", headers=admin)).text.splitlines()
        assert csv[0].startswith("day,tenant,key_id") and len(csv) == 1 + len(usage["rows"])
        providers = (await client.get("/admin/api/providers", headers=admin)).json()
        chain = next(m for m in providers["models"] if m["model"] == "chain")
        assert chain["strategy"] == "ordered" and [t["target"] for t in chain["targets"]] == [
            "a/model-a",
            "b/model-b",
        ]
        assert sum(t["requests"] for t in chain["targets"]) == 6


async def test_no_secret_in_any_admin_answer_or_console_file(
    env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin_secret = "origin-secret-canary-0123456789"
    header_secret = "header-canary-0123456789"
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    store = MemoryStore()
    app = _app(
        store,
        providers={
            "h": {
                "type": "openai",
                "base_url": "https://h.example/v1",
                "api_key_env": "A_KEY",
                "headers": {"x-extra": header_secret},
            }
        },
        models={"solo": {"targets": ["a/model-a"]}, "h": {"targets": ["h/m"]}},
    )
    stored, _ = await tokens.create_token(store, "ops")
    secrets = [*KEYS.values(), ADMIN, stored, origin_secret, header_secret]
    async with client_for(app) as client:
        headers = _bearer(ADMIN)
        created = (
            await client.post("/admin/api/keys", headers=headers, json={"tenant": "t", "name": "n"})
        ).json()
        secrets.append(created["key"])
        await client.post("/v1/chat/completions", headers=_bearer(created["key"]), json=chat("solo"))
        bodies = []
        for path in (
            "/admin/api/session",
            "/admin/api/overview?window=1h",
            "/admin/api/providers",
            "/admin/api/usage",
            "/admin/api/usage.csv",
            "/admin/api/keys",
            "/admin/api/requests",
            "/admin/api/config",
            "/console/",
            "/console/console.js",
            "/console/console.css",
            "/openapi.json",
        ):
            response = await client.get(path, headers=headers)
            assert response.status_code == 200, path
            bodies.append(response.text + json.dumps(dict(response.headers)))
        config = (await client.get("/admin/api/config", headers=headers)).json()
        assert config["config"]["providers"]["h"]["headers"] == {"x-extra": "[redacted]"}
    with_origin = make_config(gateway={"origin_secret": origin_secret})
    bodies.append(json.dumps(views.configuration(with_origin)))
    assert views.configuration(with_origin)["config"]["gateway"]["origin_secret"] == "[redacted]"
    everything = "\n".join(bodies)
    for secret in secrets:
        for form in (
            secret,
            base64.b64encode(secret.encode()).decode(),
            urllib.parse.quote(secret, safe=""),
            json.dumps(secret)[1:-1],
            secret[-12:],
        ):
            assert form not in everything, form


async def test_console_pages_have_a_strict_csp_and_no_inline_script(env: None) -> None:
    app = _app(MemoryStore())
    async with client_for(app) as client:
        redirect = await client.get("/console")
        assert redirect.status_code == 308 and redirect.headers["location"] == "/console/"
        page = await client.get("/console/")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
        assert page.headers["cache-control"] == "no-store"
        html = page.text
        assert "<script>" not in html and "onclick=" not in html and "style=" not in html
        assert (await client.get("/console/../app.py")).status_code == 404
        assert (await client.get("/console/nothing.js")).status_code == 404
        docs = (await client.get("/openapi.json")).json()
        assert "/admin/api/keys" in docs["paths"] and "/admin/api/overview" in docs["paths"]


async def test_admin_api_is_off_on_lambda_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    from switchboard.config import parse_config

    document = {"models": {"m": {"targets": ["p/x"]}}, "providers": {"p": {"type": "mock"}}}
    lambda_env = {"AWS_LAMBDA_FUNCTION_NAME": "gw"}
    assert not parse_config(document, env=lambda_env).admin.enabled
    assert parse_config({**document, "admin": {}}, env=lambda_env).admin.enabled
    assert parse_config(document, env={}).admin.enabled
    monkeypatch.setenv("SB_TEST_ADMIN", ADMIN)
    app = build_app(make_config(admin={"enabled": False, "token_env": "SB_TEST_ADMIN"}), store=MemoryStore())
    async with client_for(app) as client:
        assert (await client.get("/admin/api/session", headers=_bearer(ADMIN))).status_code == 404
        assert (await client.get("/console/")).status_code == 404
