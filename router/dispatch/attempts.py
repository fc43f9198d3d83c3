"""Try the decision's candidates in order until one answers.

A failure moves to the next candidate (connect error, timeout, 5xx, 429, garbage) as long as nothing
has reached the client. A stream is committed only once its first chunk is in hand; after that an
upstream failure ends the stream with an OpenAI-style error event and a clean close, never a hang.
A 400/413/422 from an upstream is the request's own fault and goes back to the caller at once, with
the upstream's status, type, param and code. A timeout after an upstream took the request is not tried
on another model (it may still be generating) unless the policy's `retries.fallback_after_timeout` says
so. An error the gateway already retried, or that a retry would only repeat, says `x-should-retry:
false`, which the OpenAI clients honour instead of retrying it themselves.
A committed stream is relayed in whole events, and ends with an error event when it outlives the
model's `timeouts.total` (counted from the attempt's start) or sends one event larger than the cap.
A model whose circuit breaker is open is skipped without being tried; a retryable failure (429, 5xx,
connect error) is retried on the same model with backoff while the retry budget allows, then the walk
moves on (router.dispatch.reliability). A request waits for a connection slot on the model before it is
sent (router.dispatch.pool); no free slot in time, or the tenant over its share, moves on as well, and is
never reported to the breaker: the model did not fail. Nor is a model on a hosted API with no key set
(router.upstream.keys): it is not called, and the error says what to configure.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from router.dispatch.pool import PoolBusy, ShareExceeded
from router.dispatch.reliability import Guard, retry_delay
from router.dispatch.sse import MAX_EVENT_BYTES, EventFramer, EventTooLarge
from router.errors import RouterError, Unavailable, UpstreamError, UpstreamTimeout, sse_error_event
from router.upstream.base import AcceptedTimeout, ByteStream, Reply, Target, Upstream, UpstreamStatus
from router.upstream.keys import MissingKey, key_missing

T = TypeVar("T")
PickUpstream = Callable[[Target], Upstream]
SHOULD_RETRY = "x-should-retry"


@dataclass(slots=True)
class Attempted:
    """What dispatch did, for headers, logs and metrics."""

    target: Target | None = None
    fallbacks: int = 0  # hops to another model
    retries: int = 0  # extra tries of the same model
    errors: list[str] = field(default_factory=list)


@dataclass(slots=True)
class PlainOutcome:
    target: Target
    reply: Reply
    attempted: Attempted


@dataclass(slots=True)
class StreamOutcome:
    target: Target
    first: bytes
    stream: ByteStream
    chunks: AsyncIterator[bytes]
    attempted: Attempted
    started: float = 0.0  # loop time when the attempt began: `timeouts.total` counts from here


async def _walk(targets: Sequence[Target], attempt: Callable[[Target], Awaitable[T]], attempted: Attempted, guard: Guard) -> T:
    if not targets:
        raise Unavailable("no model is available for this route")
    guard.budget.earn(guard.retry.budget_ratio)
    last: UpstreamError | None = None
    busy: PoolBusy | ShareExceeded | MissingKey | None = None
    for target in targets:
        if not await guard.admits(target.name):
            attempted.errors.append(f"{target.name}: circuit open")
            continue
        attempted.target = target
        tries = 0
        skipped = False
        while True:
            try:
                if (missing := key_missing(target)) is not None:
                    raise missing
                result = await attempt(target)
            except (PoolBusy, ShareExceeded, MissingKey) as exc:  # not the model's fault: no report, no retry
                busy, skipped = exc, True
                attempted.errors.append(f"{target.name}: {exc.message}")
                break
            except UpstreamStatus as exc:
                if exc.client_fault:
                    await guard.report(target.name, True)  # the model is healthy; the request is not
                    raise _client_error(exc) from None
                last = exc
            except UpstreamError as exc:
                last = exc
            else:
                await guard.report(target.name, True)
                return result
            await guard.report(target.name, False)
            if isinstance(last, AcceptedTimeout) and not guard.retry.fallback_after_timeout:
                last.headers[SHOULD_RETRY] = "false"  # the generation may still be running: not again, not elsewhere
                raise last
            delay = retry_delay(guard.retry, tries, last, guard.rng) if tries < guard.retry.attempts else None
            if delay is None or not guard.budget.spend():
                break
            tries += 1
            attempted.retries += 1
            await asyncio.sleep(delay)
        if skipped:
            continue
        assert last is not None
        attempted.errors.append(f"{target.name}: {last.message}")
        attempted.fallbacks += 1
    if last is None and busy is not None:
        raise busy
    if last is None:
        raise Unavailable("every model of this route has an open circuit breaker; retry shortly", headers={"retry-after": "1"})
    attempted.fallbacks -= 1  # the last failure is not a hop to another model
    retried = {SHOULD_RETRY: "false"} if attempted.retries or attempted.fallbacks else {}
    if len(attempted.errors) > 1:
        summary = "; ".join(attempted.errors)
        kind = UpstreamTimeout if isinstance(last, UpstreamTimeout) else UpstreamError
        raise kind(f"every candidate failed: {summary}", headers={**last.headers, **retried})
    last.headers.update(retried)
    if isinstance(last, UpstreamStatus) and last.upstream_status == 429:
        raise _client_error(last, "rate_limit_error")  # the upstream's own limit, passed on with its Retry-After
    raise last


def _client_error(exc: UpstreamStatus, default_type: str = "invalid_request_error") -> RouterError:
    """The upstream's verdict on the request, with its status (400, 413, 422, 429), type, param and code."""
    error = RouterError(exc.upstream_message, param=exc.upstream_param, code=exc.upstream_code, headers=exc.headers)
    error.status, error.type = exc.upstream_status, exc.upstream_type or default_type
    return error


async def dispatch_plain(
    targets: Sequence[Target], pick: PickUpstream, path: str, body: dict[str, Any], guard: Guard
) -> PlainOutcome:
    attempted = Attempted()

    async def attempt(target: Target) -> Reply:
        await guard.acquire(target)
        try:
            async with asyncio.timeout(target.spec.timeouts.total):
                return await pick(target).complete(target, path, body)
        except TimeoutError:
            raise AcceptedTimeout(f"model {target.name!r} exceeded its total timeout") from None
        finally:
            guard.release(target)

    reply = await _walk(targets, attempt, attempted, guard)
    assert attempted.target is not None
    return PlainOutcome(attempted.target, reply, attempted)


async def dispatch_stream(
    targets: Sequence[Target], pick: PickUpstream, path: str, body: dict[str, Any], guard: Guard
) -> StreamOutcome:
    attempted = Attempted()

    async def attempt(target: Target) -> StreamOutcome:
        stream: ByteStream | None = None
        await guard.acquire(target)
        started = asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(min(target.spec.timeouts.first_token, target.spec.timeouts.total)):
                stream = _Slotted(await pick(target).open_stream(target, path, body), guard, target)
                chunks = aiter(stream)
                first = await anext(chunks)
            return StreamOutcome(target, first, stream, chunks, attempted, started)
        except BaseException as exc:
            if stream is not None:
                await stream.aclose()
            else:
                guard.release(target)
            if isinstance(exc, TimeoutError):
                raise AcceptedTimeout(f"model {target.name!r} sent no first chunk in time") from None
            if isinstance(exc, StopAsyncIteration):
                raise UpstreamError(f"model {target.name!r} closed the stream without data") from None
            raise

    return await _walk(targets, attempt, attempted, guard)


class _Slotted:
    """A stream that holds its model's connection slot until it is closed."""

    def __init__(self, stream: ByteStream, guard: Guard, target: Target) -> None:
        self._stream, self._guard, self._target = stream, guard, target
        self._held = True
        self.headers = getattr(stream, "headers", None)  # the upstream's response headers, when it has them

    def __aiter__(self) -> AsyncIterator[bytes]:
        return aiter(self._stream)

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._held:
                self._held = False
                self._guard.release(self._target)


async def relay(
    outcome: StreamOutcome,
    held: Sequence[bytes] | None = None,
    pending: asyncio.Future[bytes] | None = None,
    transform: Callable[[bytes], bytes] | None = None,
    max_event_bytes: int = MAX_EVENT_BYTES,
) -> AsyncIterator[bytes]:
    """The committed stream in whole events; stalls, overruns and upstream failures end it with an error event.

    `held` replaces the first chunk when a caller already read ahead (the cascade's window), `pending` is
    a read still under way, and `transform` rewrites events (e.g. removing logprobs the gateway asked for).
    A partial event is never sent: when the stream ends early, the client gets whole events, then the error.
    """
    timeouts, name = outcome.target.spec.timeouts, outcome.target.name
    loop = asyncio.get_running_loop()
    deadline = (outcome.started or loop.time()) + timeouts.total
    framer = EventFramer(max_event_bytes)
    try:
        for chunk in [outcome.first] if held is None else held:
            events = framer.feed(chunk)
            if events:
                yield transform(events) if transform else events
        while True:
            left = deadline - loop.time()
            if left <= 0:
                yield sse_error_event(UpstreamTimeout(f"model {name!r} exceeded its total timeout of {timeouts.total:g} s"))
                return
            try:
                async with asyncio.timeout(min(timeouts.idle, left)):
                    chunk = await pending if pending is not None else await anext(outcome.chunks)
                    pending = None
            except StopAsyncIteration:
                rest = framer.rest()  # an upstream may end without the final blank line
                if rest:
                    yield transform(rest) if transform else rest
                return
            except TimeoutError:
                if loop.time() < deadline:
                    yield sse_error_event(UpstreamTimeout(f"model {name!r} stalled mid-stream"))
                else:
                    yield sse_error_event(UpstreamTimeout(f"model {name!r} exceeded its total timeout of {timeouts.total:g} s"))
                return
            except RouterError as exc:
                yield sse_error_event(exc)
                return
            events = framer.feed(chunk)
            if events:
                yield transform(events) if transform else events
    except EventTooLarge:
        yield sse_error_event(UpstreamError(f"model {name!r} sent a stream event larger than {max_event_bytes} bytes"))
    finally:
        if pending is not None:
            pending.cancel()
        await outcome.stream.aclose()
