"""OpenAI embeddings responses built from provider vectors (pure), shared by translating adapters."""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from switchboard.errors import UpstreamUnsupported


def texts_of(body: Mapping[str, Any], provider: str) -> list[str]:
    """The `input` as a list of strings; token arrays only make sense to OpenAI-compatible APIs."""
    value = body.get("input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise UpstreamUnsupported(f"{provider} targets cannot embed token arrays; send text", param="input")


def openai_embeddings(
    vectors: Sequence[Sequence[float]], model: str, encoding_format: Any, prompt_tokens: int = 0
) -> bytes:
    data = []
    for index, vector in enumerate(vectors):
        embedding: Any = list(vector)
        if encoding_format == "base64":  # what OpenAI sends: little-endian float32, base64
            embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    return orjson.dumps(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        }
    )
