"""The Anthropic Messages dialect (`POST /v1/messages`) as the pipeline sees it: requests parsed by
`anthropic_request` (strict, kept whole for Anthropic targets, translated for the others), answers
and chunk streams rendered into Messages form by `anthropic_messages`."""

from __future__ import annotations

from switchboard.constants import MESSAGES_PATH
from switchboard.dialects.anthropic_messages import ChunksToEvents, error_body, prompt_estimate, to_message
from switchboard.dialects.anthropic_request import parse_messages_request
from switchboard.dialects.base import Dialect

DIALECT = Dialect(
    MESSAGES_PATH,
    parse_messages_request,
    lambda completion, request: to_message(completion),
    error_body,
    lambda request: ChunksToEvents(request.model, prompt_estimate(request.body)),
)
