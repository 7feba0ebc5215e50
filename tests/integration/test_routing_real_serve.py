"""Routing by path and method on a real `switchboard serve` (issue 16, item 7): a wrong method on a
known route is a 405 with `Allow` in the route's dialect, answered at once (the FastAPI app, built
on first use, took 1.2 s to answer the first one); an unknown route is a 404 without building it
either; an encoded slash is not a path separator."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from real_serve import Serve, create_key, serve

pytestmark = pytest.mark.loopback
FIRST_EXTRA_S = 0.5
"""How much longer than the same request sent again the first answer may take: building the FastAPI
app on first use cost 1.2 s here; compared with a warm repeat, so a loaded machine slows both."""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Serve, str]]:
    tmp = tmp_path_factory.mktemp("routing")
    config = (
        f'[store]\nbackend = "sqlite"\npath = "{tmp / "store.db"}"\n'
        '[providers.mock]\ntype = "mock"\n[models.echo]\ntargets = ["mock/echo"]\n'
    )
    with serve(tmp, config) as (server, path):
        yield server, create_key(path)


def _call(server: Serve, key: str, method: str, path: str, **kwargs: object) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        answer = client.request(method, path, headers={"authorization": f"Bearer {key}"}, **kwargs)  # type: ignore[arg-type]
    return answer, time.monotonic() - started


def test_wrong_method_on_a_stored_response_is_405_with_allow_at_once(gateway: tuple[Serve, str]) -> None:
    server, key = gateway
    for method in ("PUT", "POST", "PATCH"):
        answer, elapsed = _call(server, key, method, "/v1/responses/resp_x", json={})
        assert answer.status_code == 405, answer.text
        assert answer.headers["allow"] == "GET, DELETE"
        assert set(answer.json()["error"]) == {"message", "type", "param", "code"}
        _, warm = _call(server, key, method, "/v1/responses/resp_x", json={})
        assert elapsed < warm + FIRST_EXTRA_S, f"{method} took {elapsed:.2f} s, then {warm:.2f} s"
    answer, _ = _call(server, key, "GET", "/v1/responses/resp_x")
    assert answer.status_code == 404 and answer.json()["error"]["param"] == "response_id"


@pytest.mark.parametrize(
    ("path", "shape"),
    [("/v1/nothing-here", "openai"), ("/v1/messages/batches", "anthropic"), ("/favicon.ico", "openai")],
)
def test_unknown_routes_are_404_in_the_route_shape_at_once(
    gateway: tuple[Serve, str], path: str, shape: str
) -> None:
    server, key = gateway
    answer, elapsed = _call(server, key, "GET", path)
    assert answer.status_code == 404, answer.text
    body = answer.json()
    if shape == "anthropic":
        assert body["type"] == "error" and set(body["error"]) == {"type", "message"}
    else:
        assert set(body["error"]) == {"message", "type", "param", "code"}
    _, warm = _call(server, key, "GET", path)
    assert elapsed < warm + FIRST_EXTRA_S, f"{path} took {elapsed:.2f} s, then {warm:.2f} s"


@pytest.mark.parametrize("path", ["/v1/chat%2Fcompletions", "/v1/chat%2fcompletions", "/v1%2Fmessages"])
def test_an_encoded_slash_is_not_a_separator(gateway: tuple[Serve, str], path: str) -> None:
    server, key = gateway
    body = {"model": "echo", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    answer, _ = _call(server, key, "POST", path, json=body)
    assert answer.status_code == 404, answer.text
    assert set(answer.json()["error"]) == {"message", "type", "param", "code"}


def test_the_web_routes_still_work(gateway: tuple[Serve, str]) -> None:
    server, key = gateway
    answer, _ = _call(server, key, "GET", "/v1/models")
    assert answer.status_code == 200 and answer.json()["data"][0]["id"] == "echo"
    answer, _ = _call(server, key, "POST", "/v1/models")
    assert answer.status_code == 405
