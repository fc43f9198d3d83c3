"""A scrape of /metrics off the request path: rendered in a worker thread, shared, and briefly reused.

Rendering the exposition of a busy gateway is tens of milliseconds of Python; done on the event loop,
every request waits behind it, and a few scrapers raise everyone's latency. So the rendering runs in a
thread (prometheus-client locks each metric while it reads it), scrapes that arrive while one renders
wait for that one, and a rendering is served again for up to REUSE_S as long as no request finished
since (a scrape still sees every request already answered).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from router.telemetry.metrics import PrometheusObserver

REUSE_S = 1.0


@dataclass(frozen=True, slots=True)
class _Rendered:
    body: bytes
    content_type: str
    observed: int
    at: float


class Exposition:
    """Renders an observer's exposition for scrapes: one rendering at a time, in a thread."""

    def __init__(self, observer: PrometheusObserver, reuse_s: float = REUSE_S) -> None:
        self.observer = observer
        self.reuse_s = reuse_s
        self.renderings = 0
        self._last: _Rendered | None = None
        self._running: asyncio.Future[_Rendered] | None = None

    async def render(self) -> tuple[bytes, str]:
        last = self._last
        if last is not None and last.observed == self.observer.observed and time.monotonic() - last.at < self.reuse_s:
            return last.body, last.content_type
        if self._running is None:
            self._running = asyncio.ensure_future(self._render())
            self._running.add_done_callback(self._done)
        rendered = await asyncio.shield(self._running)
        return rendered.body, rendered.content_type

    async def _render(self) -> _Rendered:
        observed = self.observer.observed
        self.observer.prepare()
        body, content_type = await asyncio.to_thread(self.observer.generate)
        self.renderings += 1
        self._last = _Rendered(body, content_type, observed, time.monotonic())
        return self._last

    def _done(self, future: asyncio.Future[_Rendered]) -> None:
        self._running = None
        if not future.cancelled():
            future.exception()  # retrieved: a failed rendering fails its scrapes, not the loop's log
