"""Circuit breakers as a request reads them: from a local copy, never a store round trip per request.

With the in-process store the store *is* local and the board passes calls through. With a shared store
(Redis) the board keeps, per breaker name:
- a twin (algo.Breaker) that applies this process's own reports at once, so its own failures open the
  breaker for its next request without waiting on Redis (once the store has the reports, its answer
  wins: a twin the store's state contradicts with "closed" is reset);
- the shared state as last read, refreshed every `poll_s` for every name used recently (one round trip
  for all of them), so a breaker another replica opened is seen here within `poll_s` (well under 1 s);
- the reports not yet written, sent in batches (one round trip per batch) `flush_s` after the first.
A request is let through when both views say closed; either saying open skips the model; half_open asks
the store for a probe slot (a round trip, only while a breaker is half open).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable

from router.store.algo import Breaker
from router.store.base import BreakerConfig, BreakerEvent, BreakerState, BreakerStatus, Store
from router.store.memory import MemoryStore

log = logging.getLogger("router.breakers")
IDLE_S = 120.0  # a name unused this long is no longer polled


class BreakerBoard:
    def __init__(self, store: Store, poll_s: float = 0.25, flush_s: float = 0.01) -> None:
        self.store = store
        self.shared = not isinstance(store, MemoryStore)
        self.poll_s, self.flush_s = poll_s, flush_s
        self.states: dict[str, str] = {}  # the last state seen per name, for /readyz and metrics
        self._twins: dict[str, Breaker] = {}
        self._seen: dict[str, BreakerState] = {}
        self._used: dict[str, float] = {}  # name -> monotonic time of last use
        self._pending: dict[str, list[BreakerEvent]] = {}
        self._cfg = BreakerConfig()
        self._tracked: set[str] = set()  # names that have had a failure reported here
        self._poller: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None

    def catalog_states(self) -> dict[str, str]:
        """The last state seen per catalog model (closed, open, half_open), without the tenants' own
        breakers ("model#tenant"): a copy, for /readyz and the metrics."""
        return {name: state for name, state in self.states.items() if "#" not in name}

    async def admits(self, name: str, cfg: BreakerConfig) -> bool:
        if not self.shared:
            state = await self.store.breaker_state(name, cfg)
            self.states[name] = state.state
            return state.state == "closed" or (state.state == "half_open" and await self.store.breaker_try_probe(name, cfg))
        self._cfg = cfg
        if self._poller is None:
            self._used[name] = time.monotonic()
            await self._refresh()  # the first request of a process reads the shared state once
            self._start()
        self._used[name] = time.monotonic()
        status = self._status(name, cfg)
        self.states[name] = status
        if status == "closed":
            return True
        if status == "open":
            return False
        return await self.store.breaker_try_probe(name, cfg)

    def _status(self, name: str, cfg: BreakerConfig) -> BreakerStatus:
        twin = self._twins.get(name)
        mine = twin.view(cfg, time.time()).state if twin is not None else "closed"
        seen = self._seen.get(name)
        theirs = seen.state if seen is not None else "closed"
        if "open" in (mine, theirs):
            return "open"
        return "half_open" if "half_open" in (mine, theirs) else "closed"

    def tracks(self, name: str) -> bool:
        """Whether a failure of this name was ever reported here (tenants' own breakers start then)."""
        return name in self._tracked

    async def report(self, name: str, ok: bool, cfg: BreakerConfig, tenant: str | None = None) -> None:
        if not ok:
            self._tracked.add(name)
        if not self.shared:
            state = await self.store.breaker_report(name, ok, cfg, tenant=tenant)
            self.states[name] = state.state
            return
        now = time.time()
        twin = self._twins.get(name)
        if twin is None:
            twin = self._twins[name] = Breaker()
        self.states[name] = twin.report(ok, cfg, now, tenant).state
        self._pending.setdefault(name, []).append(BreakerEvent(ok, now, tenant))
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_soon(cfg))

    async def _flush_soon(self, cfg: BreakerConfig) -> None:
        try:
            while self._pending:  # reports that arrive during a write go in the next one
                await asyncio.sleep(self.flush_s)
                await self.flush(cfg)
        finally:
            self._flusher = None

    async def flush(self, cfg: BreakerConfig | None = None) -> None:
        pending, self._pending = self._pending, {}
        if pending:
            states = await self.store.breaker_report_many(pending, cfg or self._cfg)
            self._seen.update(states)
            for name, state in states.items():  # the store has every replica's reports: it decides
                twin = self._twins.get(name)
                if state.state == "closed" and twin is not None and twin.state != "closed":
                    self._twins[name] = Breaker()

    def _start(self) -> None:
        if self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    def watch(self, names: Iterable[str]) -> None:
        """Poll these names from now on (the catalog's models), whether or not this process used them."""
        now = time.monotonic() + IDLE_S * 1000  # never idle
        for name in names:
            self._used[name] = max(self._used.get(name, 0.0), now)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                await self._refresh()
            except Exception:  # the store never raises by contract; the poller must never die
                log.exception("breaker poll failed")

    async def _refresh(self) -> None:
        cutoff = time.monotonic() - IDLE_S
        for name in [n for n, at in self._used.items() if at < cutoff]:
            del self._used[name]
            self._seen.pop(name, None)
        fresh = await self.store.breaker_views(list(self._used), self._cfg)
        self._seen.update(fresh)
        for name in fresh:
            self.states[name] = self._status(name, self._cfg)

    async def aclose(self) -> None:
        for task in (self._poller, self._flusher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._poller = self._flusher = None
        if self._pending:
            await self.flush()
