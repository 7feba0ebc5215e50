"""The Gemini API dialect (`/v1beta/models/{model}:{method}`, and `/v1/...` alike) as the pipeline
sees it.

Unlike the other dialects, the model and the kind of answer are in the URL, not the body: `route`
parses the path into a `GeminiRoute`, and `dialect` builds the `Dialect` for it (its `route`, the
cache key's part, is the path itself plus `?alt=sse`, so a cached SSE stream is never replayed to
a JSON-array client). Requests are parsed by `gemini_request` (kept whole for `gemini` targets,
translated for the others), answers and chunk streams rendered by `gemini_response`, errors are
Google-shaped. `streamGenerateContent` without `alt=sse` is the same stream reframed as one JSON
array (`wire.gemini.JsonArrayFraming`, applied by the edge to the whole response).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from switchboard.dialects.base import Dialect
from switchboard.dialects.gemini_request import parse_count_tokens_request, parse_generate_request
from switchboard.dialects.gemini_response import ChunksToEvents, error_body, to_response

PREFIX: Final = "/v1beta/"
MODELS_PATH: Final = "/v1beta/models"
V1_MODELS_PATH: Final = "/v1/models"
"""Google's stable version: the newest google-genai SDKs call `/v1/models/...` unless told `v1beta`."""
GENERATE: Final = "generateContent"
STREAM: Final = "streamGenerateContent"
COUNT_TOKENS: Final = "countTokens"
METHODS: Final = frozenset({GENERATE, STREAM, COUNT_TOKENS})

ERRORS: Final = Dialect(
    MODELS_PATH, lambda raw: parse_generate_request(raw, "", False), None, error_body, None
)
"""For answers on `/v1beta/` that no model route produced (auth, unknown routes, key in the URL)."""


@dataclass(frozen=True, slots=True)
class GeminiRoute:
    model: str
    """The public model name from the path (`models/` removed)."""
    method: str
    """generateContent, streamGenerateContent or countTokens."""
    sse: bool
    """`alt=sse` was asked for (streams only)."""


def models_path(path: str) -> str | None:
    """`/v1beta/models` or `/v1/models` when `path` is one of them or below it."""
    for prefix in (MODELS_PATH, V1_MODELS_PATH):
        if path == prefix or path.startswith(prefix + "/"):
            return prefix
    return None


def route(path: str, query: bytes) -> GeminiRoute | None:
    """`/v1beta/models/{model}:{method}` (or `/v1/...`) -> its parts; None when the path is not a
    model method."""
    prefix = models_path(path)
    if prefix is None or path == prefix:
        return None
    name, sep, method = path[len(prefix) + 1 :].rpartition(":")
    if not sep or not name or method not in METHODS:
        return None
    return GeminiRoute(name, method, b"alt=sse" in query.split(b"&"))


def dialect(where: GeminiRoute) -> Dialect:
    model = where.model
    if where.method == COUNT_TOKENS:
        return Dialect(
            f"{MODELS_PATH}/{model}:{COUNT_TOKENS}",  # one cache route whichever version was called
            lambda raw: parse_count_tokens_request(raw, model),
            None,
            error_body,
            None,
            billable=False,
        )
    stream = where.method == STREAM
    return Dialect(
        f"{MODELS_PATH}/{model}:{where.method}{'?alt=sse' if where.sse else ''}",
        lambda raw: parse_generate_request(raw, model, stream),
        lambda completion, request: to_response(completion),
        error_body,
        lambda request: ChunksToEvents(request.model),
    )
