"""The executor: the only place that sends requests to providers.

It walks a request's target chain, times every attempt (`Timing.upstream`), retries and falls back
as `routing.decide` says, puts failing targets in cooldown, and holds one deadline per request.
For streams it reads until the first event that carries output (start-up events are buffered), so
an error before that point can still fall back; after it, the relay in `stream.py` takes over.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from time import perf_counter
from typing import TypeVar, cast

import httpx

from switchboard.config import Config, ProviderConfig, Target
from switchboard.dialects.request import ChatRequest
from switchboard.errors import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from switchboard.providers import provider_type
from switchboard.providers.base import Adapter, StreamTranslator, UpstreamCall, classify_stream_error
from switchboard.routing.health import TargetHealth
from switchboard.routing.policy import decide, final_error
from switchboard.telemetry.timing import Timing
from switchboard.upstream.credentials import Credentials
from switchboard.wire.sse import EventTooLarge, SSESplitter, carries_output, error_payload

T = TypeVar("T")


@dataclass(slots=True)
class Completed:
    content: bytes
    target: Target


@dataclass(slots=True)
class StreamStart:
    """A stream that has produced output: the relay sends `prefix`, then the rest of `chunks`."""

    target: Target
    translator: StreamTranslator | None
    response: httpx.Response
    chunks: AsyncIterator[bytes]
    splitter: SSESplitter
    prefix: list[bytes]


def transport_error(exc: httpx.TransportError) -> UpstreamError:
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout("upstream timed out")
    if isinstance(exc, httpx.ConnectError):
        return UpstreamConnectError("cannot connect to upstream")
    return UpstreamConnectError("upstream connection failed")


class Executor:
    def __init__(
        self,
        config: Config,
        transport: httpx.AsyncBaseTransport,
        credentials: Credentials | None = None,
        *,
        health: TargetHealth | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self.credentials = credentials or Credentials()
        self.health = health or TargetHealth(config.routing)
        self._sleep = sleep
        self._rand = rand
        # Requests go straight to the transport: httpx.AsyncClient.send() adds ~36 us per request of
        # redirect/auth/cookie/timeout machinery that Switchboard does not use (it never follows
        # redirects, sends no cookies, and enforces its own deadline).
        self._transports: dict[str, httpx.AsyncBaseTransport] = {}
        self._own: list[httpx.AsyncBaseTransport] = []
        for name, provider in config.providers.items():
            local = provider_type(provider.type).local_transport
            if local is not None:
                self._own.append(local())
                self._transports[name] = self._own[-1]
            else:
                self._transports[name] = transport

    async def aclose(self) -> None:
        for transport in self._own:
            await transport.aclose()

    # ------------------------------------------------------------------ the chain

    async def _run_chain(
        self,
        targets: tuple[Target, ...],
        deadline_s: float,
        timing: Timing,
        attempt: Callable[[Target, float], Awaitable[T]],
    ) -> T:
        policy = self.config.routing
        deadline = timing.start + deadline_s
        retries_left = policy.retry_budget
        failures: list[tuple[Target, UpstreamError]] = []
        ordered = self.health.order(targets)
        deadline_hit = False
        for index, target in enumerate(ordered):
            retries_on_target = 0
            while True:
                remaining = deadline - perf_counter()
                if remaining <= 0:
                    deadline_hit = True
                    break
                timing.attempts += 1
                try:
                    result = await attempt(target, remaining)
                except UpstreamError as error:
                    failures.append((target, error))
                    if error.counts_against_health:
                        self.health.failure(target)
                    remaining = deadline - perf_counter()
                    if remaining <= 0:
                        deadline_hit = True
                        break
                    decision = decide(
                        error,
                        policy=policy,
                        retries_left=retries_left,
                        retries_on_target=retries_on_target,
                        has_next=index + 1 < len(ordered),
                        remaining_s=remaining,
                        rand=self._rand,
                    )
                    if decision.action == "retry":
                        retries_left -= 1
                        retries_on_target += 1
                        await self._sleep(decision.delay_s)
                        continue
                    if decision.action == "fail":
                        raise final_error(
                            failures, deadline_hit=False, deadline_ms=deadline_s * 1000
                        ) from None
                    break  # next target
                else:
                    self.health.success(target)
                    return result
            if deadline_hit:
                break
        raise final_error(failures, deadline_hit=deadline_hit, deadline_ms=deadline_s * 1000)

    async def _prepare(
        self, target: Target, request: ChatRequest, stream: bool
    ) -> tuple[ProviderConfig, Adapter, httpx.AsyncBaseTransport, UpstreamCall, tuple[str, ...]]:
        provider = self.config.providers[target.provider]
        adapter = provider_type(provider.type).adapter
        credential = await self.credentials.get(provider)
        call = UpstreamCall(
            provider=provider,
            model=target.model,
            body=request.body,
            stream=stream,
            credential=credential,
            endpoint=request.endpoint,
        )
        secrets = self.credentials.known_values()
        return provider, adapter, self._transports[target.provider], call, secrets

    def _attempt_timeout(self, provider: ProviderConfig, target: Target, remaining: float) -> float:
        limit = target.timeout_ms or provider.timeout_ms
        return min(remaining, limit / 1000.0) if limit else remaining

    # ------------------------------------------------------------------ non-streaming

    async def complete(
        self, request: ChatRequest, targets: tuple[Target, ...], deadline_s: float, timing: Timing
    ) -> Completed:
        async def attempt(target: Target, remaining: float) -> Completed:
            provider, adapter, transport, call, secrets = await self._prepare(target, request, False)
            http_request = adapter.build_request(call)
            started = perf_counter()
            try:
                async with asyncio.timeout(self._attempt_timeout(provider, target, remaining)):
                    response = await transport.handle_async_request(http_request)
                    try:  # the raw stream: no per-chunk decoder/chunker bookkeeping (see _read_until_output)
                        content = b"".join([chunk async for chunk in _raw(response)])
                    finally:
                        await response.aclose()
            except TimeoutError:
                raise UpstreamTimeout("upstream timed out") from None
            except httpx.TransportError as exc:
                raise transport_error(exc) from None
            finally:
                timing.upstream += perf_counter() - started
            status = response.status_code
            if not 200 <= status < 300:
                raise adapter.map_error(status, response.headers, content, secrets)
            if call.endpoint == "chat":
                body = adapter.parse_response(content)
            else:
                body = adapter.parse_embeddings(content, call)
            if not _looks_like_json_object(body):
                raise UpstreamProtocolError("upstream returned a malformed body", upstream_status=status)
            return Completed(body, target)

        return await self._run_chain(targets, deadline_s, timing, attempt)

    # ------------------------------------------------------------------ streaming

    async def open_stream(
        self, request: ChatRequest, targets: tuple[Target, ...], deadline_s: float, timing: Timing
    ) -> StreamStart:
        async def attempt(target: Target, remaining: float) -> StreamStart:
            provider, adapter, transport, call, secrets = await self._prepare(target, request, True)
            http_request = adapter.build_request(call)
            started = perf_counter()
            response: httpx.Response | None = None
            try:
                async with asyncio.timeout(self._attempt_timeout(provider, target, remaining)):
                    response = await transport.handle_async_request(http_request)
                    if not 200 <= response.status_code < 300:
                        content = await response.aread()
                        raise adapter.map_error(response.status_code, response.headers, content, secrets)
                    return await self._read_until_output(target, adapter.stream_translator(call), response)
            except TimeoutError:
                raise UpstreamTimeout("upstream timed out before the first token") from None
            except httpx.TransportError as exc:
                raise transport_error(exc) from None
            except BaseException:
                if response is not None:
                    await response.aclose()
                raise
            finally:
                timing.upstream += perf_counter() - started

        return await self._run_chain(targets, deadline_s, timing, attempt)

    async def _read_until_output(
        self, target: Target, translator: StreamTranslator | None, response: httpx.Response
    ) -> StreamStart:
        # the raw stream, not aiter_raw(): no per-chunk bookkeeping, and it also iterates
        # responses whose content is already in memory (MockTransport)
        chunks = aiter(_raw(response))
        splitter = SSESplitter()
        prefix: list[bytes] = []
        try:
            async for chunk in chunks:
                committed = False
                for event in to_events(chunk, splitter, translator):
                    if not committed:
                        if (payload := error_payload(event)) is not None:
                            raise classify_stream_error(payload)
                        committed = carries_output(event)
                    prefix.append(event)
                if committed:
                    return StreamStart(target, translator, response, chunks, splitter, prefix)
        except EventTooLarge:
            raise UpstreamProtocolError("upstream stream event too large") from None
        raise UpstreamProtocolError("upstream stream ended before any output")


def to_events(chunk: bytes, splitter: SSESplitter, translator: StreamTranslator | None) -> list[bytes]:
    """Upstream body bytes -> OpenAI SSE events: split (SSE), translated per event, or (binary
    event streams) handed to the translator whole."""
    if translator is None:
        return splitter.feed(chunk)
    if translator.raw_framing:
        return translator.feed(chunk)
    return [out for event in splitter.feed(chunk) for out in translator.feed(event)]


def _raw(response: httpx.Response) -> AsyncIterable[bytes]:
    return cast(AsyncIterable[bytes], response.stream)


def _looks_like_json_object(body: bytes) -> bool:
    stripped = body.strip()
    return stripped[:1] == b"{" and stripped[-1:] == b"}"
