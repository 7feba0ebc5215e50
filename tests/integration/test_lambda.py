"""Lambda entry points: the Mangum handler with function-URL (payload v2) events, and run.sh as the
Lambda Web Adapter starts it."""

from __future__ import annotations

import asyncio
import base64
import importlib
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import orjson
import pytest

from support import free_port, parse_sse

ROOT = Path(__file__).resolve().parents[2]


def url_event(
    body: dict, path: str = "/v1/chat/completions", method: str = "POST", b64: bool = False
) -> dict:
    raw = orjson.dumps(body)
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "abc123.lambda-url.eu-west-1.on.aws"},
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abc123",
            "domainName": "abc123.lambda-url.eu-west-1.on.aws",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "test",
            },
            "requestId": "fn-url-req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "22/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1795000000000,
        },
        "body": base64.b64encode(raw).decode() if b64 else raw.decode(),
        "isBase64Encoded": b64,
    }


@pytest.fixture(scope="module")
def handler():
    old = {k: os.environ.get(k) for k in ("AWS_REGION", "SWITCHBOARD_CONFIG")}
    os.environ["AWS_REGION"] = "eu-west-1"
    os.environ.pop("SWITCHBOARD_CONFIG", None)
    try:
        module = importlib.import_module("switchboard.lambda_handler")
        yield module.handler
        # Mangum keeps one event loop across invocations (as a warm Lambda does); close it here
        loop = asyncio.get_event_loop_policy().get_event_loop()
        loop.run_until_complete(module.app.aclose())
        loop.close()
        asyncio.set_event_loop(None)
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


CONTEXT = SimpleNamespace(
    aws_request_id="lambda-req-42", function_name="switchboard", get_remaining_time_in_millis=lambda: 30000
)


def test_mangum_non_stream(handler) -> None:
    result = handler(
        url_event({"model": "mock-echo", "messages": [{"role": "user", "content": "hi"}]}), CONTEXT
    )
    assert result["statusCode"] == 200
    body = orjson.loads(result["body"])
    assert body["choices"][0]["message"]["content"] == "echo: hi"
    headers = result["headers"]
    assert headers["x-switchboard-region"] == "eu-west-1"
    assert headers["x-request-id"] == "lambda-req-42"
    assert float(headers["x-switchboard-overhead-ms"]) >= 0


def test_mangum_stream_comes_back_buffered(handler) -> None:
    event = url_event(
        {"model": "mock-fallback", "stream": True, "messages": [{"role": "user", "content": "a b"}]}, b64=True
    )
    result = handler(event, CONTEXT)
    assert result["statusCode"] == 200
    assert result["headers"]["content-type"].startswith("text/event-stream")
    assert parse_sse(result["body"])[-1] == "[DONE]"
    assert ": switchboard-timing" in result["body"]


def test_mangum_errors_and_other_routes(handler) -> None:
    result = handler(url_event({"model": "nope", "messages": [{"role": "user", "content": "x"}]}), CONTEXT)
    assert result["statusCode"] == 404
    assert orjson.loads(result["body"])["error"]["code"] == "model_not_found"
    models = handler(url_event({}, path="/v1/models", method="GET"), CONTEXT)
    assert models["statusCode"] == 200 and orjson.loads(models["body"])["object"] == "list"
    health = handler(url_event({}, path="/healthz", method="GET"), CONTEXT)
    assert health["statusCode"] == 200


@pytest.mark.loopback
def test_run_sh_serves_like_the_web_adapter_expects(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "AWS_LWA_PORT": str(port),
        "LAMBDA_TASK_ROOT": str(ROOT / "lambda_src"),
        "AWS_REGION": "ap-southeast-2",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    env.pop("SWITCHBOARD_CONFIG", None)
    process = subprocess.Popen(
        ["bash", str(ROOT / "lambda_src" / "run.sh")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "run.sh did not become ready"
            time.sleep(0.05)
        lambda_context = orjson.dumps(
            {"request_id": "lwa-req-7", "deadline": 0, "invoked_function_arn": "arn:x"}
        ).decode()
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json={"model": "mock-echo", "messages": [{"role": "user", "content": "hi"}]},
            headers={"x-amzn-lambda-context": lambda_context},
        )
        assert response.status_code == 200
        assert response.headers["x-request-id"] == "lwa-req-7"
        assert response.headers["x-switchboard-region"] == "ap-southeast-2"
    finally:
        process.terminate()
        process.wait(10)
