"""The exposition is rendered in a worker thread, shared by concurrent scrapes, and re-rendered once a
request finished since (unit test of router.telemetry.scrape with a stand-in observer)."""

from __future__ import annotations

import asyncio
import threading
import time

from router.telemetry.scrape import Exposition


class Observer:
    def __init__(self) -> None:
        self.observed = 0
        self.threads: list[str] = []
        self.prepared = 0

    def prepare(self) -> None:
        self.prepared += 1

    def generate(self) -> tuple[bytes, str]:
        self.threads.append(threading.current_thread().name)
        return f"requests {self.observed}\n".encode(), "text/plain"


async def test_rendering_is_off_the_loop_shared_and_fresh() -> None:
    observer = Observer()
    exposition = Exposition(observer, reuse_s=60)  # type: ignore[arg-type]
    bodies = await asyncio.gather(*(exposition.render() for _ in range(8)))
    assert {b for b, _ in bodies} == {b"requests 0\n"}
    assert exposition.renderings == 1 and observer.threads != [threading.current_thread().name]
    assert (await exposition.render())[0] == b"requests 0\n" and exposition.renderings == 1  # nothing new: reused
    observer.observed += 1  # a request finished: the next scrape must count it
    assert (await exposition.render())[0] == b"requests 1\n" and exposition.renderings == 2
    assert threading.current_thread().name not in observer.threads


class SlowObserver(Observer):
    def generate(self) -> tuple[bytes, str]:
        time.sleep(0.05)
        return super().generate()


async def test_a_scrape_during_a_rendering_still_sees_requests_answered_before_it() -> None:
    observer = SlowObserver()
    exposition = Exposition(observer, reuse_s=60, pace=0)  # type: ignore[arg-type]
    first = asyncio.ensure_future(exposition.render())
    await asyncio.sleep(0.01)  # the first rendering is under way
    observer.observed += 1
    second = await exposition.render()
    await first
    assert second[0] == b"requests 1\n"
    assert exposition.renderings == 2  # not answered by the rendering that began before the request ended


async def test_renderings_are_paced() -> None:
    observer = SlowObserver()
    exposition = Exposition(observer, reuse_s=0, pace=4)  # type: ignore[arg-type]
    await exposition.render()
    observer.observed += 1
    started = time.monotonic()
    await exposition.render()
    assert time.monotonic() - started >= 4 * 0.05  # waited for its turn, then rendered
