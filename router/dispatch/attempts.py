"""Try the decision's candidates in order until one answers: the one dispatcher.

    dispatch(call, attempted) ─> Outcome     the answer ready for the client, whatever the strategy
    dispatch_plain / dispatch_stream         the walk itself, for strategies that look at the answer
                                             first (router.dispatch.cascade, router.delegating)

A failure moves to the next candidate (connect error, timeout, 5xx, 429, garbage) as long as nothing
has reached the client. A stream is committed only once its first chunk is in hand; after that an
upstream failure ends the stream with an OpenAI-style error event and a clean close, never a hang
(router.dispatch.relay). A 400/413/422 from an upstream is the request's own fault and goes back to the
caller at once, with the upstream's status, type, param and code. A timeout after an upstream took the
request is not tried on another model (it may still be generating) unless the policy's
`retries.fallback_after_timeout` says so. An error the gateway already retried, or that a retry would
only repeat, says `x-should-retry: false`, which the OpenAI clients honour instead of retrying it
themselves.
A model whose circuit breaker is open is skipped without being tried; a retryable failure (429, 5xx,
connect error) is retried on the same model with backoff while the retry budget allows, then the walk
moves on (router.dispatch.reliability). A request waits for a connection slot on the model before it is
sent (router.dispatch.pool); no free slot in time, or the tenant over its share, moves on as well, and is
never reported to the breaker: the model did not fail. Nor is a model on a hosted API with no key set
(router.upstream.keys): it is not called, and the error says what to configure.
The caller owns the Attempted it passes in, so a walk that fails still says which models it tried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from router.dispatch.outcome import Answered, Attempted, Opened, Outcome, answered, streamed
from router.dispatch.pool import PoolBusy, ShareExceeded
from router.dispatch.relay import Slotted, relay
from router.dispatch.reliability import DispatchGuard, retry_delay
from router.dispatch.sse import MAX_EVENT_BYTES
from router.errors import RouterError, Unavailable, UpstreamError, UpstreamTimeout
from router.upstream.base import AcceptedTimeout, ByteStream, Reply, Target, Upstream, UpstreamStatus
from router.upstream.keys import MissingKey, key_missing

T = TypeVar("T")
PickUpstream = Callable[[Target], Upstream]
SHOULD_RETRY = "x-should-retry"


@dataclass(frozen=True, slots=True)
class Call:
    """One dispatch: the candidates in order, how to reach each, and what to send them."""

    targets: Sequence[Target]
    pick: PickUpstream  # the upstream client per target
    path: str  # the OpenAI path, e.g. chat/completions
    body: dict[str, Any]
    guard: DispatchGuard  # breakers, retries and connection slots, as this request's tenant sees them
    max_event_bytes: int = MAX_EVENT_BYTES  # a committed stream's largest event

    @property
    def stream(self) -> bool:
        return self.body.get("stream") is True


async def dispatch(call: Call, attempted: Attempted) -> Outcome:
    """The first candidate that answers, plain or streamed (strategies: fixed and classify; a cascade
    calls it for each of its halves)."""
    if call.stream:
        opened = await dispatch_stream(call, attempted)
        return streamed(opened, relay(opened, max_event_bytes=call.max_event_bytes))
    return answered(await dispatch_plain(call, attempted))


async def _walk(
    targets: Sequence[Target], attempt: Callable[[Target], Awaitable[T]], attempted: Attempted, guard: DispatchGuard
) -> tuple[Target, T]:
    if not targets:
        raise Unavailable("no model is available for this route")
    guard.budget.earn(guard.retry.budget_ratio)
    last: UpstreamError | None = None
    busy: PoolBusy | ShareExceeded | MissingKey | None = None
    for target in targets:
        if not await guard.admits(target.name):
            attempted.errors.append(f"{target.name}: circuit open")
            continue
        attempted.tried.append(target.name)
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
                return target, result
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


async def dispatch_plain(call: Call, attempted: Attempted | None = None) -> Answered:
    """`attempted`, when given, is the caller's: it still says what was tried when the walk fails."""
    attempted = Attempted() if attempted is None else attempted
    guard, path, body = call.guard, call.path, call.body

    async def attempt(target: Target) -> Reply:
        await guard.acquire(target)
        try:
            async with asyncio.timeout(target.spec.timeouts.total):
                return await call.pick(target).complete(target, path, body)
        except TimeoutError:
            raise AcceptedTimeout(f"model {target.name!r} exceeded its total timeout") from None
        finally:
            guard.release(target)

    target, reply = await _walk(call.targets, attempt, attempted, guard)
    return Answered(target, reply, attempted)


async def dispatch_stream(call: Call, attempted: Attempted | None = None) -> Opened:
    """`attempted`, when given, is the caller's: it still says what was tried when the walk fails."""
    attempted = Attempted() if attempted is None else attempted
    guard, path, body = call.guard, call.path, call.body

    async def attempt(target: Target) -> Opened:
        stream: ByteStream | None = None
        await guard.acquire(target)
        started = asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(min(target.spec.timeouts.first_token, target.spec.timeouts.total)):
                stream = Slotted(await call.pick(target).open_stream(target, path, body), guard, target)
                chunks = aiter(stream)
                first = await anext(chunks)
            return Opened(target, first, stream, chunks, attempted, started)
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

    return (await _walk(call.targets, attempt, attempted, guard))[1]
