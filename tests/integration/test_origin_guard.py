"""The origin guard: direct calls to a function URL without CloudFront's secret header are refused."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from support import build_app, chat, client_for, completion, json_response, make_config
from switchboard.edge.origin import OriginGuard, read_origin_secret

pytestmark = pytest.mark.anyio


def guarded(reader, **kwargs):
    guard = OriginGuard("switchboard/test/origin", reader=reader, **kwargs)
    return build_app(make_config(), lambda request: json_response(200, completion()), origin_guard=guard)


async def test_requests_need_a_current_or_previous_secret() -> None:
    app = guarded(lambda name: (b"new-secret", b"old-secret"))
    async with client_for(app) as client:
        missing = await client.post("/v1/chat/completions", json=chat())
        wrong = await client.post(
            "/v1/chat/completions", json=chat(), headers={"x-switchboard-origin": "guess"}
        )
        current = await client.post(
            "/v1/chat/completions", json=chat(), headers={"x-switchboard-origin": "new-secret"}
        )
        previous = await client.post(
            "/v1/chat/completions", json=chat(), headers={"x-switchboard-origin": "old-secret"}
        )
        models = await client.get("/v1/models")
        health = await client.get("/healthz")
    assert missing.status_code == wrong.status_code == models.status_code == 403
    assert missing.json()["error"]["code"] == "origin_forbidden"
    assert "new-secret" not in missing.text
    assert current.status_code == previous.status_code == 200
    assert health.status_code == 200  # the Lambda Web Adapter's readiness check comes without the header


async def test_unreadable_secret_fails_closed() -> None:
    def broken(name: str) -> tuple[bytes, ...]:
        raise RuntimeError("AccessDenied")

    app = guarded(broken)
    async with client_for(app) as client:
        response = await client.post(
            "/v1/chat/completions", json=chat(), headers={"x-switchboard-origin": "x"}
        )
    assert response.status_code == 503


async def test_secret_is_cached_then_refreshed() -> None:
    calls = []
    now = [0.0]

    def reader(name: str) -> tuple[bytes, ...]:
        calls.append(name)
        return (b"s1",) if len(calls) == 1 else (b"s2",)

    app = guarded(reader, clock=lambda: now[0])
    async with client_for(app) as client:
        for _ in range(5):
            assert (
                await client.post("/v1/chat/completions", json=chat(), headers={"x-switchboard-origin": "s1"})
            ).status_code == 200
        now[0] = 301.0
        assert (
            await client.post("/v1/chat/completions", json=chat(), headers={"x-switchboard-origin": "s1"})
        ).status_code == 403
        assert (
            await client.post("/v1/chat/completions", json=chat(), headers={"x-switchboard-origin": "s2"})
        ).status_code == 200
    assert len(calls) == 2


def test_reads_rotation_pair_from_secrets_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="eu-west-1")
        client.create_secret(
            Name="switchboard/prod/origin", SecretString='{"current": "abc", "previous": ""}'
        )
        assert read_origin_secret("switchboard/prod/origin") == (b"abc",)


def test_origin_secret_from_env() -> None:
    from switchboard.config import parse_config

    doc = {"providers": {"m": {"type": "mock"}}, "models": {"x": {"targets": ["m/echo"]}}}
    config = parse_config(doc, env={"SWITCHBOARD_ORIGIN_SECRET": "switchboard/prod/origin"})
    assert config.gateway.origin_secret == "switchboard/prod/origin"
