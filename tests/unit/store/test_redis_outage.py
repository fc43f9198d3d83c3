"""RedisStore during a Redis outage: a real redis-server is killed (refused connections) or frozen with
SIGSTOP (a hung server: timeouts), then brought back. Nothing may raise, nothing may take a second,
usage written meanwhile must arrive once Redis is back, and the outage is logged once, not per call.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable
from typing import TypeVar

import pytest

from router.store import BreakerConfig, UsageRecord
from router.store.redis import RedisStore
from tests.unit.store.conftest import RedisServer, unique_prefix

T = TypeVar("T")
DAY = "2024-03-01"


def make(server: RedisServer, prefix: str | None = None, **options: object) -> RedisStore:
    return RedisStore(server.url, prefix=prefix or unique_prefix(), reconnect_interval_s=0.2, **options)  # type: ignore[arg-type]


async def quick(call: Awaitable[T]) -> T:
    start = time.monotonic()
    result = await call
    assert time.monotonic() - start < 1.0
    return result


def usage(model: str = "local-phi3", tokens: int = 10) -> UsageRecord:
    return UsageRecord("acme", model, "auto", "slm", DAY, prompt_tokens=tokens, cost_usd=0.001, llm_cost_usd=0.01)


async def exercise(s: RedisStore) -> None:
    """Every method once, each within a second and without raising."""
    cfg = BreakerConfig()
    await quick(s.adjust("k", 60, -1))
    await quick(s.add_spend("acme", 1.0))
    await quick(s.spend("acme"))
    await quick(s.record_usage(usage()))
    await quick(s.usage("acme", DAY, DAY))
    await quick(s.breaker_report("m", False, cfg))
    await quick(s.breaker_state("m", cfg))
    await quick(s.breaker_try_probe("m", cfg))
    await quick(s.put_adapter("acme", "x", "local-phi3", "x-v1"))
    assert await quick(s.get_adapter("acme", "x")) is not None  # the local view
    await quick(s.list_adapters("acme"))
    assert not await quick(s.ping())


async def test_killed_redis_fails_open_fast_and_logs_once(own_redis: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="router.store")
    s = make(own_redis)
    assert (await s.hit("k", 1, 60)).allowed
    assert not (await s.hit("k", 1, 60)).allowed
    own_redis.stop()
    for _ in range(4):  # spans several reconnect attempts
        decision = await quick(s.hit("k", 1, 60))
        assert decision.allowed  # fail open, although the limit is used up
        await exercise(s)
        await asyncio.sleep(0.25)
    assert s.stats.outages == 1
    assert s.stats.errors >= 3  # the first failure, then about one per reconnect attempt ...
    assert s.stats.fallbacks > s.stats.errors * 5  # ... while every other call was answered locally at once
    down = [r for r in caplog.records if r.name == "router.store" and "unavailable" in r.getMessage()]
    assert len(down) == 1 and down[0].levelno == logging.WARNING

    own_redis.start()
    await asyncio.sleep(0.25)
    assert await quick(s.ping())
    back = [r for r in caplog.records if r.name == "router.store" and "is back" in r.getMessage()]
    assert len(back) == 1
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1
    await s.aclose()


async def test_fail_closed(own_redis: RedisServer) -> None:
    s = make(own_redis, fail_open=False, fail_closed_retry_s=2.0)
    assert (await s.hit("k", 10, 60)).allowed
    own_redis.stop()
    for _ in range(3):
        decision = await quick(s.hit("k", 10, 60))
        assert not decision.allowed and decision.retry_after_s == 2.0 and decision.remaining == 0
    assert s.stats.errors >= 1
    await s.aclose()


async def test_hung_redis_times_out_and_buffered_usage_is_flushed(own_redis: RedisServer) -> None:
    s = make(own_redis, fail_open=False)
    await s.record_usage(usage(tokens=1))
    await s.add_spend("acme", 1.0)
    assert await s.spend("acme") == pytest.approx((1.0, 1.0))
    assert own_redis.proc is not None
    own_redis.proc.send_signal(signal.SIGSTOP)
    try:
        assert not (await quick(s.hit("k", 10, 60))).allowed  # a 0.25 s timeout, then fail closed
        for i in range(5):
            await quick(s.record_usage(usage(tokens=10)))
            await quick(s.add_spend("acme", 2.0))
            await exercise(s)
            await asyncio.sleep(0.1 * i)
        assert await quick(s.spend("acme")) == pytest.approx((16.0, 16.0))  # last value read + buffered (5 x 2 + 5 x 1)
        during = await quick(s.usage("acme", DAY, DAY))  # only what is buffered here
        assert [(r.requests, r.prompt_tokens) for r in during] == [(10, 100)]  # 5 here and 5 in exercise()
    finally:
        own_redis.proc.send_signal(signal.SIGCONT)
    assert s.stats.outages == 1 and s.stats.errors >= 1

    await asyncio.sleep(0.25)
    assert await s.flush()
    rows = await s.usage("acme", DAY, DAY)
    assert [(r.requests, r.prompt_tokens) for r in rows] == [(11, 101)]  # before + during, each once
    assert rows[0].cost_usd == pytest.approx(0.011) and rows[0].llm_cost_usd == pytest.approx(0.11)
    assert await s.spend("acme") == pytest.approx((16.0, 16.0))
    assert s.stats.flushed > 0 and s.stats.dropped == 0
    await s.aclose()


async def test_usage_during_outage_reaches_a_restarted_redis(own_redis: RedisServer) -> None:
    prefix = unique_prefix()
    s = make(own_redis, prefix)
    assert await s.ping()
    own_redis.stop()
    for _ in range(3):
        await quick(s.record_usage(usage(tokens=7)))
        await quick(s.record_usage(usage(model="hosted-gpt4o", tokens=3)))
        await asyncio.sleep(0.1)
    await quick(s.put_adapter("acme", "late", "local-phi3", "late-v1"))
    await quick(s.breaker_report("m", False, BreakerConfig()))
    own_redis.start()  # same port, empty (no persistence)
    await asyncio.sleep(0.25)
    assert await s.flush()

    other = make(own_redis, prefix)  # another replica sees it all
    rows = await other.usage(None, DAY, DAY)
    assert [(r.model, r.requests, r.prompt_tokens) for r in rows] == [("hosted-gpt4o", 3, 9), ("local-phi3", 3, 21)]
    assert (await other.get_adapter("acme", "late")) is not None
    assert (await other.breaker_state("m", BreakerConfig())).consecutive_failures == 1
    await s.aclose()
    await other.aclose()


async def test_buffer_is_bounded_and_counts_drops(own_redis: RedisServer) -> None:
    s = make(own_redis, buffer_max=4)
    own_redis.stop()
    for i in range(10):  # ten distinct (tenant, model, day) keys; repeats of a key coalesce
        await quick(s.record_usage(usage(model=f"m{i}")))
        await quick(s.record_usage(usage(model=f"m{i}")))
    assert s.stats.dropped == 12 and len(s.buffer) == 4
    own_redis.start()
    await asyncio.sleep(0.25)
    assert await s.flush()
    assert [(r.model, r.requests) for r in await s.usage("acme", DAY, DAY)] == [(f"m{i}", 2) for i in range(4)]
    await s.aclose()
