"""ConversationStore (state/conversations.py) over the memory and SQLite stores: round trips, the
parent chain, tenant isolation, TTL, delete, compression and the item-size limit; then a two-turn
conversation driven the way the /v1/responses handler will drive it."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from switchboard.dialects import openai_responses as responses
from switchboard.errors import InvalidRequest
from switchboard.state.conversations import SK, ConversationStore
from switchboard.state.store import StoreSettings, open_store
from switchboard.state.store.base import Store

pytestmark = pytest.mark.anyio
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"


@pytest.fixture(params=["memory", "sqlite"])
async def store(request, tmp_path: Path):
    backend = open_store(StoreSettings(backend=request.param, path=str(tmp_path / "state.db")))
    yield backend
    await backend.close()


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def response_json(rid: str, previous: str | None = None, text: str = "ok") -> dict[str, Any]:
    return {"id": rid, "object": "response", "previous_response_id": previous, "output_text_for_test": text}


async def test_round_trip_and_the_parent_chain(store: Store) -> None:
    conversations = ConversationStore(store)
    assert await conversations.save(
        "acme", "resp_1", [user("q1")], [assistant("a1")], response_json("resp_1")
    )
    assert await conversations.save(
        "acme", "resp_2", [user("q2")], [assistant("a2")], orjson.dumps(response_json("resp_2", "resp_1"))
    )
    assert await conversations.save(
        "acme", "resp_3", [user("q3")], [assistant("a3")], response_json("resp_3", "resp_2")
    )

    assert await conversations.load_history("acme", "resp_1") == [user("q1"), assistant("a1")]
    assert await conversations.load_history("acme", "resp_3") == [
        user("q1"),
        assistant("a1"),
        user("q2"),
        assistant("a2"),
        user("q3"),
        assistant("a3"),
    ]
    assert orjson.loads(await conversations.get("acme", "resp_2")) == response_json("resp_2", "resp_1")
    # a branch: two continuations of one response each see only their own line
    await conversations.save("acme", "resp_2b", [user("q2b")], [assistant("a2b")], {}, parent="resp_1")
    assert await conversations.load_history("acme", "resp_2b") == [
        user("q1"),
        assistant("a1"),
        user("q2b"),
        assistant("a2b"),
    ]


async def test_another_tenants_ids_are_not_found(store: Store) -> None:
    conversations = ConversationStore(store)
    await conversations.save("acme", "resp_1", [user("secret")], [assistant("a")], response_json("resp_1"))
    assert await conversations.get("other", "resp_1") is None
    assert await conversations.load_history("other", "resp_1") is None
    assert not await conversations.delete("other", "resp_1")
    assert await conversations.get("acme", "resp_1") is not None  # untouched by the other tenant
    # a tenant name with the separator in it cannot reach another tenant's item
    await conversations.save("a#b", "resp_x", [user("q")], [assistant("a")], {})
    assert await conversations.get("a", "b#resp_x") is None
    assert await conversations.get("a#b", "resp_x") is not None


@pytest.mark.parametrize("bad_id", ["", "resp_", "msg_1", "resp_1#x", "resp_" + "a" * 300, "../resp_1"])
async def test_malformed_ids_are_not_found(store: Store, bad_id: str) -> None:
    conversations = ConversationStore(store)
    assert await conversations.get("acme", bad_id) is None
    assert await conversations.load_history("acme", bad_id) is None
    assert not await conversations.delete("acme", bad_id)
    with pytest.raises(ValueError, match="not a response id"):
        await conversations.save("acme", bad_id, [], [], {})


async def test_expired_responses_are_not_found(store: Store) -> None:
    expired = ConversationStore(store, ttl_s=60, clock=lambda: time.time() - 3600)
    await expired.save("acme", "resp_old", [user("q")], [assistant("a")], response_json("resp_old"))
    live = ConversationStore(store, ttl_s=60)
    assert await live.get("acme", "resp_old") is None
    assert await live.load_history("acme", "resp_old") is None
    # a live child whose parent expired: the chain is broken, so the child is not found either
    await live.save("acme", "resp_child", [user("q2")], [assistant("a2")], {}, parent="resp_old")
    assert await live.get("acme", "resp_child") is not None
    assert await live.load_history("acme", "resp_child") is None


async def test_ttl_is_set_and_a_child_never_outlives_its_parent(store: Store) -> None:
    short = ConversationStore(store, ttl_s=100)
    await short.save("acme", "resp_1", [user("q")], [assistant("a")], {})
    parent = await store.get("RESP#acme#resp_1", SK)
    assert parent is not None and abs(parent["expires_at"] - (time.time() + 100)) < 5
    long = ConversationStore(store, ttl_s=10_000)
    await long.save("acme", "resp_2", [user("q")], [assistant("a")], {"previous_response_id": "resp_1"})
    child = await store.get("RESP#acme#resp_2", SK)
    assert child is not None and child["expires_at"] == parent["expires_at"]


async def test_delete(store: Store) -> None:
    conversations = ConversationStore(store)
    await conversations.save("acme", "resp_1", [user("q1")], [assistant("a1")], {})
    await conversations.save("acme", "resp_2", [user("q2")], [assistant("a2")], {}, parent="resp_1")
    assert await conversations.delete("acme", "resp_1")
    assert not await conversations.delete("acme", "resp_1")
    assert await conversations.get("acme", "resp_1") is None
    assert await conversations.load_history("acme", "resp_2") is None  # its history is gone
    assert await conversations.get("acme", "resp_2") is not None


async def test_chains_are_bounded(store: Store) -> None:
    conversations = ConversationStore(store, max_depth=3)
    parent = None
    for n in range(1, 5):
        await conversations.save(
            "acme", f"resp_{n}", [user(f"q{n}")], [assistant(f"a{n}")], {}, parent=parent
        )
        parent = f"resp_{n}"
    assert len(await conversations.load_history("acme", "resp_3") or []) == 6
    with pytest.raises(InvalidRequest) as caught:
        await conversations.load_history("acme", "resp_4")
    assert caught.value.param == "previous_response_id" and caught.value.http_status == 400


async def test_large_entries_are_compressed_and_too_large_ones_refused(store: Store) -> None:
    conversations = ConversationStore(store, max_item_bytes=100_000)
    big = "the same words again " * 10_000  # ~210 KB, compresses well
    assert await conversations.save("acme", "resp_big", [user(big)], [assistant("a")], {})
    item = await store.get("RESP#acme#resp_big", SK)
    assert item is not None and "z" in item and len(item["z"]) < 20_000
    assert await conversations.load_history("acme", "resp_big") == [user(big), assistant("a")]
    small = await conversations.save("acme", "resp_small", [user("hi")], [assistant("a")], {})
    assert small and "j" in (await store.get("RESP#acme#resp_small", SK) or {})

    noise = os.urandom(120_000).hex()  # incompressible past the limit
    assert not await conversations.save("acme", "resp_noise", [user(noise)], [assistant("a")], {})
    assert await conversations.get("acme", "resp_noise") is None


async def test_the_default_limit_keeps_items_under_dynamodbs_400_kb(store: Store) -> None:
    conversations = ConversationStore(store)
    assert not await conversations.save("acme", "resp_n", [user(os.urandom(400_000).hex())], [], {})
    assert await conversations.save("acme", "resp_m", [user(os.urandom(100_000).hex())], [], {})
    item = await store.get("RESP#acme#resp_m", SK)
    assert (
        item is not None and len(orjson.dumps({k: v for k, v in item.items() if k != "expires_at"})) < 400_000
    )


async def test_a_two_turn_conversation_through_the_dialect(store: Store) -> None:
    """What the /v1/responses handler does on a translated target with `store` and
    `previous_response_id`: parse, splice the history in, answer, save."""
    conversations = ConversationStore(store)
    completion = (FIXTURES / "openai" / "completion.json").read_bytes()

    first = responses.to_chat_request(orjson.dumps({"model": "m", "instructions": "sys", "input": "first"}))
    rid = responses.new_id()
    answer = responses.to_response(completion, first.echo, response_id=rid)
    assert await conversations.save(
        "acme", rid, first.input_messages, responses.output_messages(answer), answer
    )

    second = responses.to_chat_request(
        orjson.dumps({"model": "m", "instructions": "sys 2", "input": "second", "previous_response_id": rid})
    )
    assert second.previous_response_id == rid
    history = await conversations.load_history("acme", second.previous_response_id)
    assert history is not None
    responses.with_history(second, history)
    assert second.body["messages"] == [
        {"role": "system", "content": "sys 2"},  # instructions are not carried over
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "Hello from the fixture."},
        {"role": "user", "content": "second"},
    ]
    rid2 = responses.new_id()
    answer2 = responses.to_response(completion, second.echo, response_id=rid2)
    assert json.loads(answer2)["previous_response_id"] == rid
    await conversations.save("acme", rid2, second.input_messages, responses.output_messages(answer2), answer2)
    assert len(await conversations.load_history("acme", rid2) or []) == 4
    assert await conversations.get("acme", rid2) == orjson.dumps(orjson.loads(answer2))
