"""OpenTelemetry traces: spans POSTed as OTLP/HTTP JSON to a real collector on 127.0.0.1, W3C
`traceparent` honoured and sent upstream, nothing added when tracing is off, a dead collector or a
full queue costs the requests nothing (spans are dropped and counted)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web

from support import (
    build_app,
    chat,
    chunk,
    client_for,
    completion,
    error_response,
    free_port,
    json_response,
    make_config,
    sse_response,
)
from switchboard.config import ConfigError
from switchboard.pipeline.services import Services
from switchboard.telemetry.metrics import EMFSink
from switchboard.telemetry.otlp import OTLPExporter
from switchboard.telemetry.tracing import Tracer

pytestmark = pytest.mark.anyio

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


class Collector:
    """An OTLP/HTTP receiver: records every posted ExportTraceServiceRequest."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.content_types: list[str] = []

    async def traces(self, request: web.Request) -> web.Response:
        self.content_types.append(request.headers["content-type"])
        self.posts.append(orjson.loads(await request.read()))
        return web.json_response({})

    def spans(self) -> list[dict[str, Any]]:
        return [
            span
            for post in self.posts
            for resource in post["resourceSpans"]
            for scope in resource["scopeSpans"]
            for span in scope["spans"]
        ]


@pytest.fixture
async def collector() -> AsyncIterator[tuple[Collector, str]]:
    received = Collector()
    app = web.Application()
    app.router.add_post("/v1/traces", received.traces)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield received, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def attributes(span: dict[str, Any]) -> dict[str, Any]:
    return {a["key"]: next(iter(a["value"].values())) for a in span["attributes"]}


def traced(endpoint: str, **telemetry: Any):  # type: ignore[no-untyped-def]
    return make_config(telemetry={"otlp_endpoint": endpoint, **telemetry})


async def test_a_fallback_makes_one_server_span_and_a_client_span_per_attempt(
    collector: tuple[Collector, str],
) -> None:
    received, endpoint = collector
    upstream_parents: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        upstream_parents.append(request.headers["traceparent"])
        if request.url.host == "a.example":
            return error_response(503)
        return json_response(200, completion())

    app = build_app(traced(endpoint), handler)
    async with client_for(app) as client:
        response = await client.post("/v1/chat/completions", json=chat("chain"))
    await app.aclose()  # flushes the exporter

    assert response.status_code == 200
    attempts = int(response.headers["x-switchboard-attempts"])
    assert attempts >= 2
    assert received.content_types == ["application/json"]
    resource = received.posts[0]["resourceSpans"][0]["resource"]
    assert attributes(resource) == {"service.name": "switchboard"}
    spans = received.spans()
    servers = [s for s in spans if s["kind"] == 2]
    clients = [s for s in spans if s["kind"] == 3]
    assert len(servers) == 1 and len(clients) == attempts
    server = servers[0]
    assert "parentSpanId" not in server and server["name"] == "chat chain"
    assert {s["traceId"] for s in spans} == {server["traceId"]}
    assert {s["parentSpanId"] for s in clients} == {server["spanId"]}
    assert upstream_parents == [f"00-{server['traceId']}-{c['spanId']}-01" for c in clients]
    assert attributes(server) | {"switchboard.overhead_ms": 0} == {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "chain",
        "gen_ai.response.model": "model-b",
        "gen_ai.system": "openai",
        "gen_ai.usage.input_tokens": "1",
        "gen_ai.usage.output_tokens": "1",
        "http.request.method": "POST",
        "http.route": "/v1/chat/completions",
        "http.response.status_code": "200",
        "switchboard.region": "test-region",
        "switchboard.provider": "b",
        "switchboard.cache": "bypass",
        "switchboard.attempts": str(attempts),
        "switchboard.outcome": "ok",
        "switchboard.request_id": response.headers["x-request-id"],
        "switchboard.upstream_ms": attributes(server)["switchboard.upstream_ms"],
        "switchboard.overhead_ms": 0,
    }
    assert "status" not in server
    failed, served = clients[:-1], clients[-1]
    for number, span in enumerate(failed, start=1):
        assert span["name"] == "chat model-a" and span["status"]["code"] == 2
        assert attributes(span) == {
            "gen_ai.system": "openai",
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "model-a",
            "switchboard.provider": "a",
            "switchboard.attempt": str(number),
            "http.response.status_code": "503",
            "error.type": "UpstreamServerError",
        }
    assert attributes(served)["switchboard.provider"] == "b"
    assert attributes(served)["http.response.status_code"] == "200"
    assert int(server["startTimeUnixNano"]) <= int(clients[0]["startTimeUnixNano"])
    assert int(served["endTimeUnixNano"]) <= int(server["endTimeUnixNano"])
    body = orjson.dumps(received.posts).decode()
    assert "hello" not in body and '"hi"' not in body  # no request or response content


async def test_an_incoming_traceparent_sets_the_trace_and_goes_upstream(
    collector: tuple[Collector, str],
) -> None:
    received, endpoint = collector
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["traceparent"])
        return sse_response(chunk(role=True), chunk("hel"), chunk("lo", finish="stop"), b"data: [DONE]\n\n")

    app = build_app(traced(endpoint), handler)
    async with client_for(app) as client:
        response = await client.post(
            "/v1/chat/completions",
            json=chat("solo", stream=True),
            headers={"traceparent": f"00-{TRACE}-{PARENT}-01"},
        )
    await app.aclose()

    assert response.status_code == 200 and "data: [DONE]" in response.text
    spans = received.spans()
    server = next(s for s in spans if s["kind"] == 2)
    client_span = next(s for s in spans if s["kind"] == 3)
    assert len(spans) == 2
    assert server["traceId"] == client_span["traceId"] == TRACE
    assert server["parentSpanId"] == PARENT
    assert seen == [f"00-{TRACE}-{client_span['spanId']}-01"]
    assert attributes(client_span)["http.response.status_code"] == "200"  # a stream's span ends at its end
    assert attributes(server)["switchboard.outcome"] == "done"


async def test_an_unsampled_caller_is_propagated_but_not_recorded(collector: tuple[Collector, str]) -> None:
    received, endpoint = collector
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["traceparent"])
        return json_response(200, completion())

    app = build_app(traced(endpoint), handler)
    async with client_for(app) as client:
        headers = {"traceparent": f"00-{TRACE}-{PARENT}-00"}
        response = await client.post("/v1/chat/completions", json=chat("solo"), headers=headers)
    await app.aclose()

    assert response.status_code == 200
    assert seen == [f"00-{TRACE}-{PARENT}-00"]
    assert received.spans() == []


@pytest.mark.parametrize("incoming", [None, f"00-{TRACE}-{PARENT}-01"])
async def test_tracing_off_adds_no_traceparent_upstream(incoming: str | None) -> None:
    seen: list[httpx.Headers] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return json_response(200, completion())

    app = build_app(make_config(), handler)
    async with client_for(app) as client:
        headers = {"traceparent": incoming} if incoming else {}
        response = await client.post("/v1/chat/completions", json=chat("solo"), headers=headers)
    assert response.status_code == 200
    assert len(seen) == 1 and "traceparent" not in seen[0]
    assert not app.services.tracer.enabled


async def test_a_dead_collector_fails_no_request_and_counts_the_lost_spans() -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    app = build_app(traced(dead), lambda request: json_response(200, completion()))
    exporter = app.services.tracer.sink  # type: ignore[attr-defined]
    async with client_for(app) as client:
        statuses = [
            (await client.post("/v1/chat/completions", json=chat("solo"))).status_code for _ in range(40)
        ]
    await app.aclose()

    assert statuses == [200] * 40
    assert exporter.exported == 0
    assert exporter.failed == 80  # 40 server + 40 client spans, every batch refused
    assert exporter.dropped == 0


async def test_a_full_queue_drops_and_counts_spans_and_the_metrics_record_says_so() -> None:
    exporter = OTLPExporter(f"http://127.0.0.1:{free_port()}", max_queue=3, batch_size=1000, interval_s=60)
    lines = io.StringIO()
    services = Services(tracer=Tracer(exporter), metrics=EMFSink("test-region", stream=lines))
    app = build_app(make_config(), lambda request: json_response(200, completion()), services=services)
    async with client_for(app) as client:
        for _ in range(4):
            assert (await client.post("/v1/chat/completions", json=chat("solo"))).status_code == 200
    await app.aclose()

    assert exporter.dropped == 5  # 8 spans, 3 fit the queue
    records = [orjson.loads(line) for line in lines.getvalue().splitlines()]
    dropped = [r.get("TraceSpansDropped", [0])[0] for r in records]
    assert dropped == [0, 1, 2, 2]  # each record counts the drops since the previous one
    assert {m["Name"]: m["Unit"] for m in records[-1]["_aws"]["CloudWatchMetrics"][0]["Metrics"]}[
        "TraceSpansDropped"
    ] == "Count"


@pytest.mark.parametrize(
    ("telemetry", "message"),
    [
        ({"otlp_endpoint": "localhost:4318"}, "telemetry.otlp_endpoint"),
        ({"otlp_endpoint": "http://x/?k=v"}, "telemetry.otlp_endpoint"),
        ({"sample_ratio": 1.5}, "telemetry.sample_ratio"),
        ({"service_name": ""}, "telemetry.service_name"),
        ({"exporter": "grpc"}, "telemetry.exporter: unknown key"),
    ],
)
def test_telemetry_settings_are_validated(telemetry: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_config(telemetry=telemetry)
