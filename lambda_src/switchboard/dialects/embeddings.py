"""The OpenAI embeddings dialect (`POST /v1/embeddings`): routed and fallen back like chat; every
provider adapter answers in the OpenAI embeddings form, so nothing is rendered."""

from __future__ import annotations

from switchboard.constants import EMBEDDINGS_PATH
from switchboard.dialects.base import Dialect
from switchboard.dialects.request import parse_embeddings_request
from switchboard.errors import GatewayError

DIALECT = Dialect(EMBEDDINGS_PATH, parse_embeddings_request, None, GatewayError.body, None)
