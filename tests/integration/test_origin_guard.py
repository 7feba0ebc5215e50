"""The origin guard: direct calls to a function URL without CloudFront's secret header are refused."""

from __future__ import annotations

import asyncio

import boto3
import httpx
import orjson
import pytest
from moto import mock_aws

from support import build_app, chat, client_for, completion, json_response, make_config
from switchboard.app import create_app
from switchboard.edge.health import DeepHealth
from switchboard.edge.origin import OriginGuard, read_origin_secret
from switchboard.state.store.memory import MemoryStore
from switchboard.telemetry.metrics import EMFSink, MetricsSink

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


class Sink(MetricsSink):
    enabled = True

    def __init__(self) -> None:
        self.records: list = []

    def record(self, record) -> None:
        self.records.append(record)


async def test_guard_refusals_are_metrics_records_with_their_cause() -> None:
    """A botched rotation (header present, wrong), a direct caller (no header) and an unreadable
    secret each write a record: before, the guard answered without a trace."""
    sink = Sink()
    guard = OriginGuard("switchboard/test/origin", reader=lambda name: (b"s",))
    app = build_app(
        make_config(), lambda request: json_response(200, completion()), origin_guard=guard, metrics=sink
    )
    broken = OriginGuard("n", reader=lambda name: (_ for _ in ()).throw(RuntimeError("AccessDenied")))
    app_down = build_app(
        make_config(), lambda r: json_response(200, completion()), origin_guard=broken, metrics=sink
    )
    async with client_for(app) as client:
        await client.post("/v1/chat/completions", json=chat())
        await client.post("/v1/chat/completions", json=chat(), headers={"x-switchboard-origin": "old"})
        await client.post("/v1/chat/completions", json=chat(), headers={"x-switchboard-origin": "s"})
    async with client_for(app_down) as client:
        await client.post("/v1/chat/completions", json=chat(), headers={"x-switchboard-origin": "s"})
    got = [(r.status, r.outcome, r.cause) for r in sink.records]
    assert got == [
        (403, "origin_forbidden", "direct"),
        (403, "origin_forbidden", "gateway"),
        (200, "ok", "none"),
        (503, "origin_unavailable", "gateway"),
    ]
    emf = EMFSink("eu-west-1")
    cause_doc = emf.serialize_cause(sink.records[1], timestamp_ms=1)
    assert cause_doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["region", "service", "cause"]]
    assert cause_doc["cause"] == "gateway" and cause_doc["FailuresByCause"] == [1.0]
    assert "s" not in {str(v) for v in cause_doc.values()}


async def test_deep_health_runs_behind_the_guard_and_checks_the_store() -> None:
    """`/healthz/deep` exercises the origin header path and the store, never a provider."""
    calls: list = []
    guard = OriginGuard("n", reader=lambda name: (b"s",))
    store = MemoryStore()
    app = create_app(
        make_config(),
        transport=httpx.MockTransport(lambda r: calls.append(r) or json_response(200, completion())),
        origin_guard=guard,
        store=store,
    )
    async with client_for(app) as client:
        direct = await client.get("/healthz/deep")
        ok = await client.get("/healthz/deep", headers={"x-switchboard-origin": "s"})
        wrong = await client.get("/healthz/deep", headers={"x-switchboard-origin": "other"})
    assert direct.status_code == wrong.status_code == 403
    assert ok.status_code == 200
    assert ok.json() == {
        "status": "ok",
        "region": "test-region",
        "checks": {"origin": "ok", "config": "ok", "store": "ok"},
    }
    assert calls == []  # no provider was called


async def test_deep_health_fails_when_the_store_hangs() -> None:
    class Hanging(MemoryStore):
        async def get(self, pk, sk):
            await asyncio.sleep(30)

    health = DeepHealth(make_config(), Hanging(), timeout_s=0.05)
    status, body = await health.check()
    assert status == 503
    assert orjson.loads(body)["checks"]["store"] == "timeout"
