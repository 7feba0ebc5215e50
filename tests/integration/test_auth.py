"""Gateway API keys on the request path: header variants, bad keys, revocation within the cache TTL,
model allow-lists, no lookup storms, fail-closed on store faults, dialect-shaped errors."""

from __future__ import annotations

import logging

import pytest

from support import Replicator, build_app, chat, client_for, completion, json_response, make_config
from switchboard.errors import StoreError
from switchboard.state import keys
from switchboard.state.auth import NEGATIVE_TTL_S, POSITIVE_TTL_S, Authenticator
from switchboard.state.store.memory import MemoryStore

pytestmark = pytest.mark.anyio
MODELS = {
    "chain": {"targets": ["a/model-a"]},
    "solo": {"targets": ["a/model-a"]},
    "claude-x": {"targets": ["a/model-a"]},
}


def upstream(request):
    return json_response(200, completion())


async def app_with_key(**key_options):
    store = MemoryStore()
    key, record = await keys.create_key(store, tenant="acme", name="ci", **key_options)
    app = build_app(make_config(models=MODELS, gateway={"auth": "required"}), upstream, store=store)
    return app, store, key, record


async def post(app, headers=None, body=None, path="/v1/chat/completions"):
    async with client_for(app) as client:
        return await client.post(path, json=body or chat("chain"), headers=headers or {})


async def test_open_without_keys_ignores_presented_placeholders() -> None:
    app = build_app(make_config(models=MODELS), upstream, store=MemoryStore())
    assert (await post(app)).status_code == 200
    assert (await post(app, {"authorization": "Bearer unused"})).status_code == 200


@pytest.mark.parametrize("style", ["bearer", "x-api-key"])
async def test_valid_key_in_either_header(style: str) -> None:
    app, _, key, _ = await app_with_key()
    headers = {"authorization": f"Bearer {key}"} if style == "bearer" else {"x-api-key": key}
    assert (await post(app, headers)).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer"},
        {"authorization": "Basic abc"},
        {"authorization": "Bearer sb-short"},
        {"x-api-key": "sb-" + "A" * 43},
        {"authorization": b"Bearer \xe9t\xe9"},
    ],
)
async def test_bad_keys_get_401_without_echo(headers: dict, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    app, _, key, _ = await app_with_key()
    response = await post(app, headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "authentication_error" and set(error) == {"message", "type", "param", "code"}
    for value in headers.values():
        token = (value.decode("latin-1") if isinstance(value, bytes) else value).split(" ", 1)[-1]
        if len(token) > 8:
            assert token not in response.text
    assert key not in caplog.text


async def test_model_allow_list_is_403() -> None:
    app, _, key, _ = await app_with_key(models=("claude-*",))
    headers = {"authorization": f"Bearer {key}"}
    assert (await post(app, headers, chat("claude-x"))).status_code == 200
    denied = await post(app, headers, chat("chain"))
    assert denied.status_code == 403 and denied.json()["error"]["param"] == "model"
    via_override = await post(app, headers, chat("claude-x", models=["claude-x", "solo"]))
    assert via_override.status_code == 403


async def test_revocation_takes_effect_within_the_cache_ttl() -> None:
    app, store, key, record = await app_with_key()
    now = [1000.0]
    app.services.auth = Authenticator(store, clock=lambda: now[0])
    headers = {"authorization": f"Bearer {key}"}
    assert (await post(app, headers)).status_code == 200
    await keys.revoke_key(store, record.key_id)
    now[0] += POSITIVE_TTL_S - 1
    assert (await post(app, headers)).status_code == 200  # still cached: the documented bound
    now[0] += 2
    revoked = await post(app, headers)
    assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "key_revoked"


async def test_expired_key_is_401() -> None:
    app, _, key, _ = await app_with_key(expires_in_s=-1)
    response = await post(app, {"authorization": f"Bearer {key}"})
    assert response.status_code == 401


async def test_no_lookup_storm_from_bad_keys() -> None:
    app, store, key, _ = await app_with_key()
    now = [0.0]
    auth = app.services.auth = Authenticator(store, clock=lambda: now[0])
    for _ in range(50):
        await post(app, {"authorization": "Bearer sb-" + "B" * 43})  # well formed, unknown: negative cache
    for i in range(50):
        await post(app, {"authorization": f"Bearer garbage-{i}"})  # malformed: never looked up
    assert auth.lookups == 1
    now[0] += NEGATIVE_TTL_S + 1
    await post(app, {"authorization": "Bearer sb-" + "B" * 43})
    assert auth.lookups == 2
    for _ in range(20):
        assert (await post(app, {"authorization": f"Bearer {key}"})).status_code == 200
    assert auth.lookups == 3  # a valid key: one lookup, then served from the cache


async def test_store_fault_fails_closed() -> None:
    class Broken(MemoryStore):
        async def get(self, pk, sk):
            raise StoreError("dynamodb store failed: ThrottlingException")

    app = build_app(make_config(models=MODELS), upstream, store=Broken())
    response = await post(app, {"authorization": "Bearer sb-" + "C" * 43})
    assert response.status_code == 503 and response.json()["error"]["code"] == "auth_unavailable"


async def test_messages_endpoint_errors_are_anthropic_shaped() -> None:
    app, _, _, _ = await app_with_key()
    body = {"model": "chain", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    response = await post(app, {"x-api-key": "sb-" + "D" * 43}, body, "/v1/messages")
    assert response.status_code == 401
    assert response.json()["type"] == "error" and response.json()["error"]["type"] == "authentication_error"


async def test_web_routes_need_a_key_too() -> None:
    app, _, key, _ = await app_with_key()
    async with client_for(app) as client:
        assert (await client.get("/v1/models")).status_code == 401
        assert (await client.get("/v1/models", headers={"authorization": f"Bearer {key}"})).status_code == 200
        assert (await client.get("/healthz")).status_code == 200


async def test_rpm_limit_is_429_with_openai_headers() -> None:
    app, _, key, _ = await app_with_key(rpm=2)
    headers = {"authorization": f"Bearer {key}"}
    first = await post(app, headers)
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert (await post(app, headers)).status_code == 200
    limited = await post(app, headers)
    assert limited.status_code == 429
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.headers["x-ratelimit-remaining-requests"] == "0"


async def test_tpm_reserves_an_estimate_and_settles_with_reported_usage() -> None:
    app, _, key, _ = await app_with_key(tpm=1000)
    headers = {"authorization": f"Bearer {key}"}
    body = chat("chain", max_tokens=600)
    first = await post(app, headers, body)  # reserves ~600 + prompt; the answer reports 2 tokens
    assert first.status_code == 200 and first.headers["x-ratelimit-limit-tokens"] == "1000"
    # settled to the 2 reported tokens, so the next large reservation fits again
    assert (await post(app, headers, body)).status_code == 200
    huge = await post(app, headers, chat("chain", max_tokens=5000))
    assert huge.status_code == 429 and "tokens per minute" in huge.json()["error"]["message"]


async def test_daily_token_budget() -> None:
    app, _, key, _ = await app_with_key(budget_tokens_per_day=500)
    response = await post(app, {"authorization": f"Bearer {key}"}, chat("chain", max_tokens=1000))
    assert response.status_code == 429 and "tokens per day" in response.json()["error"]["message"]
    assert "x-ratelimit-limit-tokens" not in response.headers  # the OpenAI headers describe per-minute limits


async def test_keys_without_limits_get_no_ratelimit_headers() -> None:
    app, _, key, _ = await app_with_key()
    response = await post(app, {"authorization": f"Bearer {key}"})
    assert response.status_code == 200 and "x-ratelimit-limit-requests" not in response.headers


async def test_revocation_across_two_regions_within_lag_plus_ttl() -> None:
    """A key revoked in one region stops working in the other once the revocation has replicated
    and that region's cached validation has expired: bound = replication lag + POSITIVE_TTL_S."""
    east, west = MemoryStore(), MemoryStore()
    replicator = Replicator(east, west)
    key, record = await keys.create_key(east, tenant="acme", name="ci")
    replicator.sync()
    now = [950.0]
    apps = {}
    for name, store in (("east", east), ("west", west)):
        apps[name] = build_app(make_config(models=MODELS), upstream, store=store)
        apps[name].services.auth = Authenticator(store, clock=lambda: now[0])
    headers = {"authorization": f"Bearer {key}"}
    now[0] = 950.0
    for app in apps.values():
        assert (await post(app, headers)).status_code == 200  # validated and cached in both regions
    now[0] = 1000.0
    revoked_at = now[0]
    await keys.revoke_key(east, record.key_id)
    lag = 20.0
    accepted_until = {}
    for _ in range(int((lag + POSITIVE_TTL_S) / 5) + 3):
        now[0] += 5.0
        if now[0] - revoked_at >= lag:
            replicator.sync()  # the revocation reaches the other region after `lag`
        for name, app in apps.items():
            if (await post(app, headers)).status_code == 200:
                accepted_until[name] = now[0] - revoked_at
    # east re-validated at t=10 against its own store: revoked. West re-validated at t=10 too, but
    # against a store the revocation had not reached, and cached that for another TTL.
    assert accepted_until["east"] == 5.0
    assert POSITIVE_TTL_S < accepted_until["west"] < lag + POSITIVE_TTL_S
    for app in apps.values():
        assert (await post(app, headers)).status_code == 401


async def test_bad_key_floods_do_not_evict_valid_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Malformed tokens are rejected by their shape and never cached; unknown well-formed ones are
    cached apart from validated keys, so neither kind of flood pushes a valid key out of the cache
    (which would send every legitimate request to the store)."""
    import secrets

    from switchboard.errors import Unauthorized
    from switchboard.state import auth as auth_module

    monkeypatch.setattr(auth_module, "CACHE_SIZE", 50)
    store = MemoryStore()
    key, _ = await keys.create_key(store, tenant="acme", name="ci")
    auth = Authenticator(store, clock=lambda: 0.0)
    assert await auth.authenticate(key) is not None
    assert auth.lookups == 1
    for _ in range(500):  # random garbage: rejected by the format check
        with pytest.raises(Unauthorized):
            await auth.authenticate("garbage-" + secrets.token_hex(8))
    assert await auth.authenticate(key) is not None
    assert auth.lookups == 1
    for _ in range(500):  # random well-formed keys: one lookup each, then negatively cached
        with pytest.raises(Unauthorized):
            await auth.authenticate(keys.generate_key())
    assert auth.lookups == 501
    assert await auth.authenticate(key) is not None
    assert auth.lookups == 501  # the valid key is still served from the cache
    assert auth.cached() <= 2 * 50
