"""One step on the translation path: a translated request is fitted to what its target model
accepts (pure; the executor applies it where it builds each target's upstream request).

Current models refuse some settings outright with a 400 (Claude Sonnet 5: non-default temperature,
top_p, top_k and manual extended thinking; GPT-6.2 Sol: reasoning effort `none` and, at any other
effort, the sampling settings). A client of another format that sends them - most OpenAI-format
clients send `temperature` - must not fail because Switchboard translated its request, so the
settings a target model refuses (`Rules.refuses`, kept with the model's price in
`state/price_list.py`, each from the model's own page) are dropped or mapped here and named in
`x-switchboard-dropped`:

    temperature, top_p, top_k, logprobs, top_logprobs      dropped
    reasoning_effort  when the model refuses effort none   `none` -> `low`
    reasoning_effort  when it refuses thinking budgets     dropped where the target's translation
                                                           turns it into one (Bedrock)
    tool_choice       when it refuses forced tool use      `required` / a function -> `auto`

Untouched: requests passed through in the client's own API, and Chat Completions requests to a
target whose API is Chat Completions (the client chose those fields for that API), embeddings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from switchboard.dialects.request import ChatRequest
from switchboard.providers import provider_type as registered
from switchboard.state.listing import Rules
from switchboard.state.prices import model_rules

_SAMPLING: Final = ("temperature", "top_p", "top_k", "logprobs", "top_logprobs")


def translated(native_served: bool, client_native: bool, provider_type: str, endpoint: str) -> bool:
    """Whether a request reaches its target translated: not passed through in the client's own API
    (`native_served`), not a Chat Completions request (`client_native` False) to a Chat Completions
    API, not embeddings."""
    if endpoint != "chat" or native_served:
        return False
    return client_native or not registered(provider_type).chat_native


def refused(body: Mapping[str, Any], rules: Rules | None, provider_type: str) -> dict[str, Any]:
    """The settings of `body` the model refuses: name -> the value to send instead (`None`: drop)."""
    if rules is None:
        return {}
    out: dict[str, Any] = {}
    refuses = rules.refuses
    effort = body.get("reasoning_effort")
    sampling_refused = rules.sampling_needs_effort_none and effort != "none"
    for name in _SAMPLING:
        if body.get(name) is not None and (name in refuses or sampling_refused):
            out[name] = None
    if effort == "none" and "reasoning_effort.none" in refuses:
        out["reasoning_effort"] = "low"
    elif (
        effort not in (None, "none")
        and "thinking.budget" in refuses
        and registered(provider_type).thinking_budget
    ):
        out["reasoning_effort"] = None
    choice = body.get("tool_choice")
    if "tool_choice.forced" in refuses and (choice == "required" or isinstance(choice, dict)):
        out["tool_choice"] = "auto"
    return out


def fitted(
    body: Mapping[str, Any], model: str, provider_type: str, is_translated: bool
) -> tuple[Mapping[str, Any], tuple[str, ...]]:
    """`body` fitted to `model` (the same object when nothing changes) and the names of the
    settings dropped or mapped."""
    if not is_translated:
        return body, ()
    changes = refused(body, model_rules(model), provider_type)
    if not changes:
        return body, ()
    out = {name: value for name, value in body.items() if name not in changes or changes[name] is not None}
    out.update((name, value) for name, value in changes.items() if value is not None)
    return out, tuple(changes)


def fit(
    request: ChatRequest, provider_type: str, model: str, native_served: bool
) -> tuple[Mapping[str, Any], tuple[str, ...]]:
    """The body a target gets (its model's refusals dropped or mapped) and the names changed: for
    the executor, per target (the serving target's names reach `x-switchboard-dropped`). A target
    serving the client's own API gets its body as sent: the chat form is not built for it."""
    if native_served and request.native is not None:
        return request.native.body, ()
    is_translated = translated(native_served, request.native is not None, provider_type, request.endpoint)
    return fitted(request.body, model, provider_type, is_translated)
