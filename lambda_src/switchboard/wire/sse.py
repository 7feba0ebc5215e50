"""Incremental Server-Sent Events framing: bytes in any chunking -> whole events.

Events are returned as bytes in LF form, each ending with the blank line (`b"...\\n\\n"`), so a
pass-through relay can forward them unchanged and flush each one as soon as it is complete.
CRLF and lone CR line endings are normalised to LF (after a chunk that ends in CR, a leading LF of
the next chunk is dropped, so a CRLF split across reads is still one line ending).
"""

from __future__ import annotations

from typing import Any, Final

import orjson

DEFAULT_MAX_EVENT_BYTES: Final = 8 * 1024 * 1024


class EventTooLarge(ValueError):
    """An upstream event grew past the limit without ending: the stream is cut cleanly."""


class SSESplitter:
    __slots__ = ("_buf", "_max", "_skip_lf")

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._buf = b""
        self._max = max_event_bytes
        self._skip_lf = False

    def feed(self, data: bytes) -> list[bytes]:
        if self._skip_lf and data:  # the previous chunk ended in CR: an LF here belongs to that line ending
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        if b"\r" in data:
            self._skip_lf = data.endswith(b"\r")
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buf = self._buf + data if self._buf else data
        events: list[bytes] = []
        start = 0
        size = len(buf)
        find = buf.find
        while True:
            while start < size and buf[start] == 10:  # blank lines between events are no-ops
                start += 1
            end = find(b"\n\n", start)
            if end < 0:
                break
            events.append(buf[start : end + 2])
            start = end + 2
        self._buf = buf[start:]
        if len(self._buf) > self._max:
            raise EventTooLarge(f"stream event larger than {self._max} bytes")
        return events

    def pending(self) -> bytes:
        """Bytes of an incomplete event (non-empty at end of stream means a truncated event)."""
        return self._buf.strip(b"\r\n")


def event_data(event: bytes) -> bytes | None:
    """The joined `data:` field of one event, or None for comment-only / data-less events."""
    parts = []
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            value = line[5:]
            parts.append(value[1:] if value.startswith(b" ") else value)
    return b"\n".join(parts) if parts else None


def event_object(event: bytes) -> dict[str, Any] | None:
    """The event's `data:` parsed as a JSON object; None for comments, non-JSON and non-objects."""
    data = event_data(event)
    if data is None:
        return None
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None
