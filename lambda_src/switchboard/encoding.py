"""Request bodies sent with a `Content-Encoding`: gzip and deflate are decoded, under the same cap
as the body itself (a small compressed body that inflates past it - a zip bomb - is a 413, found
while inflating, never after); any other coding (br, zstd, compress, a chain of codings) is a 415
naming what is accepted. Brotli would need a new native dependency for a coding no API client of
these routes sends by default."""

from __future__ import annotations

import zlib

from switchboard.errors import InvalidRequest, PayloadTooLarge, UnsupportedMedia

_WBITS = {b"gzip": 16 + zlib.MAX_WBITS, b"x-gzip": 16 + zlib.MAX_WBITS, b"deflate": zlib.MAX_WBITS}
_IDENTITY = (b"", b"identity")


def decode_body(body: bytes, encoding: bytes, cap: int) -> bytes:
    """`body` as sent before `encoding` was applied (unchanged for identity)."""
    coding = encoding.strip().lower()
    if coding in _IDENTITY:
        return body
    wbits = _WBITS.get(coding)
    if wbits is None:
        shown = coding[:40].decode("latin-1")
        raise UnsupportedMedia(f"Content-Encoding {shown!r} is not supported: send identity, gzip or deflate")
    try:
        return _inflate(body, wbits, cap)
    except zlib.error:
        if coding != b"deflate":
            raise InvalidRequest(f"request body is not valid {coding.decode()} data") from None
    try:  # `deflate` is zlib-wrapped by the standard; some clients send raw deflate
        return _inflate(body, -zlib.MAX_WBITS, cap)
    except zlib.error:
        raise InvalidRequest("request body is not valid deflate data") from None


def _inflate(body: bytes, wbits: int, cap: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(body, cap + 1)  # never more than the cap (+1 to see it exceeded)
    if len(out) > cap:
        raise PayloadTooLarge(f"decoded request body larger than {cap} bytes")
    if not inflater.eof:
        raise zlib.error("truncated")
    return out
