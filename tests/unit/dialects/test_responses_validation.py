"""The Responses dialect checks `input` when the request is parsed and turns it into chat messages
later, only for a target that needs the chat form: every request the checks accept must translate
without an error, into a chat form the executor accepts (`chat_request`, `check_chat_types`), and a
passed-through request never converts its input."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialect_properties import JUNK, maybe, translates_cleanly
from switchboard.dialects.openai_responses import to_chat_request, with_history
from switchboard.errors import InvalidRequest

TEXT = st.fixed_dictionaries(
    {
        "type": maybe(st.sampled_from(["input_text", "output_text", "text", "refusal"])),
        "text": maybe(st.text(max_size=4)),
    },
    optional={"refusal": maybe(st.text(max_size=3))},
)
USER_PART = st.one_of(
    TEXT,
    st.fixed_dictionaries(
        {"type": st.just("input_image"), "image_url": maybe(st.just("https://x.example/a.png"))},
        optional={"detail": maybe(st.just("low")), "file_id": st.just("file_1")},
    ),
    st.fixed_dictionaries(
        {"type": st.just("input_file"), "file_data": maybe(st.just("data:application/pdf;base64,AAAA"))},
        optional={"filename": maybe(st.just("a.pdf")), "file_url": st.just("https://x")},
    ),
)
ITEM = st.one_of(
    st.fixed_dictionaries(
        {
            "role": maybe(st.sampled_from(["user", "assistant", "system", "developer"])),
            "content": maybe(st.text(max_size=4) | st.lists(USER_PART | TEXT, max_size=3)),
        },
        optional={"type": st.just("message")},
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("function_call"),
            "call_id": maybe(st.just("c1")),
            "name": maybe(st.just("f")),
            "arguments": maybe(st.just("{}")),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("function_call_output"),
            "call_id": maybe(st.just("c1")),
            "output": maybe(st.text(max_size=3) | st.lists(TEXT, max_size=2)),
        }
    ),
    st.fixed_dictionaries({"type": st.just("reasoning"), "summary": st.just([])}),
    st.fixed_dictionaries({"type": maybe(st.just("item_reference")), "id": st.just("x")}),
)
BODY = st.fixed_dictionaries(
    {"model": st.just("m"), "input": maybe(st.text(max_size=4) | st.lists(ITEM, max_size=4))},
    optional={
        "instructions": maybe(st.text(max_size=4)),
        "tools": maybe(
            st.lists(
                st.fixed_dictionaries(
                    {"type": maybe(st.sampled_from(["function", "web_search"])), "name": maybe(st.just("f"))},
                    optional={
                        "parameters": maybe(st.just({"type": "object"})),
                        "strict": maybe(st.booleans()),
                    },
                ),
                max_size=2,
            )
        ),
        "tool_choice": maybe(st.sampled_from(["auto", "none", "required"])),
        "max_output_tokens": maybe(st.integers(1, 9000)),
        "stream": maybe(st.booleans()),
        "store": maybe(st.booleans()),
        "reasoning": maybe(st.fixed_dictionaries({}, optional={"effort": maybe(st.just("low"))})),
        "text": maybe(
            st.fixed_dictionaries({}, optional={"format": maybe(st.just({"type": "json_object"}))})
        ),
        "background": maybe(st.booleans()),
        "prompt_cache_key": JUNK,
        "models": maybe(st.lists(st.just("m"), max_size=2)),
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(BODY)
def test_every_request_the_checks_accept_translates_into_a_valid_chat_request(body: dict[str, Any]) -> None:
    try:
        request = to_chat_request(orjson.dumps(body))
    except InvalidRequest:
        return  # refused when parsed: no target, native or not, ever sees it
    checked = translates_cleanly(request)
    assert (checked.model, checked.stream, checked.answer_cap) == ("m", request.stream, request.answer_cap)
    chat = request.body
    assert request.input_messages == chat["messages"][len(chat["messages"]) - len(request.input_messages) :]


def test_history_goes_before_the_input_once_translated() -> None:
    request = to_chat_request(orjson.dumps({"model": "m", "instructions": "be brief", "input": "now?"}))
    assert request.translation is not None
    with_history(request, [{"role": "user", "content": "before"}, {"role": "assistant", "content": "ok"}])
    assert [m["content"] for m in request.body["messages"]] == ["be brief", "before", "ok", "now?"]
    assert request.input_messages == [{"role": "user", "content": "now?"}]
    assert request.answer_cap is None and request.translation is None
