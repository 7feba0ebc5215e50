"""The Anthropic Messages dialect checks a body when it is parsed and translates it later, only for
a target that needs the chat form: every body the checks accept must translate without an error,
into a chat form the executor accepts (`chat_request`, `check_chat_types`); the facts the stages
read before a target is known come from the client's own fields."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialect_properties import JUNK, maybe, translates_cleanly
from switchboard.dialects.anthropic_request import parse_count_tokens_request, parse_messages_request
from switchboard.dialects.request import parse_chat_request
from switchboard.errors import InvalidRequest

TEXT = st.fixed_dictionaries({"type": st.just("text"), "text": maybe(st.text(max_size=6))})
SYSTEM_TEXT = st.fixed_dictionaries(
    {"type": st.just("text"), "text": maybe(st.text(max_size=6))},
    optional={"cache_control": maybe(st.just({"type": "ephemeral"}))},
)
SOURCE = st.fixed_dictionaries(
    {"type": maybe(st.sampled_from(["base64", "url", "text", "file"]))},
    optional={
        "media_type": maybe(st.just("image/png")),
        "data": maybe(st.just("AAAA")),
        "url": maybe(st.just("https://x.example/a.png")),
    },
)
BLOCK = st.fixed_dictionaries(
    {
        "type": maybe(
            st.sampled_from(
                [
                    "text",
                    "image",
                    "document",
                    "tool_use",
                    "tool_result",
                    "thinking",
                    "redacted_thinking",
                    "other",
                ]
            )
        )
    },
    optional={
        "text": maybe(st.text(max_size=6)),
        "source": maybe(SOURCE),
        "id": maybe(st.just("toolu_1")),
        "name": maybe(st.just("Bash")),
        "input": maybe(st.dictionaries(st.text(max_size=3), JUNK, max_size=2)),
        "tool_use_id": maybe(st.just("toolu_1")),
        "content": maybe(st.text(max_size=4) | st.lists(TEXT | st.just({"type": "image"}), max_size=2)),
        "is_error": maybe(st.booleans()),
        "cache_control": maybe(st.just({"type": "ephemeral"})),
        "title": maybe(st.just("a.pdf")),
    },
)
MESSAGE = st.fixed_dictionaries(
    {
        "role": maybe(st.sampled_from(["user", "assistant", "user", "assistant", "system", "tool"])),
        "content": maybe(st.text(max_size=6) | st.lists(BLOCK, max_size=4)),
    }
)
TOOL = st.fixed_dictionaries(
    {"name": maybe(st.sampled_from(["Bash", "Read"]))},
    optional={
        "type": maybe(st.sampled_from(["custom", "web_search_20250305"])),
        "description": maybe(st.text(max_size=4)),
        "input_schema": maybe(st.just({"type": "object", "properties": {"a": {"type": "string"}}})),
        "cache_control": maybe(st.just({"type": "ephemeral"})),
    },
)
JSON_FORMAT = st.fixed_dictionaries(
    {"type": maybe(st.just("json_schema")), "schema": maybe(st.just({"type": "object"}))}
)
BODY = st.fixed_dictionaries(
    {
        "model": st.just("claude"),
        "max_tokens": st.integers(1, 64_000),
        "messages": st.lists(MESSAGE, min_size=1, max_size=4),
    },
    optional={
        "system": maybe(st.text(max_size=4) | st.lists(SYSTEM_TEXT, max_size=2)),
        "tools": maybe(st.lists(TOOL, max_size=3)),
        "tool_choice": maybe(
            st.fixed_dictionaries(
                {"type": maybe(st.sampled_from(["auto", "any", "none", "tool"]))},
                optional={"name": maybe(st.just("Bash")), "disable_parallel_tool_use": maybe(st.booleans())},
            )
        ),
        "metadata": maybe(st.fixed_dictionaries({}, optional={"user_id": maybe(st.text(max_size=3))})),
        "thinking": maybe(
            st.fixed_dictionaries(
                {"type": maybe(st.sampled_from(["enabled", "disabled", "adaptive"]))},
                optional={"budget_tokens": maybe(st.integers(1, 40_000))},
            )
        ),
        "output_config": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "format": maybe(JSON_FORMAT),
                    "effort": maybe(st.sampled_from(["low", "max", "huge"])),
                    "task_budget": JUNK,
                },
            )
        ),
        "output_format": maybe(JSON_FORMAT),
        "temperature": maybe(st.floats(0, 2)),
        "top_p": maybe(st.floats(0, 1)),
        "stop_sequences": maybe(st.lists(st.text(max_size=3), max_size=2)),
        "stream": maybe(st.booleans()),
        "models": maybe(st.lists(st.sampled_from(["claude", "gpt"]), max_size=2)),
        "priority": maybe(st.sampled_from(["speed", "cost"])),
        "timeout": maybe(st.integers(1, 100)),
        "service_tier": JUNK,
        "a_future_field": JUNK,
    },
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(BODY)
def test_every_body_the_checks_accept_translates_into_a_valid_chat_request(body: dict[str, Any]) -> None:
    raw = orjson.dumps(body)
    try:
        request = parse_messages_request(raw)
    except InvalidRequest:
        return  # refused when parsed: no target, native or not, ever sees it
    checked = translates_cleanly(request)  # what the eager path used to check it with
    assert (checked.model, checked.stream) == (request.model, request.stream)
    assert checked.answer_cap == request.answer_cap == body["max_tokens"]


BASE: dict[str, Any] = {"model": "claude", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


def user(*blocks: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": list(blocks)}]}


def assistant(*blocks: Any) -> dict[str, Any]:
    return {"messages": [{"role": "assistant", "content": list(blocks)}]}


# every check, by the field it names: each is a 400 before any target is chosen
REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"model": ""}, "model"),
    ({"model": "x" * 300}, "model"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"messages": []}, "messages"),
    ({"stream": "yes"}, "stream"),
    ({"messages": [{"role": 3, "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user"}]}, "messages[0].content"),
    ({"messages": [{"role": "system", "content": [{"type": "image"}]}]}, "system[0]"),
    (user({"text": "no type"}), "messages[0].content[0].type"),
    (user({"type": "text", "text": 1}), "messages[0].content[0].text"),
    (user({"type": "image", "source": "abc"}), "messages[0].content[0].source"),
    (user({"type": "image", "source": {"type": "base64", "data": "AAAA"}}), "messages[0].content[0].source"),
    (user({"type": "document", "source": {}}), "messages[0].content[0].source"),
    (assistant({"type": "tool_use", "id": "t"}), "messages[0].content[0]"),
    (assistant({"type": "tool_use", "id": "t", "name": "x", "input": 3}), "messages[0].content[0].input"),
    (user({"type": "tool_result", "content": "x"}), "messages[0].content[0].tool_use_id"),
    (user({"type": "tool_result", "tool_use_id": "t", "content": 5}), "messages[0].content[0].content"),
    (
        user({"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": None}]}),
        "messages[0].content[0].content[0].text",
    ),
    ({"system": 5}, "system"),
    ({"system": [{"type": "image"}]}, "system[0]"),
    ({"system": [{"type": "text"}]}, "system[0].text"),
    ({"temperature": 3}, "temperature"),
    ({"top_p": "x"}, "top_p"),
    ({"stop_sequences": "x"}, "stop_sequences"),
    ({"tools": {}}, "tools"),
    ({"tools": [{"name": 5}]}, "tools[0]"),
    ({"tools": [{"name": "x", "input_schema": None}]}, "tools[0]"),
    ({"tools": [{"name": "x", "description": None}]}, "tools[0].description"),
    ({"tool_choice": {"type": "some"}}, "tool_choice"),
    ({"tool_choice": {"type": "tool", "name": ""}}, "tool_choice.name"),
    ({"tool_choice": {"type": "auto", "disable_parallel_tool_use": "no"}}, "tool_choice"),
    ({"metadata": []}, "metadata"),
    ({"metadata": {"user_id": 5}}, "metadata.user_id"),
    ({"thinking": {"budget_tokens": 5}}, "thinking"),
    ({"thinking": {"type": "enabled", "budget_tokens": 0}}, "thinking.budget_tokens"),
    ({"output_format": {"type": "json_schema"}}, "output_format"),
    ({"output_config": "x"}, "output_config"),
    ({"output_config": {"format": {"type": "json"}}}, "output_config.format"),
    ({"output_config": {"effort": "huge"}}, "output_config.effort"),
    ({"output_config": {"effort": ["high"]}}, "output_config.effort"),  # was a TypeError (500)
    ({"system": None, **user()}, "messages"),  # nothing a model could answer
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages"),
    ({"priority": "fast"}, "priority"),
    ({"models": []}, "models"),
    ({"provider_preferences": {"primary": 3}}, "provider_preferences"),
    ({"timeout": -1}, "timeout"),
]


@pytest.mark.parametrize(("change", "param"), REFUSED, ids=[p for _, p in REFUSED])
def test_each_check_is_a_400_naming_the_field(change: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_messages_request(orjson.dumps({**BASE, **change}))
    assert refused.value.param == param
    assert refused.value.status == 400


def test_the_facts_come_from_the_clients_own_fields() -> None:
    body = {
        "model": "claude",
        "max_tokens": 777,
        "service_tier": "auto",
        "messages": [{"role": "user", "content": "hi"}],
        "models": ["claude", "gpt"],
        "timeout": 9,
    }
    request = parse_messages_request(orjson.dumps(body))
    assert (request.answer_cap, request.service_tier) == (777, None)  # the chat form carries no tier
    assert request.models == ("claude", "gpt") and request.timeout_s == 9.0
    assert "models" not in request.native.body and "timeout" not in request.native.body
    assert request.translation is not None
    counted = parse_count_tokens_request(orjson.dumps({k: v for k, v in body.items() if k != "max_tokens"}))
    assert counted.answer_cap == 1 and "max_tokens" not in counted.native.body


def test_a_chat_request_reads_its_answer_cap_and_tier_once() -> None:
    def parsed(**fields: Any) -> Any:
        return parse_chat_request(
            orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}], **fields})
        )

    assert parsed(max_completion_tokens=30, max_tokens=50).answer_cap == 30
    assert parsed(max_tokens=50).answer_cap == 50
    assert parsed().answer_cap is None
    assert parsed(service_tier="flex").service_tier == "flex"
    assert parsed().service_tier is None
