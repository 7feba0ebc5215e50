"""The OpenAI Responses dialect (`POST /v1/responses`) as the pipeline sees it: the request is
parsed strictly and kept whole for `openai` targets that serve `/responses` (pass-through), and
translated for the others (`openai_responses`); translated answers become a `response` object and
chunk streams the documented `response.*` events (`wire/responses.py`), all under the response id
chosen at parse time (what `previous_response_id` and `GET /v1/responses/{id}` refer to).
`INPUT_TOKENS` is `POST /v1/responses/input_tokens`: the same request, counted (`count_tokens.py`)."""

from __future__ import annotations

from dataclasses import replace
from typing import cast

from switchboard.constants import RESPONSES_INPUT_TOKENS_PATH, RESPONSES_PATH
from switchboard.dialects.base import Dialect, StreamRenderer
from switchboard.dialects.openai_responses import ResponsesRequest, error_body, to_chat_request
from switchboard.dialects.request import ChatRequest
from switchboard.wire.readers import OPENAI_INPUT_TOKENS
from switchboard.wire.responses import ChunksToEvents, to_response


def _render(completion: bytes, request: ChatRequest) -> bytes:
    responses = cast(ResponsesRequest, request)
    return to_response(completion, responses.echo, response_id=responses.response_id)


def _stream(request: ChatRequest) -> StreamRenderer:
    responses = cast(ResponsesRequest, request)
    return ChunksToEvents(responses.model, responses.echo, response_id=responses.response_id)


DIALECT = Dialect(RESPONSES_PATH, to_chat_request, _render, error_body, _stream)


def _input_tokens(raw: bytes) -> ChatRequest:
    """A Responses request to count: validated as one, kept whole for `openai` targets."""
    request = to_chat_request(raw)
    assert request.native is not None
    request.native = replace(request.native, api=OPENAI_INPUT_TOKENS)
    return request


INPUT_TOKENS = Dialect(RESPONSES_INPUT_TOKENS_PATH, _input_tokens, None, error_body, None, billable=False)
