"""A scrape of /metrics off the request path: rendered in a worker thread, shared, and paced.

Rendering the exposition of a busy gateway with many tenants is tens of milliseconds of Python; done on
the event loop, every request waits behind it, and a few scrapers raise everyone's latency (measured
with tests/bench/bench_scrape.py). So:

- the rendering runs in a thread (prometheus-client locks each metric while it reads it);
- one rendering at a time, shared by every scrape it can answer;
- renderings are paced: after one that took d seconds the next starts no sooner than PACE x d later,
  so rendering takes at most 1 / (1 + PACE) of the time however many scrapers there are;
- a scrape still sees every request answered before it arrived: it is answered by a rendering that
  started after that, or, while no request finished since, by the last one (for up to REUSE_S).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from router.telemetry.metrics import PrometheusObserver

REUSE_S = 1.0
PACE = 9.0


@dataclass(frozen=True, slots=True)
class _Rendered:
    body: bytes
    content_type: str
    observed: int  # requests the observer had seen when this rendering started
    at: float  # when it finished
    took: float


class Exposition:
    """Renders an observer's exposition for scrapes: one rendering at a time, in a thread, paced."""

    def __init__(self, observer: PrometheusObserver, reuse_s: float = REUSE_S, pace: float = PACE) -> None:
        self.observer = observer
        self.reuse_s = reuse_s
        self.pace = pace
        self.renderings = 0
        self._last: _Rendered | None = None
        self._running: asyncio.Future[_Rendered] | None = None

    async def render(self) -> tuple[bytes, str]:
        wanted = self.observer.observed
        last = self._last
        if last is not None and last.observed == wanted and time.monotonic() - last.at < self.reuse_s:
            return last.body, last.content_type
        while True:
            if self._running is None:
                self._running = asyncio.ensure_future(self._render(self._wait()))
                self._running.add_done_callback(self._done)
            rendered = await asyncio.shield(self._running)
            if rendered.observed >= wanted:
                return rendered.body, rendered.content_type

    def _wait(self) -> float:
        last = self._last
        return 0.0 if last is None else max(0.0, last.at + self.pace * last.took - time.monotonic())

    async def _render(self, delay: float) -> _Rendered:
        if delay > 0:
            await asyncio.sleep(delay)
        observed = self.observer.observed
        started = time.monotonic()
        self.observer.prepare()
        body, content_type = await asyncio.to_thread(self.observer.generate)
        self.renderings += 1
        now = time.monotonic()
        self._last = _Rendered(body, content_type, observed, now, now - started)
        return self._last

    def _done(self, future: asyncio.Future[_Rendered]) -> None:
        self._running = None
        if not future.cancelled():
            future.exception()  # retrieved: a failed rendering fails its scrapes, not the loop's log
