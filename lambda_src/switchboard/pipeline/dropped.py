"""What `x-switchboard-dropped` says: the request fields the chosen target did not get.

A dialect's translation records what it left out (`ChatRequest.dropped`) before any target is
known; some of those are honoured by some targets after all (Bedrock and Anthropic turn the
`cache_control` markers the chat form carries into their own cache points). `for_target` is
computed once the target is known, and takes further names from per-target steps (`also`: e.g.
parameters a model rule removed for that target).

The names come from the client (unknown field names, tool types), so the header value is
sanitised: every character outside a conservative ASCII set is percent-encoded (control
characters, non-ASCII, commas, which separate the names), each name is cut at 64 characters and
the whole value at 1 KiB. A client can never make the response headers invalid.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final
from urllib.parse import quote

from switchboard.providers import provider_type as registered

MAX_NAME: Final = 64
MAX_VALUE: Final = 1024
_SAFE: Final = "._-[]:/@+*"


def for_target(dropped: Iterable[str], provider_type: str, also: Iterable[str] = ()) -> tuple[str, ...]:
    """The dropped names to report for a target of `provider_type` (in order, no repeats)."""
    honoured = registered(provider_type).honours  # names its adapter carries anyway
    names: dict[str, None] = {}
    for name in (*dropped, *also):
        if name not in honoured:
            names[name] = None
    return tuple(names)


def header_value(names: Iterable[str]) -> bytes:
    """`name, name, ...` as a valid header value whatever the names hold."""
    value = ""
    for name in names:
        part = quote(name[:MAX_NAME], safe=_SAFE)
        candidate = f"{value}, {part}" if value else part
        if len(candidate) > MAX_VALUE:
            return (value + ", ...").encode("ascii")
        value = candidate
    return value.encode("ascii")
