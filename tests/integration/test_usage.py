"""Usage accounting: once per request (retries, fallbacks, streams included), after the response,
surviving a store outage through the local spill."""

from __future__ import annotations

import asyncio
import datetime
import json
from pathlib import Path

import httpx
import pytest

from support import (
    build_app,
    chat,
    chunk,
    client_for,
    completion,
    error_response,
    json_response,
    make_config,
    sse_response,
)
from switchboard.cli.main import main
from switchboard.errors import StoreError
from switchboard.state import keys
from switchboard.state.store.memory import MemoryStore
from switchboard.state.usage import UsageEvent, UsageRecorder, usage_report

pytestmark = pytest.mark.anyio
TODAY = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")


async def setup(handler, store=None):
    store = store or MemoryStore()
    key, record = await keys.create_key(store, tenant="acme", name="ci")
    app = build_app(make_config(), handler, store=store)
    return app, store, key, record


async def test_counted_once_across_retries_and_fallbacks() -> None:
    answers = {"a": [error_response(503), error_response(503)], "b": [json_response(200, completion())]}

    def handler(request: httpx.Request) -> httpx.Response:
        queue = answers[request.url.host[0]]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    app, store, key, record = await setup(handler)
    async with client_for(app) as client:
        response = await client.post(
            "/v1/chat/completions", json=chat(), headers={"authorization": f"Bearer {key}"}
        )
    assert response.headers["x-switchboard-attempts"] == "3"
    await app.aclose()
    rows = await usage_report(store, record.key_id)
    assert rows == [
        {
            "day": TODAY,
            "model": "chain",
            "target": "b/model-b",
            "requests": 1,
            "errors": 0,
            "cache_hits": 0,
            "prompt_tokens": 1,
            "completion_tokens": 1,
            "cached_tokens": 0,
            "cache_write_tokens": 0,
            "unpriced": 1,  # model-b has no price: its cost is unknown and the row says so
            "cost_usd": 0.0,
            "note": "1 unpriced: add b/model-b to [prices]",
        }
    ]


async def test_streams_count_reported_usage_and_cut_streams_count_once() -> None:
    usage = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}\n\n'

    class Cut(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield chunk("partial")
            raise httpx.ReadError("reset")

    streams = [
        sse_response(chunk("hi"), chunk(finish="stop"), usage, b"data: [DONE]\n\n"),
        httpx.Response(200, stream=Cut()),
    ]
    app, store, key, record = await setup(lambda request: streams.pop(0))
    async with client_for(app) as client:
        for _ in range(2):
            await client.post(
                "/v1/chat/completions",
                json=chat(stream=True, stream_options={"include_usage": True}),
                headers={"authorization": f"Bearer {key}"},
            )
    await app.aclose()
    [row] = await usage_report(store, record.key_id)
    # the cut stream never sent usage: what it delivered is estimated (1 chunk, prompt bytes / 4)
    assert (row["requests"], row["completion_tokens"]) == (2, 3 + 1)
    assert 7 + 10 <= row["prompt_tokens"] <= 7 + 60


async def test_errors_are_counted() -> None:
    app, store, key, record = await setup(lambda request: error_response(400))
    async with client_for(app) as client:
        await client.post("/v1/chat/completions", json=chat(), headers={"authorization": f"Bearer {key}"})
    await app.aclose()
    [row] = await usage_report(store, record.key_id)
    assert (row["requests"], row["errors"]) == (1, 1)


async def test_store_outage_spills_then_replays(tmp_path: Path) -> None:
    class Flaky(MemoryStore):
        down = True

        async def add_once(self, *args, **kwargs):
            if self.down and str(args[0]).startswith("USAGE#"):
                raise StoreError("throttled")
            return await super().add_once(*args, **kwargs)

    store = Flaky()
    spill = tmp_path / "spill.jsonl"

    async def no_sleep(_: float) -> None:
        return None

    recorder = UsageRecorder(store, spill_path=str(spill), sleep=no_sleep)
    event = UsageEvent("k1", "acme", "chain", "a", "model-a", 200, 5, 2, 0, at=1_800_000_000)
    recorder.record(event)
    recorder.record(event)
    await recorder.drain()
    assert len(spill.read_text().splitlines()) == 1  # one aggregate of the two requests
    assert await usage_report(store, "k1") == []
    store.down = False
    recorder.record(event)  # the next successful write replays the spill
    await recorder.drain()
    [row] = await usage_report(store, "k1")
    assert row["requests"] == 3 and row["prompt_tokens"] == 15
    assert not spill.exists()


async def test_cache_reads_and_writes_are_counted_apart() -> None:
    store = MemoryStore()
    recorder = UsageRecorder(store)
    event = UsageEvent(
        "k1", "acme", "claude", "a", "model-a", 200, 120, 4, 30, at=1_800_000_000, cache_write_tokens=80
    )
    recorder.record(event)
    recorder.record(event)
    await recorder.drain()
    [row] = await usage_report(store, "k1")
    assert (row["prompt_tokens"], row["cached_tokens"], row["cache_write_tokens"]) == (240, 60, 160)


def test_usage_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        f'[store]\nbackend = "sqlite"\npath = "{tmp_path / "s.db"}"\n[providers.m]\ntype = "mock"\n[models.x]\ntargets = ["m/echo"]\n'
    )

    async def seed() -> None:
        from switchboard.state.store.sqlite import SQLiteStore

        store = SQLiteStore(str(tmp_path / "s.db"))
        recorder = UsageRecorder(store, spill_path=str(tmp_path / "spill.jsonl"))
        for day in (1_800_000_000, 1_800_000_000 + 86_400):
            recorder.record(UsageEvent("kid", "acme", "x", "m", "echo", 200, 4, 2, 0, at=day))
        await recorder.drain()
        await store.close()

    asyncio.run(seed())
    assert main(["usage", "--key", "kid", "--config", str(config), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["day"] for r in report["rows"]] == ["2027-01-15", "2027-01-16"]
    assert report["totals"]["requests"] == 2 and report["totals"]["prompt_tokens"] == 8
    assert main(["usage", "--key", "kid", "--since", "2027-01-16", "--config", str(config), "--json"]) == 0
    assert [r["day"] for r in json.loads(capsys.readouterr().out)["rows"]] == ["2027-01-16"]


async def test_stream_usage_is_requested_upstream_and_stripped_for_the_client() -> None:
    sent: list[dict] = []
    usage = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}\n\n'

    def upstream(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return sse_response(chunk("hi"), chunk(finish="stop"), usage, b"data: [DONE]\n\n")

    app, store, key, record = await setup(upstream)
    headers = {"authorization": f"Bearer {key}"}
    async with client_for(app) as client:
        plain = await client.post("/v1/chat/completions", json=chat(stream=True), headers=headers)
        asked = await client.post(
            "/v1/chat/completions",
            json=chat(stream=True, stream_options={"include_usage": True}),
            headers=headers,
        )
    await app.aclose()
    assert [body["stream_options"] for body in sent] == [{"include_usage": True}] * 2
    assert b'"usage":{' not in plain.content and plain.content.endswith(b"data: [DONE]\n\n")
    assert b'"usage":{"prompt_tokens":7' in asked.content
    [row] = await usage_report(store, record.key_id)
    assert (row["requests"], row["prompt_tokens"], row["completion_tokens"]) == (2, 14, 6)


async def test_stream_token_reservation_settles_with_the_usage_chunk() -> None:
    usage = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}\n\n'
    store = MemoryStore()
    key, _ = await keys.create_key(store, tenant="acme", name="ci", tpm=1000)
    app = build_app(
        make_config(), lambda r: sse_response(chunk("hi"), usage, b"data: [DONE]\n\n"), store=store
    )
    headers = {"authorization": f"Bearer {key}"}
    async with client_for(app) as client:
        for _ in range(4):  # each reserves ~600 tokens; without settling the second would be refused
            response = await client.post(
                "/v1/chat/completions", json=chat(stream=True, max_tokens=600), headers=headers
            )
            assert response.status_code == 200
    await app.aclose()


async def test_cost_from_the_price_table() -> None:
    store = MemoryStore()
    key, record = await keys.create_key(store, tenant="acme", name="ci")
    config = make_config(
        {"prices": {"b/model-b": {"prompt": 2.5, "completion": 10.0}, "model-a": {"prompt": 1.0}}}
    )
    body = completion()
    body["usage"] = {
        "prompt_tokens": 1000,
        "completion_tokens": 500,
        "total_tokens": 1500,
        "prompt_tokens_details": {"cached_tokens": 200},
    }
    app = build_app(config, lambda r: json_response(200, body), store=store)
    async with client_for(app) as client:
        await client.post("/v1/chat/completions", json=chat(), headers={"authorization": f"Bearer {key}"})
    await app.aclose()
    [row] = await usage_report(store, record.key_id)
    # model-a matched by upstream name: 1000 prompt tokens at $1/M (cached at the prompt price)
    assert row["target"] == "a/model-a" and row["cost_usd"] == pytest.approx(0.001)
    assert row["cached_tokens"] == 200


def test_cost_uses_cached_price() -> None:
    from switchboard.config import Price
    from switchboard.state.usage import cost_nano_usd

    price = Price(prompt=2.5, completion=10.0, cached=1.25)
    # 800 uncached x 2.5 + 200 cached x 1.25 + 500 x 10 micro-USD
    assert cost_nano_usd(price, 1000, 500, 200) == (800 * 2.5 + 200 * 1.25 + 500 * 10) * 1000


async def test_on_lambda_usage_is_written_right_after_the_response(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "switchboard-gateway")
    monkeypatch.delenv("SWITCHBOARD_USAGE_SPILL", raising=False)
    store = MemoryStore()
    key, record = await keys.create_key(store, tenant="acme", name="ci")
    app = build_app(make_config(), lambda r: json_response(200, completion()), store=store)
    assert str(app.services.usage._spill).startswith("/tmp/")  # type: ignore[attr-defined]
    async with client_for(app) as client:
        await client.post("/v1/chat/completions", json=chat(), headers={"authorization": f"Bearer {key}"})
        for _ in range(20):  # a few loop turns, far below the 1 s interval used elsewhere
            await asyncio.sleep(0)
        [row] = await usage_report(store, record.key_id)
        assert row["requests"] == 1
    await app.aclose()


async def test_provider_without_stream_usage_keeps_the_estimate_and_streams_fine() -> None:
    sent: list[dict] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        if "stream_options" in sent[-1]:
            return json_response(400, {"error": {"message": "unknown field stream_options"}})
        return sse_response(chunk("hi"), chunk(finish="stop"), b"data: [DONE]\n\n")

    store = MemoryStore()
    key, record = await keys.create_key(store, tenant="acme", name="ci")
    config = make_config(
        providers={"a": {"type": "openai", "base_url": "https://a.example/v1", "stream_usage": False}}
    )
    app = build_app(config, upstream, store=store)
    async with client_for(app) as client:
        response = await client.post(
            "/v1/chat/completions",
            json=chat("solo", stream=True),
            headers={"authorization": f"Bearer {key}"},
        )
    await app.aclose()
    assert response.status_code == 200 and response.content.endswith(b"data: [DONE]\n\n")
    assert "stream_options" not in sent[0]
    [row] = await usage_report(store, record.key_id)
    assert row["requests"] == 1


@pytest.mark.parametrize("pad", ["", "x" * 3000])  # parsed whole; found from the end (long answers)
def test_answer_usage_read_from_the_usage_tail(pad: str) -> None:
    from switchboard.wire.openai import WHOLE_ANSWER, answer_usage

    usage = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
    body = json.dumps({**completion(f"mentions total_tokens: 99 {pad}"), "usage": usage}).encode()
    assert (len(body) > WHOLE_ANSWER) is bool(pad)
    found = answer_usage(body)
    assert found is not None
    assert found.total == 12
    assert answer_usage(json.dumps({**completion(pad), "usage": None}).encode()) is None
    assert answer_usage(b'{"id": "x", "pad": "%s"}' % pad.encode()) is None
    # a content that is the word "usage", details nested in the object, and a layout with spaces
    nested = {**usage, "prompt_tokens_details": {"cached_tokens": 2}}
    body = json.dumps(
        {**completion(f"usage {pad}"), "usage": nested, "service_tier": "flex"}, indent=2
    ).encode()
    found = answer_usage(body)
    assert found is not None
    assert (found.prompt, found.completion, found.cached, found.service_tier) == (5, 7, 2, "flex")


def test_usage_cli_cost_totals_per_key_and_tenant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        f'[store]\nbackend = "sqlite"\npath = "{tmp_path / "s.db"}"\n[providers.m]\ntype = "mock"\n[models.x]\ntargets = ["m/echo"]\n'
    )

    async def seed() -> list[tuple[str, str]]:
        from switchboard.state.store.sqlite import SQLiteStore

        store = SQLiteStore(str(tmp_path / "s.db"))
        made = [
            await keys.create_key(store, tenant=t, name=n)
            for t, n in (("acme", "a"), ("acme", "b"), ("other", "c"))
        ]
        recorder = UsageRecorder(store, spill_path=str(tmp_path / "spill.jsonl"))
        for (_, record), cost in zip(made, (1_500_000, 250_000, 9_000_000), strict=True):
            for _ in range(2):  # two requests each, on two models
                recorder.record(
                    UsageEvent(
                        record.key_id,
                        record.tenant,
                        "x",
                        "m",
                        "echo",
                        200,
                        10,
                        5,
                        0,
                        at=1_800_000_000,
                        cost_nano_usd=cost,
                    )
                )
                recorder.record(
                    UsageEvent(
                        record.key_id,
                        record.tenant,
                        "y",
                        "m",
                        "echo",
                        200,
                        10,
                        5,
                        0,
                        at=1_800_000_000,
                        cost_nano_usd=cost,
                    )
                )
        await recorder.drain()
        await store.close()
        return [(key, record.key_id) for key, record in made]

    (key_a, id_a), (_, id_b), _ = asyncio.run(seed())
    base = ["--config", str(config), "--json"]
    assert main(["usage", "--key", key_a, *base]) == 0  # the key itself is mapped to its record
    report = json.loads(capsys.readouterr().out)
    assert report["key_id"] == id_a and report["tenant"] == "acme" and len(report["rows"]) == 2
    assert report["totals"]["requests"] == 4 and report["totals"]["cost_usd"] == pytest.approx(0.006)
    assert key_a not in json.dumps(report)

    assert main(["usage", "--tenant", "acme", *base]) == 0
    tenant = json.loads(capsys.readouterr().out)
    assert {k["key_id"]: k["cost_usd"] for k in tenant["keys"]} == {id_a: 0.006, id_b: 0.001}
    assert tenant["totals"]["cost_usd"] == pytest.approx(0.007) and tenant["totals"]["requests"] == 8

    assert main(["usage", "--tenant", "acme", "--config", str(config)]) == 0
    text = capsys.readouterr().out
    assert f"key_id={id_a}" in text and "total=tenant=acme" in text and "cost_usd=0.007" in text

    for unknown in (["--key", "0123456789abcdef"], ["--key", keys.generate_key()], ["--tenant", "nobody"]):
        assert main(["usage", *unknown, *base]) == 1
        assert capsys.readouterr().out == ""


async def test_usage_written_in_two_regions_through_a_lagged_last_writer_wins_replica_sums_exactly(
    tmp_path: Path,
) -> None:
    """GIVEN two regions each writing the same key's usage to its own replica of a global table
    (lagged replication, last writer wins per item), WHEN both count requests between syncs, THEN
    the sum read in either region is exactly what was served. The same traffic written to one shared
    item per key (no region in the sort key) loses the other region's increments: the test can fail."""
    from support import Replicator

    def traffic(east: UsageRecorder, west: UsageRecorder, step: int) -> None:
        for recorder, n in ((east, 3), (west, 2)):
            for i in range(n):
                recorder.record(
                    UsageEvent("k", "t", "m", "p", "u", 200, 10 + i, 5, at=1_767_225_600.0 + step)
                )

    async def run(east_region: str, west_region: str) -> tuple[list[dict], list[dict]]:
        stores = MemoryStore(), MemoryStore()
        replicator = Replicator(*stores)
        east = UsageRecorder(stores[0], spill_path=str(tmp_path / "e.jsonl"), region=east_region)
        west = UsageRecorder(stores[1], spill_path=str(tmp_path / "w.jsonl"), region=west_region)
        for step in range(40):
            traffic(east, west, step)
            await east.flush()
            await west.flush()
            if step % 3 == 0:  # replication lag: both regions write the same items between syncs
                replicator.sync()
        replicator.sync()
        return await usage_report(stores[0], "k"), await usage_report(stores[1], "k")

    served = {
        "requests": 40 * 5,
        "prompt_tokens": 40 * (10 + 11 + 12 + 10 + 11),
        "completion_tokens": 40 * 25,
    }
    east_rows, west_rows = await run("us-east-1", "eu-west-1")
    assert east_rows == west_rows
    [row] = east_rows
    assert {k: row[k] for k in served} == served
    shared_east, _ = await run("same", "same")  # the old layout: one item per key, day and model
    assert shared_east[0]["requests"] < served["requests"]


async def test_usage_report_sums_regions_and_reads_items_from_before_regions() -> None:
    store = MemoryStore()
    await store.add("USAGE#k", "2026-12-01#m#p/u", {"requests": 1, "prompt_tokens": 7})
    await store.add("USAGE#k", "2026-12-01#@us-east-1#m#p/u", {"requests": 2, "prompt_tokens": 3})
    await store.add("USAGE#k", "2026-12-01#@eu-west-1#m#p/u", {"requests": 4, "prompt_tokens": 1})
    await store.add("USAGE#k", "2026-12-02#@eu-west-1#m#p/u", {"requests": 1})
    rows = await usage_report(store, "k")
    assert [(r["day"], r["model"], r["target"], r["requests"], r["prompt_tokens"]) for r in rows] == [
        ("2026-12-01", "m", "p/u", 7, 11),
        ("2026-12-02", "m", "p/u", 1, 0),
    ]
    assert [r["day"] for r in await usage_report(store, "k", since="2026-12-02")] == ["2026-12-02"]
