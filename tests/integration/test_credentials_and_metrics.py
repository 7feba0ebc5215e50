"""Secrets Manager credentials (moto), the EMF metrics record, and secrets never leaving the process."""

from __future__ import annotations

import logging
import time

import boto3
import httpx
import orjson
import pytest
from moto import mock_aws

from support import KEYS, build_app, chat, client_for, completion, error_response, json_response, make_config
from switchboard.app import create_app
from switchboard.telemetry.metrics import EMFSink
from switchboard.upstream.credentials import Credentials, fetch_secret

pytestmark = pytest.mark.anyio


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


async def test_provider_key_from_secrets_manager(aws) -> None:
    aws.create_secret(Name="switchboard/openai", SecretString='{"api_key": "sk-from-secrets-manager"}')
    aws.create_secret(Name="switchboard/plain", SecretString="sk-plain")
    assert fetch_secret("switchboard/plain") == "sk-plain"
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return json_response(200, completion())

    config = make_config(
        providers={
            "sm": {
                "type": "openai",
                "base_url": "https://sm.example/v1",
                "api_key_secret": "switchboard/openai",
            }
        },
        models={"sm": {"targets": ["sm/x"]}},
    )
    app = create_app(config, transport=httpx.MockTransport(handler))
    async with client_for(app) as client:
        for _ in range(3):
            assert (await client.post("/v1/chat/completions", json=chat("sm"))).status_code == 200
    assert seen == ["Bearer sk-from-secrets-manager"] * 3


async def test_unreadable_secret_skips_the_target(aws) -> None:
    config = make_config(
        providers={
            "sm": {"type": "openai", "base_url": "https://sm.example/v1", "api_key_secret": "missing"}
        },
        models={"sm": {"targets": ["sm/x", "a/model-a"]}},
    )
    app = build_app(config, lambda request: json_response(200, completion()))
    app.executor.credentials = Credentials(env=KEYS)
    async with client_for(app) as client:
        response = await client.post("/v1/chat/completions", json=chat("sm"))
    assert response.status_code == 200 and response.headers["x-switchboard-provider"] == "a"


async def test_secret_is_fetched_once_under_concurrency() -> None:
    calls: list[str] = []

    def fetch(name: str) -> str:
        calls.append(name)
        return "sk-x"

    credentials = Credentials(env={}, secret_fetcher=fetch)
    provider = make_config(
        providers={"sm": {"type": "openai", "base_url": "https://x", "api_key_secret": "s"}}
    ).providers["sm"]
    import asyncio

    values = await asyncio.gather(*(credentials.get(provider) for _ in range(20)))
    assert set(values) == {"sk-x"} and calls == ["s"]


async def test_emf_record_per_request(tmp_path) -> None:
    path = tmp_path / "metrics.jsonl"
    sink = EMFSink("eu-west-1", path=str(path))
    app = build_app(make_config(), lambda request: json_response(200, completion()), metrics=sink)
    async with client_for(app) as client:
        await client.post("/v1/chat/completions", json=chat())
        await client.post("/v1/chat/completions", json=chat("nope"))
    await app.aclose()
    records = [orjson.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 2
    ok, missing = records
    directive = ok["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Switchboard"
    assert directive["Dimensions"] == [["region", "service"]]
    names = {m["Name"] for m in directive["Metrics"]}
    assert {"Requests", "OverheadMs", "UpstreamMs", "TotalMs"} <= names
    assert ok["region"] == "eu-west-1" and ok["status"] == 200 and ok["provider"] == "a"
    assert missing["status"] == 404 and "Errors4xx" in {
        m["Name"] for m in missing["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }


async def test_canary_secrets_never_leave(tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    """P2: provider keys planted as canaries appear in no response body, header, log line or metric."""
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "metrics.jsonl"
    leaky = "error for key " + KEYS["A_KEY"] + " and " + KEYS["B_KEY"]
    answers = {
        "a": [error_response(400, leaky), error_response(401, leaky), error_response(500, leaky)],
        "b": [error_response(503, leaky)],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        queue = answers[request.url.host[0]]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    app = build_app(make_config(), handler, metrics=EMFSink("r", path=str(path)))
    seen: list[str] = []
    async with client_for(app) as client:
        for body in (chat(), chat(), chat(), chat(stream=True)):
            response = await client.post("/v1/chat/completions", json=body)
            seen.append(response.text)
            seen.extend(f"{k}: {v}" for k, v in response.headers.items())
    await app.aclose()
    seen.append(path.read_text())
    seen.extend(r.getMessage() for r in caplog.records)
    blob = "\n".join(seen)
    for key in KEYS.values():
        for fragment in (key, key[-12:], key[:14]):
            assert fragment not in blob


@pytest.mark.parametrize(
    "record",
    [
        dict(status=200, stream=False, attempts=1, ttft_ms=None, outcome="ok"),
        dict(status=200, stream=True, attempts=3, ttft_ms=12.5, outcome="cut"),
        dict(status=503, stream=False, attempts=2, ttft_ms=None, outcome="AllTargetsFailed"),
        dict(status=404, stream=False, attempts=0, ttft_ms=None, outcome="UnknownModel"),
    ],
)
def test_emf_document_equals_powertools(record: dict) -> None:
    """Our EMF writer must produce exactly what aws-lambda-powertools' Metrics would."""
    from aws_lambda_powertools.metrics import Metrics, MetricUnit

    from switchboard.telemetry.metrics import _METADATA, _UNITS, RequestRecord, record_metrics

    rec = RequestRecord(
        route="/v1/chat/completions",
        model="m",
        provider="p",
        upstream_model="u",
        overhead_ms=0.31,
        upstream_ms=12.0,
        total_ms=12.31,
        request_id="rid",
        **record,
    )
    ours = EMFSink("eu-west-1").serialize(rec, timestamp_ms=1)
    metrics = Metrics(namespace="Switchboard", service="gateway")
    metrics.clear_metrics()  # Powertools keeps its metric set at class level
    metrics.add_dimension(name="region", value="eu-west-1")
    for name, value in record_metrics(rec).items():
        metrics.add_metric(name=name, unit=getattr(MetricUnit, _UNITS[name]), value=value)
    for key in _METADATA:
        metrics.add_metadata(key=key, value=getattr(rec, key))
    reference = metrics.serialize_metric_set()
    metrics.clear_metrics()
    reference["_aws"]["Timestamp"] = 1
    assert ours == reference


@pytest.mark.parametrize(
    "record",
    [
        dict(status=200, stream=False, attempts=1, ttft_ms=None, outcome="ok"),
        dict(status=200, stream=True, attempts=3, ttft_ms=12.5, outcome="cut", cache="hit"),
        dict(
            status=503, stream=False, attempts=2, ttft_ms=None, outcome="AllTargetsFailed", cause="provider"
        ),
    ],
)
def test_emf_line_is_the_serialized_document(record: dict) -> None:
    """The line is built from parts kept per metric set: it must read back as `serialize`'s document
    (the one held equal to Powertools' above), for every set, the first time and after."""
    from switchboard.telemetry.metrics import RequestRecord

    sink = EMFSink("eu-west-1")
    rec = RequestRecord(
        route="/v1/messages",
        model="m",
        provider=None,
        upstream_model=None,
        overhead_ms=0.5,
        upstream_ms=3.0,
        total_ms=3.5,
        request_id="rid-1",
        **record,
    )
    for _ in range(2):
        main, *cause = sink.line(rec).split(b"\n")
        document = orjson.loads(main)
        assert abs(document["_aws"]["Timestamp"] - time.time() * 1000) < 60_000
        document["_aws"]["Timestamp"] = 1
        assert document == sink.serialize(rec, timestamp_ms=1)
        assert list(document) == list(sink.serialize(rec, timestamp_ms=1))  # the same key order
        assert len(cause) == (record.get("cause") == "provider")
