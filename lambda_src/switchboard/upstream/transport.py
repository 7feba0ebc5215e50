"""An httpx transport on aiohttp's connection pool.

httpx stays the client API (tests inject `httpx.MockTransport`), but its default pool costs ~3x the
CPU per request of aiohttp and its tail latency explodes under concurrency (see README, Transport).
This transport hands each request to one shared `aiohttp.ClientSession` and exposes the body as
an httpx stream that yields bytes as soon as they arrive (`iter_any`, no fixed-size reads), so every
SSE event can be flushed the moment it is complete. Redirects are never followed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx
from yarl import URL

_SKIP_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class _ResponseStream(httpx.AsyncByteStream):
    __slots__ = ("_response",)

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except aiohttp.ClientPayloadError as exc:
            raise httpx.RemoteProtocolError(f"upstream body incomplete: {type(exc).__name__}") from None
        except (aiohttp.ClientConnectionError, ConnectionError) as exc:
            raise httpx.ReadError(f"upstream connection lost: {type(exc).__name__}") from None

    async def aclose(self) -> None:
        response = self._response
        if response.content.at_eof():
            response.release()  # fully read: the connection goes back to the pool
        else:
            response.close()  # abandoned mid-body: close the connection so the upstream stops work


class AiohttpTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        *,
        connect_timeout_s: float = 10.0,
        keepalive_timeout_s: float = 60.0,
        max_connections: int = 1000,
    ) -> None:
        self._connect_timeout = connect_timeout_s
        self._keepalive = keepalive_timeout_s
        self._limit = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._limit,
                limit_per_host=0,
                keepalive_timeout=self._keepalive,
                ttl_dns_cache=300,
            )
            session = self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout),
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
                trust_env=False,
            )
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._get_session()
        headers = [(k, v) for k, v in request.headers.multi_items() if k not in _SKIP_HEADERS]
        headers.append(("user-agent", "switchboard"))
        try:
            response = await session.request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=headers,
                data=request.content,
                allow_redirects=False,
            )
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(
                f"cannot connect to upstream: {type(exc).__name__}", request=request
            ) from None
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, ConnectionError) as exc:
            raise httpx.RemoteProtocolError(f"upstream connection failed: {type(exc).__name__}") from None
        except aiohttp.ClientResponseError as exc:
            raise httpx.RemoteProtocolError(f"invalid upstream response: {type(exc).__name__}") from None
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx.ConnectTimeout(f"upstream connect timeout: {type(exc).__name__}") from None
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_ResponseStream(response),
            request=request,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
