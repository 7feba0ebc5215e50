"""The Gemini dialect checks a body when it is parsed and translates it later, only for a target
that needs the chat form: every body the checks accept must translate without an error, into a chat
form the executor accepts (`chat_request`, `check_chat_types`); each check is a 400 naming its
field; the answer cap comes from `generationConfig.maxOutputTokens`."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialect_properties import JUNK, maybe, translates_cleanly
from switchboard.dialects.gemini_request import parse_count_tokens_request, parse_generate_request
from switchboard.errors import InvalidRequest

NAMES = st.sampled_from(["get_weather", "run"])
PART = st.one_of(
    st.fixed_dictionaries({"text": maybe(st.text(max_size=5))}, optional={"thought": maybe(st.booleans())}),
    st.fixed_dictionaries(
        {
            "inlineData": maybe(
                st.fixed_dictionaries(
                    {
                        "mimeType": maybe(st.sampled_from(["image/png", "application/pdf"])),
                        "data": maybe(st.just("AAAA")),
                    }
                )
            )
        }
    ),
    st.fixed_dictionaries(
        {
            "functionCall": maybe(
                st.fixed_dictionaries(
                    {"name": maybe(NAMES)},
                    optional={
                        "args": maybe(st.dictionaries(st.text(max_size=2), JUNK, max_size=2)),
                        "id": NAMES,
                    },
                )
            )
        },
        optional={"thoughtSignature": st.just("sig")},
    ),
    st.fixed_dictionaries(
        {
            "functionResponse": maybe(
                st.fixed_dictionaries(
                    {"name": maybe(NAMES)}, optional={"response": JUNK, "id": st.one_of(NAMES, JUNK)}
                )
            )
        }
    ),
    st.fixed_dictionaries({"fileData": st.just({"fileUri": "gs://x"})}),
    st.fixed_dictionaries({"thoughtSignature": st.just("sig")}),
)
CONTENT = st.fixed_dictionaries(
    {"parts": maybe(st.lists(PART, max_size=3))},
    optional={"role": maybe(st.sampled_from(["user", "model", "model", "function", "tool"]))},
)
SCHEMA = st.just({"type": "OBJECT", "properties": {"a": {"type": "STRING", "nullable": True}}})
DECLARATION = st.fixed_dictionaries(
    {"name": maybe(NAMES)},
    optional={
        "description": maybe(st.text(max_size=3)),
        "parameters": maybe(SCHEMA),
        "parametersJsonSchema": maybe(st.just({"type": "object"})),
        "behavior": st.just("BLOCKING"),
    },
)
BODY = st.fixed_dictionaries(
    {"contents": st.lists(CONTENT, min_size=1, max_size=4)},
    optional={
        "systemInstruction": maybe(
            st.text(max_size=3)
            | st.fixed_dictionaries(
                {"parts": maybe(st.lists(st.fixed_dictionaries({"text": maybe(st.text())})))}
            )
        ),
        "tools": maybe(
            st.lists(
                st.fixed_dictionaries(
                    {}, optional={"functionDeclarations": maybe(st.lists(DECLARATION, max_size=2))}
                )
                | st.just({"googleSearch": {}}),
                max_size=2,
            )
        ),
        "toolConfig": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "functionCallingConfig": maybe(
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "mode": maybe(st.sampled_from(["AUTO", "ANY", "NONE", "VALIDATED", "SOME"])),
                                "allowedFunctionNames": maybe(st.lists(NAMES, max_size=2)),
                            },
                        )
                    )
                },
            )
        ),
        "generationConfig": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "temperature": maybe(st.floats(0, 2)),
                    "topP": maybe(st.floats(0, 1)),
                    "maxOutputTokens": maybe(st.integers(1, 9000)),
                    "candidateCount": maybe(st.integers(1, 3)),
                    "seed": maybe(st.integers(-5, 5)),
                    "stopSequences": maybe(st.lists(st.text(max_size=2), max_size=2)),
                    "responseMimeType": maybe(
                        st.sampled_from(["application/json", "text/plain", "text/x.enum"])
                    ),
                    "responseSchema": maybe(SCHEMA),
                    "responseJsonSchema": maybe(st.just({"type": "object"})),
                    "thinkingConfig": maybe(
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "thinkingBudget": maybe(st.integers(-1, 20_000)),
                                "thinkingLevel": maybe(st.sampled_from(["low", "HIGH", "max"])),
                                "includeThoughts": st.booleans(),
                            },
                        )
                    ),
                    "topK": JUNK,
                },
            )
        ),
        "cachedContent": maybe(st.just("cachedContents/1")),
        "safetySettings": JUNK,
        "models": maybe(st.lists(st.sampled_from(["pub", "other"]), max_size=2)),
        "timeout": maybe(st.integers(1, 100)),
    },
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(BODY, st.booleans())
def test_every_body_the_checks_accept_translates_into_a_valid_chat_request(
    body: dict[str, Any], stream: bool
) -> None:
    try:
        request = parse_generate_request(orjson.dumps(body), "pub", stream)
    except InvalidRequest:
        return  # refused when parsed: no target, native or not, ever sees it
    checked = translates_cleanly(request)
    assert (checked.model, checked.stream, checked.answer_cap) == ("pub", stream, request.answer_cap)


def user(*parts: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": list(parts)}]}


CALL = {"role": "model", "parts": [{"functionCall": {"name": "f", "id": "c1"}}]}
REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"contents": []}, "contents"),
    ({"contents": [3]}, "contents[0]"),
    ({"contents": [{"parts": {}}]}, "contents[0].parts"),
    ({"contents": [{"role": "bot", "parts": []}]}, "contents[0].role"),
    (user({"text": 3}), "contents[0].parts[0].text"),
    (user({"inlineData": []}), "contents[0].parts[0].inlineData"),
    (user({"inlineData": {"data": "x"}}), "contents[0].parts[0].inlineData.mimeType"),
    (user({"inlineData": {"mimeType": "image/png"}}), "contents[0].parts[0].inlineData.data"),
    (user({"functionResponse": {"name": "f"}}), "contents[0].parts[0].functionResponse"),
    (user({"functionResponse": {"name": 5}}), "contents[0].parts[0].functionResponse.name"),
    (
        {"contents": [CALL, {"role": "user", "parts": [{"functionResponse": {"name": "f", "id": "c2"}}]}]},
        "contents[1].parts[0].functionResponse",
    ),
    (
        {"contents": [{"role": "model", "parts": [{"functionCall": {"name": 1}}]}]},
        "contents[0].parts[0].functionCall.name",
    ),
    (
        {"contents": [{"role": "model", "parts": [{"functionCall": {"name": "f", "args": []}}]}]},
        "contents[0].parts[0].functionCall.args",
    ),
    (user({"text": "x", "thought": True}), "contents"),  # nothing a model can answer
    ({"systemInstruction": 3}, "systemInstruction"),
    ({"systemInstruction": {"parts": 3}}, "systemInstruction.parts"),
    ({"systemInstruction": {"parts": [{"text": 3}]}}, "systemInstruction.parts[0].text"),
    ({"tools": {}}, "tools"),
    ({"tools": [3]}, "tools[0]"),
    ({"tools": [{"functionDeclarations": None}]}, "tools[0].functionDeclarations"),
    ({"tools": [{"functionDeclarations": [{"name": 3}]}]}, "tools[0].functionDeclarations[0].name"),
    (
        {"tools": [{"functionDeclarations": [{"name": "f", "description": 3}]}]},
        "tools[0].functionDeclarations[0].description",
    ),
    (
        {"tools": [{"functionDeclarations": [{"name": "f", "parameters": 3}]}]},
        "tools[0].functionDeclarations[0].parameters",
    ),
    (
        {"tools": [{"functionDeclarations": [{"name": "f", "parametersJsonSchema": 3}]}]},
        "tools[0].functionDeclarations[0].parametersJsonSchema",
    ),
    ({"toolConfig": 3}, "toolConfig"),
    ({"toolConfig": {"functionCallingConfig": 3}}, "toolConfig.functionCallingConfig"),
    ({"toolConfig": {"functionCallingConfig": {"mode": "SOME"}}}, "toolConfig.functionCallingConfig.mode"),
    (
        {"toolConfig": {"functionCallingConfig": {"mode": ["ANY"]}}},
        "toolConfig.functionCallingConfig.mode",
    ),  # was a 500
    (
        {"toolConfig": {"functionCallingConfig": {"allowedFunctionNames": "f"}}},
        "toolConfig.functionCallingConfig.allowedFunctionNames",
    ),
    ({"generationConfig": 3}, "generationConfig"),
    ({"generationConfig": {"temperature": 3}}, "generationConfig.temperature"),
    ({"generationConfig": {"maxOutputTokens": 0}}, "generationConfig.maxOutputTokens"),
    ({"generationConfig": {"seed": 1.5}}, "generationConfig.seed"),
    ({"generationConfig": {"stopSequences": "x"}}, "generationConfig.stopSequences"),
    ({"generationConfig": {"responseSchema": 3}}, "generationConfig.responseSchema"),
    ({"generationConfig": {"responseJsonSchema": 3}}, "generationConfig.responseJsonSchema"),
    ({"generationConfig": {"thinkingConfig": 3}}, "generationConfig.thinkingConfig"),
    (
        {"generationConfig": {"thinkingConfig": {"thinkingBudget": -2}}},
        "generationConfig.thinkingConfig.thinkingBudget",
    ),
    (
        {"generationConfig": {"thinkingConfig": {"thinkingLevel": "max"}}},
        "generationConfig.thinkingConfig.thinkingLevel",
    ),
    ({"models": []}, "models"),
    ({"timeout": 0}, "timeout"),
]


@pytest.mark.parametrize(("change", "param"), REFUSED, ids=[p for _, p in REFUSED])
def test_each_check_is_a_400_naming_the_field(change: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_generate_request(orjson.dumps({**user({"text": "hi"}), **change}), "pub", False)
    assert refused.value.param == param


def test_the_answer_cap_comes_from_max_output_tokens() -> None:
    body = {**user({"text": "hi"}), "generationConfig": {"maxOutputTokens": 321}, "models": ["pub"]}
    request = parse_generate_request(orjson.dumps(body), "pub", False)
    assert (request.answer_cap, request.service_tier, request.models) == (321, None, ("pub",))
    assert "models" not in request.native.body and request.translation is not None
    assert parse_generate_request(orjson.dumps(user({"text": "hi"})), "pub", False).answer_cap is None
    counted = parse_count_tokens_request(orjson.dumps({"generateContentRequest": body}), "pub")
    assert counted.answer_cap == 321
