"""Strict parsing and validation of inbound request bodies (pure; no I/O).

One `orjson` parse rejects invalid UTF-8, lone surrogates, NaN/Infinity and over-deep nesting; a
second pass with the stdlib parser rejects duplicate keys (a body that means one thing to
Switchboard and another to a provider). Switchboard's own routing fields are removed here so they
never reach a provider, and fields that could choose an upstream URL, host or credential are refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from switchboard.dialects.chat_types import check_chat_types
from switchboard.errors import InvalidRequest
from switchboard.values import NativeRequest

# Fields some gateways and SDKs use to pick an upstream or a credential. Never honoured: refused.
FORBIDDEN_FIELDS: Final = frozenset(
    {
        "api_base",
        "base_url",
        "api_key",
        "api_version",
        "api_host",
        "azure_endpoint",
        "azure_ad_token",
        "organization",
        "url",
        "endpoint",
        "host",
        "headers",
        "extra_headers",
        "extra_query",
        "custom_llm_provider",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "aws_region_name",
        "vertex_credentials",
        "vertex_project",
        "vertex_location",
    }
)
# Switchboard's own per-request routing fields: read here, stripped before the upstream call.
ROUTING_FIELDS: Final = ("models", "provider_preferences", "timeout", "priority")
PRIORITIES: Final = ("speed", "cost")
MAX_CHAIN: Final = 10
MAX_MODEL_NAME: Final = 256


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise InvalidRequest(f"duplicate key {key[:64]!r} in JSON body", code="invalid_json")
            seen.add(key)
    return result


def _exact_integer(text: str) -> int:
    value = int(text)
    if not -(2**63) <= value < 2**64:
        raise ValueError(f"integer {text[:40]} is out of range (64 bits at most)")
    return value


MAX_DEPTH: Final = 255
"""Nesting levels the serialiser (orjson) accepts."""
_DUPLICATES: Final = json.JSONDecoder(object_pairs_hook=_no_duplicates)
_BIG_INTEGERS: Final = json.JSONDecoder(parse_int=_exact_integer)
_LONG_NUMBER: Final = re.compile(rb"[0-9]{20}")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Parse a request body that must be one JSON object; raise InvalidRequest (400) otherwise."""
    if not raw:
        raise InvalidRequest("request body is empty; expected a JSON object", code="invalid_json")
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"invalid JSON body: {str(exc)[:200]}", code="invalid_json") from None
    if not isinstance(parsed, dict):
        raise InvalidRequest("request body must be a JSON object", code="invalid_json")
    text = raw.decode()  # orjson has validated the UTF-8
    if not _keys_all_distinct(raw, parsed):
        try:  # insurance against parser-differential tricks; names the repeated key
            _DUPLICATES.decode(text)
        except RecursionError:
            raise InvalidRequest("JSON body is nested too deeply", code="invalid_json") from None
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH:  # only then can it be nested too deeply
        try:  # every later step re-serialises the body (forwarding, cache key, translation)
            orjson.dumps(parsed)
        except orjson.JSONEncodeError:
            raise InvalidRequest(
                f"JSON body is nested too deeply (at most {MAX_DEPTH} levels)", code="invalid_json"
            ) from None
    if _LONG_NUMBER.search(raw):  # maybe an integer orjson would have turned into a float
        try:
            _BIG_INTEGERS.decode(text)
        except ValueError as exc:
            raise InvalidRequest(str(exc), param=_where_big(parsed) or "body", code="invalid_json") from None
    return parsed


SHORT_BODY: Final = 16 * 1024
"""Bodies up to this size are checked for repeated keys by counting (below); longer ones by the
stdlib parser, which costs about as much per byte as the counting's several passes."""


def _keys_all_distinct(raw: bytes, parsed: Any) -> bool:
    """True when provably no object in `raw` repeats a key, without a second parse (~1 us for a
    short body instead of ~4); False means "not proven" (then the stdlib parser decides).
    With no `\\u` escape and no whitespace after any quote in `raw`, every key there ends in `":`,
    and any other `":` is an escaped quote followed by a colon inside a string, which orjson writes
    back the same way; a repeated key keeps one entry in `parsed`. So the counts of `":` in `raw`
    and in `parsed` re-encoded are equal exactly when no key repeats."""
    if (
        len(raw) > SHORT_BODY
        or b"\\u" in raw
        or b'" ' in raw
        or b'"\n' in raw
        or b'"\t' in raw
        or b'"\r' in raw
    ):
        return False
    try:
        again = orjson.dumps(parsed)
    except orjson.JSONEncodeError:  # nested past what orjson writes: checked below
        return False
    return raw.count(b'":') == again.count(b'":')


def _where_big(value: Any, path: str = "") -> str | None:
    """The path of the first number orjson could only keep as a float (an integer past 64 bits)."""
    if isinstance(value, float) and abs(value) >= 2**63:
        return path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _where_big(
            item,
            f"{path}.{key}"
            if isinstance(key, str) and path
            else key
            if isinstance(key, str)
            else f"{path}[{key}]",
        )
        if found:
            return found
    return None


@dataclass(frozen=True, slots=True)
class Translation:
    """A dialect's request in the executor's (chat) form, and what the translation left out."""

    body: dict[str, Any]
    dropped: tuple[str, ...] = ()
    untranslatable: str | None = None


@dataclass(slots=True)
class ChatRequest:
    """A request in the executor's form, with the facts every stage reads (computed once, here).

    `body` is the chat form. A Chat Completions or embeddings body is it; a dialect that keeps the
    client's own body for targets serving its API (`native`) may leave it to a `translation` run on
    first use - by a target that does not serve `native` - so a passed-through request never builds
    it. `dropped` and `untranslatable` are the translation's findings: reading them runs it too."""

    model: str
    stream: bool
    models: tuple[str, ...] | None = None
    primary: str | None = None
    fallback: tuple[str, ...] | None = None
    timeout_s: float | None = None
    priority: str | None = None
    """`speed` (the `latency` strategy) or `cost` (the `cost` strategy), where the model allows it."""
    endpoint: str = "chat"
    """`chat` (chat completions) or `embeddings`."""
    strip_usage: bool = False
    """Switchboard asked the provider for the stream's usage chunk; the client did not want it."""
    native: NativeRequest | None = None
    client_names: Mapping[str, str] = field(default_factory=dict)
    """Chat-form field -> the client's own name for it (`response_format` -> `text.format`), so a
    refusal never names a field the client did not send (empty: the client speaks the chat form)."""
    answer_cap: int | None = None
    """The most output tokens the client allows (`max_completion_tokens` / `max_tokens`, or its
    dialect's own field), read at parse time: the limiter and the price band reserve from it."""
    service_tier: str | None = None
    """The service tier the request asks for, as the chat form carries it (a price multiplier)."""
    translation: Callable[[], Translation] | None = field(default=None, repr=False)
    """The dialect's translation, not run yet (run once, then None)."""
    _body: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _dropped: tuple[str, ...] = field(default=(), init=False, repr=False)
    _untranslatable: str | None = field(default=None, init=False, repr=False)

    def _translate(self) -> None:
        translate = self.translation
        if translate is None:
            return
        self.translation = None
        self._apply(translate())

    def _apply(self, done: Translation) -> None:
        self._body = done.body
        self._dropped = (*self._dropped, *(name for name in done.dropped if name not in self._dropped))
        if self._untranslatable is None:  # one set before (a conversation's id) stays first
            self._untranslatable = done.untranslatable

    @property
    def body(self) -> dict[str, Any]:
        """The body to send upstream (routing fields removed; `model` rewritten per target later)."""
        self._translate()
        return self._body

    @body.setter
    def body(self, value: dict[str, Any]) -> None:
        self._translate()
        self._body = value

    @property
    def dropped(self) -> tuple[str, ...]:
        """Client fields the translation to the executor's form left out (`x-switchboard-dropped`)."""
        self._translate()
        return self._dropped

    @dropped.setter
    def dropped(self, value: tuple[str, ...]) -> None:
        self._translate()
        self._dropped = value

    @property
    def untranslatable(self) -> str | None:
        """A field the translation cannot carry: only targets serving `native` can answer."""
        self._translate()
        return self._untranslatable

    @untranslatable.setter
    def untranslatable(self, value: str | None) -> None:
        self._untranslatable = value  # kept before the translation's own finding, if it runs later


def refuse_forbidden(body: dict[str, Any]) -> None:
    forbidden = FORBIDDEN_FIELDS.intersection(body)
    if forbidden:
        name = sorted(forbidden)[0]
        raise InvalidRequest(
            f"'{name}' is not allowed: upstream URLs and credentials are set by the gateway's configuration",
            param=name,
            code="forbidden_field",
        )


def _str_list(value: Any, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidRequest(f"'{field}' must be a list of non-empty strings", param=field)
    if len(value) > MAX_CHAIN:
        raise InvalidRequest(f"'{field}' may name at most {MAX_CHAIN} entries", param=field)
    return tuple(value)


def _routed(raw: bytes, endpoint: str) -> tuple[ChatRequest, Any, Any]:
    """Parse, refuse upstream-choosing fields, strip and check the routing fields, resolve `model`."""
    return _routed_body(parse_json_object(raw), endpoint)


def _routed_body(body: dict[str, Any], endpoint: str) -> tuple[ChatRequest, Any, Any]:
    refuse_forbidden(body)
    models = prefs = timeout = priority = None
    if "models" in body or "provider_preferences" in body or "timeout" in body or "priority" in body:
        models = body.pop("models", None)
        prefs = body.pop("provider_preferences", None)
        timeout = body.pop("timeout", None)
        priority = body.pop("priority", None)
        if priority is not None and priority not in PRIORITIES:
            raise InvalidRequest("'priority' must be 'speed' or 'cost'", param="priority")

    model = body.get("model")
    if models is not None:
        models = _str_list(models, "models")
        if not models:
            raise InvalidRequest("'models' must not be empty", param="models")
        if model is None:
            model = models[0]
            body["model"] = model
    if not isinstance(model, str) or not model or len(model) > MAX_MODEL_NAME:
        raise InvalidRequest("'model' is required and must be a non-empty string", param="model")
    request = ChatRequest(model=model, stream=False, models=models, endpoint=endpoint, priority=priority)
    request.body = body
    return request, prefs, timeout


def _apply_overrides(request: ChatRequest, prefs: Any, timeout: Any) -> ChatRequest:
    if prefs is not None:
        if not isinstance(prefs, dict) or not set(prefs) <= {"primary", "fallback"}:
            raise InvalidRequest(
                "'provider_preferences' must be an object with 'primary' and/or 'fallback'",
                param="provider_preferences",
            )
        primary = prefs.get("primary")
        if primary is not None and (not isinstance(primary, str) or not primary):
            raise InvalidRequest(
                "'provider_preferences.primary' must be a string", param="provider_preferences"
            )
        request.primary = primary
        if prefs.get("fallback") is not None:
            request.fallback = _str_list(prefs["fallback"], "provider_preferences.fallback")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 86_400:
            raise InvalidRequest("'timeout' must be a number of seconds > 0", param="timeout")
        request.timeout_s = float(timeout)
    return request


def parse_embeddings_request(raw: bytes) -> ChatRequest:
    """`POST /v1/embeddings`: `input` is a string, a list of strings, or token arrays."""
    request, prefs, timeout = _routed(raw, "embeddings")
    value = request.body.get("input")
    valid = (isinstance(value, str) and value) or (
        isinstance(value, list)
        and value
        and (
            all(isinstance(v, str) for v in value)
            or all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            or all(isinstance(v, list) and v and all(isinstance(t, int) for t in v) for v in value)
        )
    )
    if not valid:
        raise InvalidRequest(
            "'input' is required: a string, a list of strings or a list of token arrays", param="input"
        )
    fmt = request.body.get("encoding_format")
    if fmt not in (None, "float", "base64"):
        raise InvalidRequest("'encoding_format' must be float or base64", param="encoding_format")
    _read_facts(request, request.body)
    return _apply_overrides(request, prefs, timeout)


def parse_chat_request(raw: bytes) -> ChatRequest:
    """A Chat Completions body, parsed strictly (`parse_json_object`) and checked."""
    return chat_request(parse_json_object(raw))


def chat_request(body: dict[str, Any]) -> ChatRequest:
    """A Chat Completions body already decoded (a client's, or a dialect's translation of one, which
    is not serialised and parsed again), checked as `parse_chat_request` checks it."""
    request, prefs, timeout = _routed_body(body, "chat")
    body = request.body
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' is required and must be a non-empty array", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidRequest(
                f"'messages[{i}]' must be an object with a string 'role'", param=f"messages[{i}]"
            )

    check_chat_types(body)  # the translators index into these: wrong types are a 400 here

    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be a boolean", param="stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidRequest("'stream_options' must be an object", param="stream_options")
    for name in ("max_tokens", "max_completion_tokens"):  # the limiter reserves from these
        cap = body.get(name)
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise InvalidRequest(f"'{name}' must be a positive integer", param=name)

    request.stream = stream
    _read_facts(request, body)
    return _apply_overrides(request, prefs, timeout)


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _read_facts(request: ChatRequest, body: Mapping[str, Any]) -> None:
    """The answer cap and service tier of a chat-form body (a cap that is not a positive integer
    counts as absent)."""
    request.answer_cap = _positive(body.get("max_completion_tokens")) or _positive(body.get("max_tokens"))
    tier = body.get("service_tier")
    request.service_tier = tier if isinstance(tier, str) else None


def dialect_request(body: dict[str, Any], has_messages: bool) -> ChatRequest:
    """The routing facts of a dialect's own body (its routing fields are removed from it, `model`
    checked), checked as `chat_request` would check its translation's: `has_messages` False (the
    translation would have no message) is the same 400. The dialect sets the rest."""
    request, prefs, timeout = _routed_body(body, "chat")
    if not has_messages:
        raise InvalidRequest("'messages' is required and must be a non-empty array", param="messages")
    request.body = {}
    return _apply_overrides(request, prefs, timeout)
