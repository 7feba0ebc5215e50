"""The upstream HTTP contract: what an adapter builds, what a transport returns.

`UpstreamRequest` and `UpstreamResponse` are plain slotted objects: building an `httpx.Request`
costs ~22 us and wrapping every aiohttp answer in an `httpx.Response` a few more, on every call,
for machinery Switchboard never uses. A `Transport` sends one request and returns the response
with its body still unread (streams are relayed as the bytes arrive).

Foreign exceptions stop here: a transport raises only `UpstreamConnectError`, `UpstreamTimeout` or
`UpstreamProtocolError` (from `errors.py`), at connect time and while the body is read (a
connection lost mid-body is an `UpstreamConnectError`).
`HttpxTransport` puts any httpx transport behind this contract (tests inject
`httpx.MockTransport`; `gateway.transport = "httpx"` uses httpx's own pool).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Protocol

from switchboard.errors import UpstreamConnectError, UpstreamTimeout

if TYPE_CHECKING:  # httpx is imported only when an httpx transport is used (tests, the mock)
    import httpx


class UpstreamRequest:
    __slots__ = ("content", "headers", "method", "url")

    def __init__(self, method: str, url: str, headers: dict[str, str], content: bytes) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        """Lower-case names."""
        self.content = content

    def to_httpx(self) -> httpx.Request:
        import httpx

        return httpx.Request(self.method, self.url, headers=self.headers, content=self.content)


class UpstreamResponse(Protocol):
    status: int
    headers: Mapping[str, str]
    """Case-insensitive."""

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (each read at once, no fixed-size buffering)."""
        ...

    async def read(self) -> bytes: ...

    async def aclose(self) -> None:
        """Fully read: the connection is reused; abandoned mid-body: it is closed (the upstream
        stops working on an answer nobody reads)."""
        ...


class Transport(Protocol):
    async def send(self, request: UpstreamRequest) -> UpstreamResponse: ...

    async def aclose(self) -> None: ...


def transport_error(exc: httpx.TransportError) -> UpstreamConnectError | UpstreamTimeout:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout("upstream timed out")
    if isinstance(exc, httpx.ConnectError):
        return UpstreamConnectError("cannot connect to upstream")
    return UpstreamConnectError("upstream connection failed")


class _HttpxResponse:
    __slots__ = ("_response", "headers", "status")

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.headers: Mapping[str, str] = response.headers

    async def chunks(self) -> AsyncIterator[bytes]:
        import httpx

        try:
            async for chunk in self._response.stream:  # type: ignore[union-attr]
                yield chunk
        except httpx.TransportError as exc:
            raise transport_error(exc) from None

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    async def aclose(self) -> None:
        await self._response.aclose()


class HttpxTransport:
    """Any httpx transport behind the `Transport` contract."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        import httpx

        try:
            response = await self.inner.handle_async_request(request.to_httpx())
        except httpx.TransportError as exc:
            raise transport_error(exc) from None
        return _HttpxResponse(response)

    async def aclose(self) -> None:
        await self.inner.aclose()


def as_transport(transport: Transport | httpx.AsyncBaseTransport) -> Transport:
    if hasattr(transport, "handle_async_request"):  # an httpx transport
        return HttpxTransport(transport)  # type: ignore[arg-type]
    return transport
