"""The executor: the only place that sends requests to providers.

It walks a request's target chain, times every attempt (`Timing.upstream`) and every deliberate
wait (`Timing.backoff`), retries and falls back as `policy.decide` says, puts failing targets in
cooldown, and holds one deadline per request. For streams it reads until the first event that
carries output (start-up events are buffered), so an error before that point can still fall back;
after it, the relay (`relay.py`) takes over. It never builds or parses a provider's format
(adapters do) and never answers the client (the pipeline does).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import TypeVar

from switchboard.config import Config, ProviderConfig, Target
from switchboard.dialects.request import ChatRequest
from switchboard.errors import (
    GatewayError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnsupported,
)
from switchboard.providers import native_apis, provider_type
from switchboard.providers.base import Adapter, StreamTranslator, UpstreamCall, classify_stream_error
from switchboard.providers.common import client_named
from switchboard.providers.passthrough import passthrough_request
from switchboard.routing.balance import Balancer, PriceLookup
from switchboard.routing.deadline import within
from switchboard.routing.health import TargetHealth
from switchboard.routing.model_rules import fit
from switchboard.routing.policy import context_fallback, decide, final_error
from switchboard.routing.strategies import ORDERED, Balance
from switchboard.telemetry.timing import Timing
from switchboard.upstream.credentials import Credentials
from switchboard.upstream.http import Transport, UpstreamRequest, UpstreamResponse, as_transport
from switchboard.values import NativeRequest, Usage
from switchboard.wire.readers import OPENAI_CHAT, StreamReader, json_usage, stream_reader
from switchboard.wire.sse import EventTooLarge, SSESplitter

T = TypeVar("T")


@dataclass(slots=True)
class Completed:
    content: bytes
    target: Target
    usage: Usage | None
    """What the provider reported using, read once from its own answer (None: it reported nothing)."""
    native: str | None = None
    """The client's own API when the answer was passed through untouched (not the executor's form)."""
    refused: tuple[str, ...] = ()
    """Settings the serving target's model refuses, left out of its request (`model_rules.fit`)."""


@dataclass(slots=True)
class StreamStart:
    """A stream that has produced output: the relay sends `prefix`, then the rest of `chunks`."""

    target: Target
    translator: StreamTranslator | None
    response: UpstreamResponse
    chunks: AsyncIterator[bytes]
    splitter: SSESplitter
    prefix: list[bytes]
    reader: StreamReader
    native: str | None = None
    """The client's own API when events are relayed untouched (not the executor's form)."""
    refused: tuple[str, ...] = ()
    """Settings the serving target's model refuses, left out of its request (`model_rules.fit`)."""


@dataclass(slots=True)
class _Prepared:
    """One attempt, ready to send."""

    provider: ProviderConfig
    adapter: Adapter
    transport: Transport
    call: UpstreamCall
    secrets: tuple[str, ...]
    native: NativeRequest | None
    """Set when the target serves the client's own API: the client's body is passed through."""
    client_names: Mapping[str, str]
    refused: tuple[str, ...]
    """What the model's rules left out of this target's request (named in x-switchboard-dropped)."""

    def build(self) -> UpstreamRequest:
        if self.native is not None:
            return passthrough_request(self.call, self.native)
        try:
            return self.adapter.build_request(self.call)
        except UpstreamUnsupported as exc:  # named as the client sent it
            raise client_named(exc, self.client_names) from None


class Executor:
    def __init__(
        self,
        config: Config,
        transport: Transport,
        credentials: Credentials | None = None,
        *,
        health: TargetHealth | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        price: PriceLookup | None = None,
    ) -> None:
        self.config = config
        self.credentials = credentials or Credentials()
        self.health = health or TargetHealth(config.routing)
        self._sleep = sleep
        self._rand = rand
        self.balancer = Balancer(config, rand, price)
        self._transports: dict[str, Transport] = {}
        self._own: list[Transport] = []
        for name, provider in config.providers.items():
            local = provider_type(provider.type).local_transport
            if local is not None:  # providers that answer in-process (the mock)
                self._own.append(as_transport(local()))
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
        balance: Balance,
    ) -> T:
        policy = self.config.routing
        deadline = timing.start + deadline_s
        retries_left = policy.retry_budget
        failures: list[tuple[Target, UpstreamError]] = []
        chain: Sequence[Target] = targets
        if balance.strategy != "ordered":
            chain = self.balancer.order(balance, targets, self.health.cooling_now())
        ordered = self.health.order(chain)
        min_window = 0  # after a context-length 400: only targets declaring this window or more
        for index, target in enumerate(ordered):
            if min_window and (target.context_window or 0) < min_window:
                continue
            retries_on_target = 0
            while True:
                remaining = deadline - perf_counter()
                if remaining <= 0:
                    raise _give_up(failures, deadline_hit=True, deadline_ms=deadline_s * 1000)
                timing.attempts += 1
                try:
                    result = await attempt(target, remaining)
                except UpstreamError as error:
                    failures.append((target, error.with_traceback(None)))  # no frames kept (cycles)
                    if error.counts_against_health:
                        self.health.failure(target)
                    remaining = deadline - perf_counter()
                    if remaining <= 0:
                        raise _give_up(failures, deadline_hit=True, deadline_ms=deadline_s * 1000) from None
                    if (
                        error.action == "return"
                        and (window := context_fallback(error, ordered, index)) is not None
                    ):
                        min_window = window  # the prompt does not fit: a larger model may take it
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
                    if decision.action == "fail":
                        raise _give_up(failures, deadline_hit=False, deadline_ms=deadline_s * 1000) from None
                    if decision.action == "next":
                        break
                    retries_left -= 1
                    retries_on_target += 1
                    slept = perf_counter()
                    try:
                        await self._sleep(decision.delay_s)
                    finally:  # a wait the gateway chose: not overhead, not upstream
                        timing.backoff += perf_counter() - slept
                else:
                    self.health.success(target)
                    return result
        raise _give_up(failures, deadline_hit=False, deadline_ms=deadline_s * 1000)

    async def _prepare(self, target: Target, request: ChatRequest, stream: bool) -> _Prepared:
        provider = self.config.providers[target.provider]
        native = request.native
        if native is not None and native.api not in native_apis(provider):
            native = None
        body, refused = fit(request, provider.type, target.model, native is not None)  # the model's rules
        call = UpstreamCall(
            provider=provider,
            model=target.model,
            body=body,
            stream=stream,
            credential=await self.credentials.get(provider, provider_type(provider.type).credential == "aws"),
            endpoint=request.endpoint,
        )
        if native is None and request.untranslatable is not None:
            raise UpstreamUnsupported(
                f"'{request.untranslatable}' cannot be translated for {provider.name!r}",
                param=request.untranslatable,
            )
        return _Prepared(
            provider,
            provider_type(provider.type).adapter,
            self._transports[target.provider],
            call,
            self.credentials.known_values(),
            native,
            request.client_names,
            refused,
        )

    def _attempt_timeout(self, provider: ProviderConfig, target: Target, remaining: float) -> float:
        limit = target.timeout_ms or provider.timeout_ms
        return min(remaining, limit / 1000.0) if limit else remaining

    async def _attempt(
        self,
        target: Target,
        request: ChatRequest,
        stream: bool,
        remaining: float,
        timing: Timing,
        use: Callable[[Target, _Prepared, UpstreamResponse], Awaitable[T]],
        timed: bool = False,
    ) -> T:
        """One attempt: send, check the status, hand the open response to `use`; the response is
        closed unless `use` returns it inside its result (a started stream)."""
        system = self.config.providers[target.provider].type
        span = timing.span.attempt(system, target, timing.attempts, request.endpoint)
        response: UpstreamResponse | None = None
        try:
            prepared = await self._prepare(target, request, stream)
            upstream_request = prepared.build()
            span.inject(upstream_request.headers)
            started = perf_counter()
            keep_open = measured = False
            try:
                async with within(self._attempt_timeout(prepared.provider, target, remaining)):
                    response = await prepared.transport.send(upstream_request)
                    if not 200 <= response.status < 300:
                        content = await read_capped(response, ERROR_BODY_CAP, truncate=True)
                        raise prepared.adapter.map_error(
                            response.status, response.headers, content, prepared.secrets
                        )
                    result = await use(target, prepared, response)
                    keep_open = isinstance(result, StreamStart)
                    measured = True
            except TimeoutError:
                measured = True  # a timeout is latency too: the target falls behind in `latency` order
                first = "before the first token" if stream else ""
                raise UpstreamTimeout(f"upstream timed out {first}".strip()) from None
            finally:
                if response is not None and not keep_open:
                    await response.aclose()
                elapsed = perf_counter() - started
                timing.upstream += elapsed
                if timed and measured:  # to the first output of a stream, or the whole answer
                    self.balancer.observe(target, elapsed)
        except BaseException as error:
            span.end(response.status if response is not None else 0, error)
            raise
        assert response is not None
        if keep_open:  # a started stream: its span ends with the request (the relay reads on)
            span.hold(response.status)
        else:
            span.end(response.status)
        return result

    # ------------------------------------------------------------------ non-streaming

    async def complete(
        self,
        request: ChatRequest,
        targets: tuple[Target, ...],
        deadline_s: float,
        timing: Timing,
        balance: Balance = ORDERED,
    ) -> Completed:
        async def use(target: Target, prepared: _Prepared, response: UpstreamResponse) -> Completed:
            content = await read_capped(response, self.config.gateway.max_response_bytes)
            native = prepared.native
            if native is not None:
                return Completed(content, target, json_usage(native.api, content), native.api)
            if prepared.call.endpoint == "chat":
                answer = prepared.adapter.parse_response(content)
            else:
                answer = prepared.adapter.parse_embeddings(content, prepared.call)
            if not _looks_like_json_object(answer.body):
                raise UpstreamProtocolError(
                    "upstream returned a malformed body", upstream_status=response.status
                )
            return Completed(answer.body, target, answer.usage, refused=prepared.refused)

        async def attempt(target: Target, remaining: float) -> Completed:
            return await self._attempt(target, request, False, remaining, timing, use, balance.timed)

        return await self._run_chain(targets, deadline_s, timing, attempt, balance)

    # ------------------------------------------------------------------ streaming

    async def open_stream(
        self,
        request: ChatRequest,
        targets: tuple[Target, ...],
        deadline_s: float,
        timing: Timing,
        balance: Balance = ORDERED,
    ) -> StreamStart:
        async def use(target: Target, prepared: _Prepared, response: UpstreamResponse) -> StreamStart:
            if prepared.native is not None:
                reader = stream_reader(prepared.native.api)
                native = prepared.native.api
                return await _read_until_output(target, None, reader, response, native, prepared.secrets)
            translator = prepared.adapter.stream_translator(prepared.call)
            reader = stream_reader(OPENAI_CHAT, request.strip_usage)
            start = await _read_until_output(target, translator, reader, response, None, prepared.secrets)
            start.refused = prepared.refused
            return start

        async def attempt(target: Target, remaining: float) -> StreamStart:
            return await self._attempt(target, request, True, remaining, timing, use, balance.timed)

        return await self._run_chain(targets, deadline_s, timing, attempt, balance)


async def _read_until_output(
    target: Target,
    translator: StreamTranslator | None,
    reader: StreamReader,
    response: UpstreamResponse,
    native: str | None,
    secrets: tuple[str, ...],
) -> StreamStart:
    chunks = response.chunks()
    splitter = SSESplitter()
    prefix: list[bytes] = []
    try:
        async for chunk in chunks:
            committed = False
            for event in to_events(chunk, splitter, translator):
                if not committed:
                    if (payload := reader.error(event)) is not None:
                        raise classify_stream_error(payload, secrets)
                    committed = reader.carries_output(event)
                prefix.append(event)
            if committed:
                return StreamStart(target, translator, response, chunks, splitter, prefix, reader, native)
    except EventTooLarge:
        raise UpstreamProtocolError("upstream stream event too large") from None
    raise UpstreamProtocolError("upstream stream ended before any output")


ERROR_BODY_CAP = 64 * 1024
"""An error answer is read only this far: Switchboard needs its `error.message`, nothing more."""


async def read_capped(response: UpstreamResponse, cap: int, *, truncate: bool = False) -> bytes:
    """The whole body, refusing (or, for error bodies, cutting) anything past `cap` bytes, so a
    hostile or broken upstream cannot exhaust memory. An answer whose declared length is within the
    cap and not compressed is read in one call (the HTTP parser stops at the declared length)."""
    headers = response.headers
    length = headers.get("content-length")
    if length is not None and length.isdigit() and int(length) <= cap and "content-encoding" not in headers:
        return await response.read()
    parts: list[bytes] = []
    size = 0
    async for chunk in response.chunks():
        size += len(chunk)
        if size > cap:
            if truncate:
                parts.append(chunk[: len(chunk) - (size - cap)])
                break
            raise UpstreamProtocolError(
                f"upstream answer larger than {cap} bytes", upstream_status=response.status
            )
        parts.append(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def to_events(chunk: bytes, splitter: SSESplitter, translator: StreamTranslator | None) -> list[bytes]:
    """Upstream body bytes -> OpenAI SSE events: split (SSE), translated per event, or (binary
    event streams) handed to the translator whole."""
    if translator is None:
        return splitter.feed(chunk)
    if translator.raw_framing:
        return translator.feed(chunk)
    return [out for event in splitter.feed(chunk) for out in translator.feed(event)]


def _give_up(
    failures: list[tuple[Target, UpstreamError]], *, deadline_hit: bool, deadline_ms: float
) -> GatewayError:
    """`final_error`, with the failures list emptied: the chain's frame must not keep the error it
    raises (a reference cycle through the traceback holds the request and its buffers until a full
    collection; after `tune_gc` that is rare, and memory grew by the answer cap per failed request)."""
    error = final_error(failures, deadline_hit=deadline_hit, deadline_ms=deadline_ms)
    failures.clear()
    return error


def _looks_like_json_object(body: bytes) -> bool:
    stripped = body.strip()
    return stripped[:1] == b"{" and stripped[-1:] == b"}"
