"""The response cache through the gateway: hit/miss/refresh/bypass, tenant isolation, stream replay
equality, the store tier across instances, size limits, store faults and usage of cache hits."""

from __future__ import annotations

import asyncio
import base64
import os
import time

import httpx
import orjson
import pytest

from support import (
    build_app,
    chat,
    chunk,
    client_for,
    completion,
    json_response,
    make_config,
    parse_sse,
    sse_response,
)
from switchboard.errors import StoreError
from switchboard.state import keys
from switchboard.state.store.memory import MemoryStore
from switchboard.state.usage import usage_report
from switchboard.telemetry.metrics import MetricsSink, RequestRecord

pytestmark = pytest.mark.anyio
CHAT = "/v1/chat/completions"


class Upstream:
    """Counts calls; answers with a numbered completion (or stream) so replays are recognisable."""

    def __init__(self) -> None:
        self.calls = 0
        self.bodies: list[dict[str, object]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        body = orjson.loads(request.content)
        self.bodies.append(body)
        if body.get("stream"):
            usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
            tail = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
            return sse_response(
                chunk(role=True),
                chunk(f"answer {self.calls}"),
                chunk(finish="stop"),
                b"data: " + orjson.dumps({**tail, "choices": [], "usage": usage}) + b"\n\n",
                b"data: [DONE]\n\n",
            )
        return json_response(200, completion(f"answer {self.calls}"))


class Records(MetricsSink):
    enabled = True

    def __init__(self) -> None:
        self.records: list[RequestRecord] = []

    def record(self, record: RequestRecord) -> None:
        self.records.append(record)


async def make(store=None, upstream=None, **key_options):
    store = store or MemoryStore()
    upstream = upstream or Upstream()
    key_a, record_a = await keys.create_key(store, tenant="acme", name="a", **key_options)
    key_b, _ = await keys.create_key(store, tenant="globex", name="b", **key_options)
    metrics = Records()
    app = build_app(make_config(), upstream, store=store, metrics=metrics)
    return app, upstream, store, metrics, {"a": key_a, "b": key_b, "record_a": record_a}


async def ask(app, key, body=None, cache=None, path=CHAT, **headers):
    sent = {"authorization": f"Bearer {key}", **headers}
    if cache is not None:
        sent["cache-control"] = cache
    async with client_for(app) as client:
        return await client.post(path, json=body or chat(), headers=sent)


async def test_miss_then_hit_then_refresh_then_bypass() -> None:
    app, upstream, _, metrics, k = await make()
    first = await ask(app, k["a"], cache="max-age=60")
    assert first.headers["x-switchboard-cache"] == "miss"
    hit = await ask(app, k["a"], cache="max-age=60")
    assert hit.headers["x-switchboard-cache"] == "hit"
    assert hit.content == first.content and upstream.calls == 1
    assert hit.headers["x-switchboard-provider"] == "a" and hit.headers["x-switchboard-model"] == "model-a"
    assert hit.headers["x-switchboard-upstream-ms"] == "0.000" and "age" in hit.headers
    refreshed = await ask(app, k["a"], cache="no-cache")
    assert refreshed.headers["x-switchboard-cache"] == "refresh" and upstream.calls == 2
    assert (await ask(app, k["a"], cache="max-age=60")).json() == refreshed.json()  # refresh stored it
    bypass = await ask(app, k["a"], cache="no-store")
    assert bypass.headers["x-switchboard-cache"] == "bypass" and upstream.calls == 3
    plain = await ask(app, k["a"])
    assert plain.headers["x-switchboard-cache"] == "bypass" and upstream.calls == 4
    assert [r.cache for r in metrics.records] == ["miss", "hit", "refresh", "hit", "bypass", "bypass"]
    await app.aclose()


async def test_every_cached_request_misses_under_another_tenant() -> None:
    app, upstream, _, _, k = await make()
    bodies = [chat(text=f"q{i}") for i in range(5)] + [chat(stream=True)]
    for body in bodies:
        assert (await ask(app, k["a"], body, cache="max-age=60")).status_code == 200
    calls = upstream.calls
    for body in bodies:
        response = await ask(app, k["b"], body, cache="max-age=60")
        assert response.headers["x-switchboard-cache"] == "miss"
    assert upstream.calls == calls + len(bodies)
    for body in bodies:  # the first tenant still hits its own entries
        assert (await ask(app, k["a"], body, cache="max-age=60")).headers["x-switchboard-cache"] == "hit"
    await app.aclose()


async def test_changed_field_or_stream_flag_misses() -> None:
    app, upstream, _, _, k = await make()
    await ask(app, k["a"], chat(temperature=0.1), cache="max-age=60")
    assert (await ask(app, k["a"], chat(temperature=0.2), cache="max-age=60")).headers[
        "x-switchboard-cache"
    ] == "miss"
    reordered = b'{"messages":[{"content":"hi","role":"user"}],   "temperature":0.1, "model":"chain"}'
    async with client_for(app) as client:
        response = await client.post(
            CHAT,
            content=reordered,
            headers={
                "authorization": f"Bearer {k['a']}",
                "cache-control": "max-age=60",
                "content-type": "application/json",
            },
        )
    assert response.headers["x-switchboard-cache"] == "hit"
    stream = await ask(app, k["a"], chat(temperature=0.1, stream=True), cache="max-age=60")
    assert stream.headers["x-switchboard-cache"] == "miss"
    assert upstream.calls == 3
    await app.aclose()


async def test_stream_replay_has_the_same_chunks_and_a_fresh_timing_comment() -> None:
    app, upstream, _, _, k = await make()
    body = chat(stream=True)
    messages: list[list[bytes]] = []
    for _ in range(2):
        received: list[bytes] = []
        async with (
            client_for(app) as client,
            client.stream(
                "POST",
                CHAT,
                json=body,
                headers={"authorization": f"Bearer {k['a']}", "cache-control": "max-age=60"},
            ) as response,
        ):
            async for part in response.aiter_raw():
                received.append(part)
        messages.append(received)
    assert upstream.calls == 1
    first, second = (b"".join(m) for m in messages)
    assert parse_sse(first.decode()) == parse_sse(second.decode())
    assert b"answer 1" in second and second.endswith(b"data: [DONE]\n\n")
    timing = [line for line in second.split(b"\n") if line.startswith(b": switchboard-timing")]
    assert len(timing) == 1 and b'"upstream_ms":0.0' in timing[0]
    # the usage chunk the client did not ask for is neither relayed nor replayed
    assert b'"usage":{' not in first and b'"usage":{' not in second
    await app.aclose()


class Paced(httpx.AsyncByteStream):
    """An upstream stream delivered event by event (separate reads, separate client messages)."""

    def __init__(self, *events: bytes) -> None:
        self.events = events

    async def __aiter__(self):
        for event in self.events:
            await asyncio.sleep(0.002)
            yield event


async def test_stream_chunk_boundaries_are_replayed() -> None:
    def upstream(request):
        events = (chunk(role=True), chunk("one"), chunk("two"), chunk(finish="stop"), b"data: [DONE]\n\n")
        return httpx.Response(200, stream=Paced(*events), headers={"content-type": "text/event-stream"})

    app, _, _, _, k = await make(upstream=upstream)
    sent: list[list[bytes]] = []
    for _ in range(2):
        out: list[bytes] = []

        requests = [{"type": "http.request", "body": orjson.dumps(chat(stream=True)), "more_body": False}]

        async def receive(requests=requests):
            if requests:
                return requests.pop()
            await asyncio.Event().wait()  # the client stays connected
            return {"type": "http.disconnect"}

        async def send(message, out=out):
            if message["type"] == "http.response.body":
                out.append(message.get("body", b""))

        headers = [
            (b"authorization", f"Bearer {k['a']}".encode()),
            (b"cache-control", b"max-age=60"),
            (b"content-type", b"application/json"),
        ]
        scope = {"type": "http", "method": "POST", "path": CHAT, "headers": headers}
        await app(scope, receive, send)
        sent.append(out)
    assert len(sent[0]) == len(sent[1]) > 1
    for a, b in zip(sent[0][:-1], sent[1][:-1], strict=True):
        assert a == b
    strip = lambda c: b"".join(e for e in c.split(b"\n\n") if not e.startswith(b": switchboard"))  # noqa: E731
    assert strip(sent[0][-1]) == strip(sent[1][-1])
    await app.aclose()


async def test_failed_and_cut_answers_are_not_cached() -> None:
    answers = [
        json_response(400, {"error": {"message": "bad", "type": "x", "param": None, "code": None}}),
        sse_response(chunk("partial")),  # no [DONE]: cut
        json_response(200, completion("good")),
    ]
    upstream_calls = []

    def upstream(request):
        upstream_calls.append(request)
        return answers.pop(0)

    app, _, _, _, k = await make(upstream=upstream)
    assert (await ask(app, k["a"], cache="max-age=60")).status_code == 400
    cut = await ask(app, k["a"], chat(stream=True), cache="max-age=60")
    assert b"stream_interrupted" in cut.content
    assert (await ask(app, k["a"], cache="max-age=60")).headers["x-switchboard-cache"] == "miss"
    assert len(upstream_calls) == 3
    await app.aclose()


async def test_store_tier_serves_another_instance_and_respects_max_age() -> None:
    store = MemoryStore()
    app1, upstream, _, _, k = await make(store=store)
    await ask(app1, k["a"], cache="max-age=60")
    await app1.aclose()  # drains the background write
    app2 = build_app(make_config(), upstream, store=store)
    hit = await ask(app2, k["a"], cache="max-age=60")
    assert hit.headers["x-switchboard-cache"] == "hit" and upstream.calls == 1
    # an entry older than the request's max-age is not served
    item = await store.get(next(i["pk"] for i in await store.scan_prefix("CACHE#")), "V1")
    assert item is not None
    app2.services.cache._memory.clear()  # type: ignore[union-attr]
    app2.services.cache._clock = lambda: time.time() + 30  # type: ignore[union-attr]
    stale = await ask(app2, k["a"], cache="max-age=10")
    assert stale.headers["x-switchboard-cache"] == "miss" and upstream.calls == 2
    await app2.aclose()


async def test_key_default_policy_and_per_request_opt_out() -> None:
    app, upstream, _, _, k = await make(cache_ttl=120)
    assert (await ask(app, k["a"])).headers["x-switchboard-cache"] == "miss"
    assert (await ask(app, k["a"])).headers["x-switchboard-cache"] == "hit"
    assert (await ask(app, k["a"], cache="no-store")).headers["x-switchboard-cache"] == "bypass"
    assert upstream.calls == 2
    await app.aclose()


async def test_large_answers_stay_local_and_are_counted() -> None:
    big = base64.b64encode(os.urandom(320_000)).decode()  # ~430 KB that compresses to ~320 KB

    def upstream(request):
        return json_response(200, completion(big))

    store = MemoryStore()
    app, _, _, metrics, k = await make(store=store, upstream=upstream)
    assert (await ask(app, k["a"], cache="max-age=60")).status_code == 200
    await app.aclose()
    assert metrics.records[-1].cache_too_large
    assert await store.scan_prefix("CACHE#") == []


async def test_store_fault_bypasses_the_cache_and_still_answers() -> None:
    class Broken(MemoryStore):
        broken = False

        async def get(self, pk, sk):
            if self.broken and pk.startswith("CACHE#"):
                raise StoreError("throttled")
            return await super().get(pk, sk)

        async def put(self, pk, sk, attributes, **kwargs):
            if self.broken and pk.startswith("CACHE#"):
                raise StoreError("throttled")
            return await super().put(pk, sk, attributes, **kwargs)

    store = Broken()
    app, _, _, _, k = await make(store=store)
    store.broken = True
    response = await ask(app, k["a"], cache="max-age=60")
    assert response.status_code == 200 and response.headers["x-switchboard-cache"] == "bypass"
    store.broken = False
    assert (await ask(app, k["a"], cache="max-age=60")).headers["x-switchboard-cache"] == "miss"
    await app.aclose()


async def test_malformed_cache_control_is_a_clear_400() -> None:
    app, upstream, _, _, k = await make()
    response = await ask(app, k["a"], cache="max-age=soon")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cache_control"
    assert upstream.calls == 0
    await app.aclose()


async def test_cache_hits_count_once_in_usage_without_tokens() -> None:
    app, _, store, _, k = await make()
    for _ in range(3):
        await ask(app, k["a"], cache="max-age=60")
    await app.aclose()
    [row] = await usage_report(store, k["record_a"].key_id)
    assert (row["requests"], row["cache_hits"], row["prompt_tokens"]) == (3, 2, 1)


async def test_anthropic_dialect_and_embeddings_are_cached_in_their_own_format() -> None:
    def upstream(request):
        body = orjson.loads(request.content)
        if request.url.path.endswith("/embeddings"):
            data = [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}]
            usage = {"prompt_tokens": 2, "total_tokens": 2}
            return json_response(
                200, {"object": "list", "data": data, "model": body["model"], "usage": usage}
            )
        return json_response(200, completion("bonjour"))

    app, _, _, _, k = await make(upstream=upstream)
    message = {"model": "chain", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    first = await ask(app, k["a"], message, cache="max-age=60", path="/v1/messages")
    second = await ask(app, k["a"], message, cache="max-age=60", path="/v1/messages")
    assert second.headers["x-switchboard-cache"] == "hit" and second.json() == first.json()
    assert second.json()["type"] == "message"
    embed = {"model": "chain", "input": "hello"}
    await ask(app, k["a"], embed, cache="max-age=60", path="/v1/embeddings")
    again = await ask(app, k["a"], embed, cache="max-age=60", path="/v1/embeddings")
    assert again.headers["x-switchboard-cache"] == "hit" and again.json()["data"][0]["embedding"] == [
        0.1,
        0.2,
    ]
    await app.aclose()
