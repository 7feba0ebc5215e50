"""Usage accounting under faults: exactly once, nothing lost. Counts recorded during a write are
written without waiting for another request; shutdown writes or spills a batch caught mid-write; a
torn spill file is replayed up to its readable lines; a write that succeeded server-side but timed
out at the client is not applied twice when retried or replayed."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from botocore.exceptions import ReadTimeoutError
from moto import mock_aws

from support import make_table
from switchboard.errors import StoreError
from switchboard.state.store.dynamodb import DynamoDBStore
from switchboard.state.store.memory import MemoryStore
from switchboard.state.usage import UsageEvent, UsageRecorder, usage_report

pytestmark = pytest.mark.anyio
WRITES = ("add", "add_once")


def event(key_id: str = "k1", prompt: int = 5) -> UsageEvent:
    return UsageEvent(key_id, "acme", "chain", "a", "model-a", 200, prompt, 2, 0, at=1_800_000_000)


async def no_sleep(_: float) -> None:
    return None


async def turns(n: int = 50) -> None:
    """Let background tasks run (loop turns, not time)."""
    for _ in range(n):
        await asyncio.sleep(0)


class Gated:
    """A store whose counter writes wait at a gate: `hold` writes block (hung store calls) until
    `release()`; everything else goes straight to the memory store underneath."""

    def __init__(self, hold: int = 1) -> None:
        self.inner = MemoryStore()
        self.hold = hold
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()
        self.writes = 0

    def release(self) -> None:
        self.gate.set()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if name not in WRITES:
            return method

        async def gated(*args: Any, **kwargs: Any) -> Any:
            self.writes += 1
            if self.writes <= self.hold:
                self.entered.set()
                await self.gate.wait()
            return await method(*args, **kwargs)

        return gated


async def test_counts_recorded_during_a_write_are_written_without_another_request(tmp_path: Path) -> None:
    """On Lambda (interval 0) counts are written right after each response; those recorded while a
    write is in flight must follow as soon as it ends, not wait for a next request that may never
    come (a quiet gateway, or a frozen execution environment)."""
    store = Gated()
    recorder = UsageRecorder(store, spill_path=str(tmp_path / "spill.jsonl"), flush_interval_s=0.0)  # type: ignore[arg-type]
    recorder.record(event())
    await store.entered.wait()  # the first write is in flight
    recorder.record(event(prompt=7))  # a second request finishes meanwhile; then the gateway is quiet
    store.release()
    await turns()
    [row] = await usage_report(store.inner, "k1")
    assert (row["requests"], row["prompt_tokens"]) == (2, 12)


async def test_drain_during_a_write_writes_or_spills_the_batch(tmp_path: Path) -> None:
    """Shutdown while a write hangs: the batch already taken out of memory is not dropped."""
    store = Gated()
    spill = tmp_path / "spill.jsonl"
    recorder = UsageRecorder(store, spill_path=str(spill), sleep=no_sleep, flush_interval_s=0.0)  # type: ignore[arg-type]
    recorder.record(event())
    await store.entered.wait()  # the write hangs (the gate is never opened)
    await recorder.drain()
    rows = await usage_report(store.inner, "k1")
    spilled = spill.read_text().splitlines() if spill.exists() else []
    assert rows or spilled, "the in-flight batch was neither written nor spilled"
    assert [r["requests"] for r in rows] == [1] and not spilled  # drain replays what it spilled


def leftovers(directory: Path) -> list[str]:
    return [path.name for path in directory.iterdir()]


def torn_spill(spill: Path, lines: list[dict[str, Any]], tail: bytes) -> None:
    spill.parent.mkdir(parents=True, exist_ok=True)
    spill.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines) + tail)


async def test_a_torn_spill_line_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = MemoryStore()
    spill = tmp_path / "spill.jsonl"
    counters = {"requests": 1, "prompt_tokens": 5}
    lines = [{"pk": "USAGE#k1", "sk": "2027-01-15#chain#a/model-a", "counters": counters}] * 2
    torn_spill(spill, lines, b'{"pk": "USAGE#k1", "sk": "2027-01-15#ch')  # the crash the spill is for
    recorder = UsageRecorder(store, spill_path=str(spill), sleep=no_sleep)
    with caplog.at_level(logging.WARNING, logger="switchboard.usage"):
        assert await recorder.replay() == 2
    [row] = await usage_report(store, "k1")
    assert (row["requests"], row["prompt_tokens"]) == (2, 10)
    assert "unreadable" in caplog.text
    assert leftovers(tmp_path) == []  # nothing left renamed `.replaying-*`


async def test_appends_after_a_torn_tail_start_on_a_new_line(tmp_path: Path) -> None:
    class Down(MemoryStore):
        down = True

        async def add(self, *args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise StoreError("throttled")
            return await super().add(*args, **kwargs)

        async def add_once(self, *args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise StoreError("throttled")
            return await super().add_once(*args, **kwargs)

    store = Down()
    spill = tmp_path / "spill.jsonl"
    torn_spill(spill, [], b'{"pk": "USAGE#k1", "sk": "2027')
    recorder = UsageRecorder(store, spill_path=str(spill), sleep=no_sleep)
    recorder.record(event())
    await recorder.drain()  # the store is down: spilled after the torn line
    store.down = False
    assert await recorder.replay() == 1
    [row] = await usage_report(store, "k1")
    assert row["requests"] == 1


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


async def test_a_replay_cut_short_is_finished_later_without_double_counting(tmp_path: Path) -> None:
    """A process that died mid-replay leaves its claimed file behind, some lines already applied: the
    next replay picks it up and applies each line at most once."""

    class Down(MemoryStore):
        down = True

        async def add_once(self, *args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise StoreError("throttled")
            return await super().add_once(*args, **kwargs)

    store = Down()
    spill = tmp_path / "spill.jsonl"
    recorder = UsageRecorder(store, spill_path=str(spill), sleep=no_sleep)
    recorder.record(event("k1"))
    recorder.record(event("k2"))
    await recorder.drain()
    entries = [orjson.loads(line) for line in spill.read_bytes().splitlines()]
    assert len(entries) == 2
    store.down = False
    first = entries[0]  # the crashed replayer had applied the first line
    await store.add_once(first["pk"], first["sk"], first["counters"], first["token"])
    spill.rename(spill.with_suffix(f".replaying-{dead_pid()}"))
    assert await UsageRecorder(store, spill_path=str(spill), sleep=no_sleep).replay() == 2
    for key_id in ("k1", "k2"):
        [row] = await usage_report(store, key_id)
        assert row["requests"] == 1
    assert leftovers(tmp_path) == []


class TimeoutAfterSuccess:
    """A botocore hook: the next counter write reaches DynamoDB and is applied, then the client sees
    a read timeout (the answer was lost): the ambiguous failure that makes retries double-apply."""

    def __init__(self) -> None:
        self.armed = 0
        self.fired = 0

    def __call__(self, model: Any, **_: Any) -> None:
        if self.armed and model.name in ("UpdateItem", "TransactWriteItems"):
            self.armed -= 1
            self.fired += 1
            raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")


@pytest.fixture
def dynamo(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, TimeoutAfterSuccess]]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        make_table(client)
        fault = TimeoutAfterSuccess()
        client.meta.events.register("after-call.dynamodb.*", fault)
        yield client, fault


async def test_a_write_retried_after_a_lost_answer_counts_once(dynamo, tmp_path: Path) -> None:
    client, fault = dynamo
    store = DynamoDBStore("switchboard-test", client=client)
    recorder = UsageRecorder(store, spill_path=str(tmp_path / "spill.jsonl"), sleep=no_sleep)
    fault.armed = 1
    recorder.record(event())
    await recorder.drain()
    assert fault.fired == 1
    [row] = await usage_report(store, "k1")
    assert (row["requests"], row["prompt_tokens"]) == (1, 5)


async def test_a_spilled_write_whose_answer_was_lost_is_replayed_once(dynamo, tmp_path: Path) -> None:
    """Every attempt applied but timed out: the batch is spilled (its fate unknown to the client)
    and replayed later; it still counts once."""
    client, fault = dynamo
    store = DynamoDBStore("switchboard-test", client=client)
    spill = tmp_path / "spill.jsonl"
    recorder = UsageRecorder(store, spill_path=str(spill), sleep=no_sleep)
    fault.armed = 3  # the recorder's three attempts
    recorder.record(event())
    await recorder.flush()
    assert spill.exists() and fault.fired == 3
    assert await recorder.replay() == 1
    [row] = await usage_report(store, "k1")
    assert row["requests"] == 1
