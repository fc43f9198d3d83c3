"""Guard: how RedisStore survives a Redis outage without ever making a request wait on a dead Redis.

Every Redis call goes through `Guard.run`. A failure (timeout, refused connection, any redis error) is
counted, marks Redis down and returns DOWN so the store can answer from its fallback: fail open or closed
for rate limits, the outage buffer for writes, the local view for reads. While down, calls return DOWN
at once, except one call per `reconnect_interval_s`, which tries Redis again (redis-py reconnects on the
next command) with a PING. Only once Redis answers does it flush the outage buffer, then run its own
command, so buffered writes land before new ones, and a hung Redis (which may execute what is stuck in
its socket buffers when it wakes) only ever receives PINGs from the retries.

Delivery is at least once: a write that times out (rather than being refused) is buffered and written
again, although a hung Redis may still execute the first copy; that is at most the one write in flight
when the outage began (or a flush cut off by a new outage). Usage is never lost; it may rarely count twice.
The outage is logged once when it starts, then at most once per `log_interval_s`, and once when it ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from redis.exceptions import RedisError

from router.store.base import StoreStats

log = logging.getLogger("router.store")

T = TypeVar("T")


class Down:
    """The type of DOWN: what Guard.run returns instead of raising when Redis is unavailable."""

    def __repr__(self) -> str:
        return "DOWN"


DOWN: Final = Down()

FAILURES = (RedisError, OSError, TimeoutError)


async def _nothing() -> None:
    return None


class Guard:
    def __init__(
        self,
        stats: StoreStats,
        where: str,
        *,
        deadline_s: float,
        probe: Callable[[], Awaitable[object]] = _nothing,
        flush: Callable[[], Awaitable[None]] | None = None,
        pending: Callable[[], int] = lambda: 0,
        reconnect_interval_s: float = 1.0,
        log_interval_s: float = 30.0,
    ) -> None:
        self.stats = stats
        self.where = where  # host:port, never the password
        self.deadline_s = deadline_s
        self.reconnect_interval_s = reconnect_interval_s
        self.log_interval_s = log_interval_s
        self.probe = probe  # the store's PING
        self.flush = flush  # writes the store's outage buffer
        self.pending = pending  # how much the outage buffer holds
        self.down_since: float | None = None
        self._next_attempt = 0.0
        self._last_log = 0.0
        self._errors_since_log = 0
        self._flushing = False

    @property
    def up(self) -> bool:
        return self.down_since is None

    async def run(self, op: Callable[[], Awaitable[T]], deadline_s: float | None = None) -> T | Down:
        try:
            if self.down_since is not None:
                now = time.monotonic()
                if now < self._next_attempt:
                    self.stats.fallbacks += 1
                    return DOWN
                self._next_attempt = now + self.reconnect_interval_s  # this call is the one attempt ...
                async with asyncio.timeout(self.deadline_s):
                    await self.probe()  # ... and it sends nothing but PING until Redis answers
            if self.flush is not None and self.pending() and not self._flushing:
                await self._flush()
            async with asyncio.timeout(deadline_s or self.deadline_s):
                result = await op()
        except FAILURES as exc:
            self._failed(exc)
            self.stats.fallbacks += 1
            return DOWN
        if self.down_since is not None:
            self._recovered()
        return result

    async def _flush(self) -> None:
        assert self.flush is not None
        self._flushing = True
        try:
            async with asyncio.timeout(self.deadline_s * 4):  # a flush may be a large pipeline
                await self.flush()
        finally:
            self._flushing = False

    def _failed(self, exc: BaseException) -> None:
        self.stats.errors += 1
        now = time.monotonic()
        self._next_attempt = now + self.reconnect_interval_s
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if self.down_since is None:
            self.down_since = now
            self.stats.outages += 1
            self._last_log, self._errors_since_log = now, 0
            log.warning("redis at %s unavailable (%s); serving from local fallbacks, retrying every %.1fs",
                        self.where, reason, self.reconnect_interval_s)  # fmt: skip
            return
        self._errors_since_log += 1
        if now - self._last_log >= self.log_interval_s:
            log.warning("redis at %s still unavailable after %.0fs (%d errors since last report; %s); %d writes buffered",
                        self.where, now - self.down_since, self._errors_since_log, reason, self.pending())  # fmt: skip
            self._last_log, self._errors_since_log = now, 0

    def _recovered(self) -> None:
        assert self.down_since is not None
        log.warning("redis at %s is back after %.1fs; buffered writes flushed (%d total so far)",
                    self.where, time.monotonic() - self.down_since, self.stats.flushed)  # fmt: skip
        self.down_since = None
