"""Response cache pieces: Cache-Control policy, key derivation, entry encoding, the in-process tier."""

from __future__ import annotations

import copy
import json
import time

import orjson
import pytest

from switchboard.config import CacheSettings
from switchboard.errors import InvalidRequest
from switchboard.state.cache import Entry, Policy, ResponseCache, cache_key, policy
from switchboard.state.store.memory import MemoryStore

SETTINGS = CacheSettings(default_ttl_s=300, max_ttl_s=3600)


@pytest.mark.parametrize(
    ("header", "key_ttl", "expected"),
    [
        (None, None, None),
        (None, 120, Policy(lookup=True, max_age_s=None, ttl_s=120)),
        (None, 99_999, Policy(lookup=True, max_age_s=None, ttl_s=3600)),
        (b"max-age=60", None, Policy(lookup=True, max_age_s=60, ttl_s=60)),
        (b"Max-Age=60, private", None, Policy(lookup=True, max_age_s=60, ttl_s=60)),
        (b'max-age="60"', None, Policy(lookup=True, max_age_s=60, ttl_s=60)),
        (b"max-age=86400", None, Policy(lookup=True, max_age_s=86400, ttl_s=3600)),
        (b"no-cache", None, Policy(lookup=False, max_age_s=None, ttl_s=300)),
        (b"no-cache", 30, Policy(lookup=False, max_age_s=None, ttl_s=30)),
        (b"max-age=0", None, Policy(lookup=False, max_age_s=None, ttl_s=300)),
        (b"no-cache, max-age=60", None, Policy(lookup=False, max_age_s=None, ttl_s=300)),
        (b"no-store", 120, None),
        (b"max-age=60, no-store", None, None),
        (b"private", None, None),
        (b"private", 120, Policy(lookup=True, max_age_s=None, ttl_s=120)),
    ],
)
def test_policy(header: bytes | None, key_ttl: int | None, expected: Policy | None) -> None:
    assert policy(header, key_ttl, SETTINGS) == expected


@pytest.mark.parametrize("header", [b"max-age=abc", b"max-age=-1", b"max-age=", b"max-age=99999999999"])
def test_malformed_max_age_is_a_400(header: bytes) -> None:
    with pytest.raises(InvalidRequest) as raised:
        policy(header, None, SETTINGS)
    assert raised.value.http_status == 400


def test_disabled_cache_bypasses_everything() -> None:
    assert policy(b"max-age=60", 60, CacheSettings(enabled=False)) is None


BODY = {
    "model": "gpt-4o",
    "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    "temperature": 0.2,
    "top_p": 0.9,
    "max_tokens": 100,
    "seed": 7,
    "stop": ["\n"],
    "n": 1,
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "tool_choice": "auto",
    "response_format": {"type": "json_object"},
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "logit_bias": {"50256": -100},
    "user": "u1",
    "models": ["gpt-4o", "claude"],
    "provider_preferences": {"primary": "openai"},
}


def _key(body: dict[str, object], tenant: str = "acme", route: str = "/v1/chat/completions") -> str:
    return cache_key(tenant, route, bool(body.get("stream")), orjson.dumps(body))


def _paths(value: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _paths(v, (*prefix, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _paths(v, (*prefix, i))]
    return [prefix]


def test_every_field_changes_the_key() -> None:
    base = _key(BODY)
    paths = _paths(BODY)
    assert len(paths) > 20
    for path in paths:
        changed = copy.deepcopy(BODY)
        holder: object = changed
        for step in path[:-1]:
            holder = holder[step]  # type: ignore[index]
        old = holder[path[-1]]  # type: ignore[index]
        holder[path[-1]] = (old + 1) if isinstance(old, int | float) else f"{old}x"  # type: ignore[index]
        assert _key(changed) != base, path
    for name in BODY:
        removed = {k: v for k, v in BODY.items() if k != name}
        assert _key(removed) != base, name
    assert _key({**BODY, "new_field_from_next_year": True}) != base


def test_key_ignores_formatting_and_order_but_not_tenant_route_or_stream() -> None:
    base = _key(BODY)
    reordered = dict(reversed(list(BODY.items())))
    pretty = json.dumps(reordered, indent=4).encode()
    assert cache_key("acme", "/v1/chat/completions", False, pretty) == base
    assert _key(BODY, tenant="other") != base
    assert _key(BODY, route="/v1/messages") != base
    assert cache_key("acme", "/v1/chat/completions", True, orjson.dumps(BODY)) != base
    # no ambiguity between tenant and route boundaries
    assert cache_key("a", "b/v1", False, b"{}") != cache_key("ab", "/v1", False, b"{}")


def test_stream_entry_round_trip_and_replay_keeps_boundaries() -> None:
    messages = [
        b"data: 1\n\n",
        b"data: 2\n\ndata: 3\n\n",
        b': switchboard-timing {"x":1}\n\ndata: [DONE]\n\n',
    ]
    entry = Entry.from_stream("a", "model-a", messages, 100.0, 60)
    assert entry.expires == 160.0 and entry.timing_at == (2, 0)
    decoded = Entry.decode(entry.encode())
    assert decoded == entry
    replayed = decoded.replay(b": switchboard-timing {}\n\n")
    assert [len(c) > 0 for c in replayed] == [True, True, True]
    assert replayed[:2] == messages[:2]
    assert replayed[2] == b": switchboard-timing {}\n\ndata: [DONE]\n\n"


@pytest.mark.anyio
async def test_memory_tier_is_bounded_by_entries_and_bytes() -> None:
    cache = ResponseCache(MemoryStore(), CacheSettings(memory_entries=3, memory_bytes=10_000))
    now = time.time()
    for i in range(5):
        cache.put(f"k{i}", Entry("a", "m", False, (b"x" * 10,), now, now + 100))
    await cache.drain()
    assert list(cache._memory) == ["k2", "k3", "k4"]
    big = Entry("a", "m", False, (b"y" * 5000,), now, now + 100)  # over memory_bytes / 8: not kept locally
    cache.put("big", big)
    assert "big" not in cache._memory
    await cache.drain()
    assert await cache.get("big", None) == big  # ...but it is in the store
