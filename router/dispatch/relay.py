"""A committed stream, relayed to the client in whole events, holding its model's connection slot.

Once a stream's first chunk is in hand nothing else is tried: an upstream that stalls, fails, outlives
its model's `timeouts.total` (counted from the attempt's start) or sends one event larger than the cap
ends the stream with an OpenAI-style error event and a clean close, never a hang and never half an event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

from router.dispatch.outcome import Opened
from router.dispatch.reliability import DispatchGuard
from router.dispatch.sse import MAX_EVENT_BYTES, EventFramer, EventTooLarge
from router.errors import RouterError, UpstreamError, UpstreamTimeout, sse_error_event
from router.upstream.base import ByteStream, Target


class Slotted:
    """A stream that holds its model's connection slot until it is closed."""

    def __init__(self, stream: ByteStream, guard: DispatchGuard, target: Target) -> None:
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
    outcome: Opened,
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
