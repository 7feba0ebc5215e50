"""The translation step that fits a request to what its target model accepts (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.routing.model_rules import fitted, translated

BODY: dict[str, Any] = {
    "model": "m",
    "messages": [{"role": "user", "content": "hi"}],
    "temperature": 0.2,
    "top_p": 0.9,
    "max_tokens": 100,
}


def test_claude_sonnet_5_loses_its_refused_sampling_settings() -> None:
    body, dropped = fitted({**BODY, "top_k": 5}, "claude-sonnet-5", "anthropic", True)
    assert dropped == ("temperature", "top_p", "top_k")
    assert body == {"model": "m", "messages": BODY["messages"], "max_tokens": 100}


def test_any_id_of_the_model_finds_its_rules() -> None:
    for model in (
        "claude-sonnet-5-5",
        "global.anthropic.claude-sonnet-5-5",
        "us.anthropic.claude-sonnet-5-5-v1:0",
    ):
        assert fitted(BODY, model, "bedrock", True)[1] == ("temperature", "top_p")


def test_models_without_rules_and_untranslated_requests_are_untouched() -> None:
    for model, kind, is_translated in (
        ("claude-haiku-4-5", "anthropic", True),  # no refusals known
        ("my-finetune", "openai", True),  # nothing known
        ("claude-sonnet-5", "anthropic", False),  # passed through: the client chose the fields
    ):
        body, dropped = fitted(BODY, model, kind, is_translated)
        assert body is BODY and dropped == ()


def test_gpt_6_refuses_effort_none_and_sampling() -> None:
    body, dropped = fitted(
        {**BODY, "reasoning_effort": "none", "logprobs": True}, "gpt-6.2-sol", "openai", True
    )
    assert dropped == ("temperature", "top_p", "logprobs", "reasoning_effort")
    assert body["reasoning_effort"] == "low" and "logprobs" not in body and "temperature" not in body


@pytest.mark.parametrize(("effort", "kept"), [("none", True), ("low", False), (None, False)])
def test_gpt_6_luna_keeps_sampling_only_at_effort_none(effort: str | None, kept: bool) -> None:
    request = {**BODY, **({"reasoning_effort": effort} if effort else {})}
    body, dropped = fitted(request, "gpt-6-luna", "openai", True)
    assert ("temperature" in body) is kept
    assert dropped == (() if kept else ("temperature", "top_p"))


def test_forced_tool_choice_is_mapped_to_auto_for_models_that_refuse_it() -> None:
    named = {"type": "function", "function": {"name": "f"}}
    for choice in ("required", named):
        body, dropped = fitted({"messages": [], "tool_choice": choice}, "claude-opus-5-5", "anthropic", True)
        assert body["tool_choice"] == "auto" and dropped == ("tool_choice",)
    body, dropped = fitted({"messages": [], "tool_choice": "auto"}, "claude-opus-5-5", "anthropic", True)
    assert dropped == ()


def test_thinking_budgets_are_dropped_only_where_the_translation_makes_one() -> None:
    request = {"messages": [], "reasoning_effort": "high"}
    assert fitted(request, "claude-sonnet-5", "bedrock", True) == ({"messages": []}, ("reasoning_effort",))
    assert fitted(request, "claude-sonnet-5", "anthropic", True) == (request, ())
    assert fitted({"messages": [], "reasoning_effort": "none"}, "claude-sonnet-5", "bedrock", True)[1] == ()


def test_none_values_are_not_dropped_settings() -> None:
    request = {"messages": [], "temperature": None, "tool_choice": None}
    assert fitted(request, "claude-sonnet-5-5", "anthropic", True) == (request, ())


@pytest.mark.parametrize(
    ("native_served", "client_native", "kind", "endpoint", "expected"),
    [
        (False, False, "openai", "chat", False),  # Chat Completions to a Chat Completions API
        (False, False, "anthropic", "chat", True),  # Chat Completions translated for Anthropic
        (False, True, "openai", "chat", True),  # Messages / Responses translated to Chat Completions
        (True, True, "anthropic", "chat", False),  # passed through in the client's own API
        (False, False, "bedrock", "embeddings", False),
    ],
)
def test_what_counts_as_translated(
    native_served: bool, client_native: bool, kind: str, endpoint: str, expected: bool
) -> None:
    assert translated(native_served, client_native, kind, endpoint) is expected
