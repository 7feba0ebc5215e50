"""Header and environment-variable names, in one place."""

from typing import Final

# Response headers (lower-case bytes, as ASGI wants them).
H_OVERHEAD: Final = b"x-switchboard-overhead-ms"
H_UPSTREAM: Final = b"x-switchboard-upstream-ms"
H_REGION: Final = b"x-switchboard-region"
H_PROVIDER: Final = b"x-switchboard-provider"
H_MODEL: Final = b"x-switchboard-model"
H_ATTEMPTS: Final = b"x-switchboard-attempts"
H_BACKOFF: Final = b"x-switchboard-backoff-ms"
H_CACHE: Final = b"x-switchboard-cache"
H_DROPPED: Final = b"x-switchboard-dropped"
H_COST: Final = b"x-switchboard-cost-usd"
H_CONTENT_LENGTH: Final = b"content-length"
H_REQUEST_ID: Final = b"x-request-id"
H_SERVER_TIMING: Final = b"server-timing"
H_RETRY_AFTER: Final = b"retry-after"
H_CONTENT_TYPE: Final = b"content-type"

# Routes served by the bare ASGI server.
CHAT_PATH: Final = "/v1/chat/completions"
MESSAGES_PATH: Final = "/v1/messages"
EMBEDDINGS_PATH: Final = "/v1/embeddings"
RESPONSES_PATH: Final = "/v1/responses"
RESPONSES_INPUT_TOKENS_PATH: Final = "/v1/responses/input_tokens"
COUNT_TOKENS_PATH: Final = "/v1/messages/count_tokens"
HEALTH_PATH: Final = "/healthz"
DEEP_HEALTH_PATH: Final = "/healthz/deep"  # behind the origin guard: what the region prober calls
GEMINI_PREFIX: Final = "/v1beta/"  # the Gemini API (pipeline/gemini_routes.py)

# Request headers.
H_LAMBDA_CONTEXT: Final = b"x-amzn-lambda-context"
H_AUTHORIZATION: Final = b"authorization"
H_API_KEY: Final = b"x-api-key"
H_GOOG_API_KEY: Final = b"x-goog-api-key"  # the Gemini API's key header (its clients send only this)
H_CACHE_CONTROL: Final = b"cache-control"
H_CONTENT_ENCODING: Final = b"content-encoding"
H_SESSION_AFFINITY: Final = b"x-session-affinity"
H_REGION_PREFERENCE: Final = b"x-switchboard-region-preference"  # also echoed in the answer
H_TRACEPARENT: Final = b"traceparent"  # W3C trace context (honoured and sent upstream when tracing is on)

# Content types.
CT_JSON: Final = b"application/json"
CT_SSE: Final = b"text/event-stream; charset=utf-8"

# Environment variables read by Switchboard itself (never by adapters).
ENV_CONFIG: Final = "SWITCHBOARD_CONFIG"
ENV_AUTH: Final = "SWITCHBOARD_AUTH"
ENV_ORIGIN_SECRET: Final = "SWITCHBOARD_ORIGIN_SECRET"  # noqa: S105 - a variable name
ORIGIN_HEADER: Final = b"x-switchboard-origin"
ENV_AWS_REGION: Final = "AWS_REGION"
ENV_REGION_COUNT: Final = "SWITCHBOARD_REGION_COUNT"
ENV_TABLE: Final = "SWITCHBOARD_TABLE"
ENV_LAMBDA_FUNCTION: Final = "AWS_LAMBDA_FUNCTION_NAME"

# The SSE comment that carries full-stream timing, sent just before `data: [DONE]`.
SSE_TIMING_PREFIX: Final = b": switchboard-timing "

# Provider types the configuration accepts (the registry in `providers/__init__.py` serves exactly
# these; a test holds the two equal). Kept here so `config` imports nothing of the rest.
