"""Opt-in smoke test of a deployed stack: SWITCHBOARD_E2E_URL=https://<distribution>/v1 scripts/test tests/e2e -s

Drives the deployment with the official `openai` SDK (plain and streamed, using the offline
`mock-*` models of deploy/gateway.toml, so no provider key is needed) and prints the timing headers.
Skipped unless the URL is given. Optional: SWITCHBOARD_E2E_KEY (a gateway key, once keys exist),
SWITCHBOARD_E2E_REGION (sent as x-switchboard-region-preference).
"""

from __future__ import annotations

import os

import pytest

URL = os.environ.get("SWITCHBOARD_E2E_URL")
pytestmark = pytest.mark.skipif(not URL, reason="set SWITCHBOARD_E2E_URL to a deployed gateway's /v1 URL")

HEADERS = (
    "x-switchboard-region",
    "x-switchboard-overhead-ms",
    "x-switchboard-upstream-ms",
    "x-switchboard-provider",
    "x-switchboard-model",
    "x-request-id",
)


@pytest.fixture
def client():
    import openai

    headers = {}
    if region := os.environ.get("SWITCHBOARD_E2E_REGION"):
        headers["x-switchboard-region-preference"] = region
    return openai.OpenAI(
        base_url=URL,
        api_key=os.environ.get("SWITCHBOARD_E2E_KEY", "unused"),
        default_headers=headers,
        max_retries=1,
    )


def test_completion(client) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="mock-echo", messages=[{"role": "user", "content": "hello from e2e"}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "echo: hello from e2e"
    for name in HEADERS:
        print(f"{name}: {raw.headers.get(name)}")
    assert raw.headers["x-switchboard-region"]


def test_streaming(client) -> None:
    with client.chat.completions.with_streaming_response.create(
        model="mock-stream", messages=[{"role": "user", "content": "x"}], stream=True
    ) as response:
        for name in HEADERS:
            print(f"{name}: {response.headers.get(name)}")
        lines = list(response.iter_lines())
    timing = [line for line in lines if line.startswith(": switchboard-timing")]
    print(timing[0] if timing else "no timing comment")
    assert lines[-1] == "data: [DONE]" or "data: [DONE]" in lines
    assert timing
