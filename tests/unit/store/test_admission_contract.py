"""The admission contract (Store.admit / Store.settle) and the breaker's tenant veto: every test runs on
MemoryStore and on RedisStore (a real redis-server), with explicit times."""

from __future__ import annotations

import asyncio

import pytest

from router.store import BreakerConfig, Store
from router.store.base import AdmitRequest, BreakerEvent, Settlement
from router.store.redis import RedisStore
from tests.unit.store.conftest import RedisServer, unique_prefix

T0 = 1_700_000_000.0


def req(lease: str, **kw: object) -> AdmitRequest:
    return AdmitRequest("acme", lease, **kw)  # type: ignore[arg-type]


async def test_all_or_nothing(store: Store) -> None:
    assert (await store.admit(req("a", rpm=2, tpm=100, tokens=60), T0)).allowed
    refused = await store.admit(req("b", rpm=2, tpm=100, tokens=60), T0 + 1)
    assert not refused.allowed and refused.refused == "tokens" and refused.retry_after_s == pytest.approx(59)
    # the refusal booked nothing: a request that fits both limits still gets the second request slot
    ok = await store.admit(req("c", rpm=2, tpm=100, tokens=40), T0 + 2)
    assert ok.allowed and ok.requests is not None and ok.requests.remaining == 0
    assert (await store.admit(req("d", rpm=2), T0 + 3)).refused == "requests"


async def test_concurrency_leases(store: Store) -> None:
    for lease in ("a", "b"):
        assert (await store.admit(req(lease, max_concurrent=2, lease_s=30), T0)).allowed
    refused = await store.admit(req("c", max_concurrent=2, lease_s=30), T0)
    assert refused.refused == "concurrency" and refused.in_flight == 2
    await store.settle([Settlement("acme", "a", T0)], T0 + 1)
    assert (await store.admit(req("d", max_concurrent=2, lease_s=30), T0 + 1)).allowed
    assert (await store.admit(req("e", max_concurrent=2, lease_s=30), T0 + 1)).refused == "concurrency"
    # a lease never settled (a crashed replica) frees its slot after lease_s
    assert (await store.admit(req("f", max_concurrent=2, lease_s=30), T0 + 31)).allowed


async def test_budget_reserves_the_maximum_and_settles_the_real_cost(store: Store) -> None:
    day = 1.0
    first = await store.admit(req("a", usd_day=day, usd=0.7), T0)
    assert first.allowed and first.reserved_usd == pytest.approx(0.7) and first.budget_left_usd == pytest.approx(1.0)
    second = await store.admit(req("b", usd_day=day, usd=0.7), T0)
    assert second.allowed and second.budget_left_usd == pytest.approx(0.3)  # admitted while room is left
    third = await store.admit(req("c", usd_day=day, usd=0.7), T0)
    assert third.refused == "budget"  # spent 0 + reserved 1.4 >= 1.0
    await store.settle([Settlement("acme", "a", T0, reserved_usd=0.7, usd=0.1)], T0 + 1)
    assert (await store.spend("acme", T0 + 1))[0] == pytest.approx(0.1)
    fourth = await store.admit(req("d", usd_day=day, usd=0.7), T0 + 1)
    assert fourth.allowed and fourth.budget_left_usd == pytest.approx(1.0 - 0.1 - 0.7)
    down = await store.admit(req("e", usd_day=day, usd=0.7, downgrade=True), T0 + 1)
    assert down.allowed and down.downgraded and down.reserved_usd == 0


async def test_settlement_corrects_tokens(store: Store) -> None:
    assert (await store.admit(req("a", tpm=100, tokens=80), T0)).allowed
    assert (await store.admit(req("b", tpm=100, tokens=30), T0 + 1)).refused == "tokens"
    await store.settle([Settlement("acme", "a", T0, reserved_tokens=80, tokens=20)], T0 + 2)
    ok = await store.admit(req("c", tpm=100, tokens=30), T0 + 3)
    assert ok.allowed and ok.tokens is not None and ok.tokens.remaining == 50


async def test_settle_twice_is_harmless(store: Store) -> None:
    await store.admit(req("a", max_concurrent=1, usd_day=1.0, usd=0.5), T0)
    s = Settlement("acme", "a", T0, reserved_usd=0.5, usd=0.2)
    await store.settle([s], T0 + 1)
    await store.settle([Settlement("acme", "a", T0, reserved_usd=0.5)], T0 + 1)
    assert await store.in_flight("acme", T0 + 1) == 0
    assert (await store.admit(req("b", max_concurrent=1, usd_day=1.0, usd=0.5), T0 + 1)).budget_left_usd == pytest.approx(0.8)


async def test_concurrent_admissions_are_exact(store: Store) -> None:
    results = await asyncio.gather(*(store.admit(req(f"l{i}", max_concurrent=7, rpm=1000), T0) for i in range(40)))
    assert sum(r.allowed for r in results) == 7


CFG = BreakerConfig(consecutive_failures=3, min_requests=1000, window_s=30, open_s=10)


async def test_one_tenant_alone_cannot_open_a_breaker_others_find_healthy(store: Store) -> None:
    await store.breaker_report("m", True, CFG, T0, tenant="a")
    for i in range(5):
        state = await store.breaker_report("m", False, CFG, T0 + 1 + i, tenant="b")
    assert state.state == "closed"
    # a second tenant failing too: the model is broken for everyone
    await store.breaker_report("m", False, CFG, T0 + 7, tenant="a")
    assert (await store.breaker_state("m", CFG, T0 + 7)).state == "open"


async def test_a_tenant_alone_on_a_model_opens_it(store: Store) -> None:
    for i in range(3):
        state = await store.breaker_report("m", False, CFG, T0 + i, tenant="b")
    assert state.state == "open"


async def test_healthy_witness_expires_with_the_window(store: Store) -> None:
    await store.breaker_report("m", True, CFG, T0, tenant="a")
    for i in range(3):
        state = await store.breaker_report("m", False, CFG, T0 + 31 + i, tenant="b")
    assert state.state == "open"


async def test_report_many_in_order(store: Store) -> None:
    events = [BreakerEvent(False, T0 + i, "b") for i in range(3)]
    states = await store.breaker_report_many({"m": events, "n": [BreakerEvent(True, T0, "a")]}, CFG)
    assert states["m"].state == "open" and states["n"].state == "closed"
    views = await store.breaker_views(["m", "n", "never"], CFG, T0 + 3)
    assert [views[k].state for k in ("m", "n", "never")] == ["open", "closed", "closed"]


async def test_redis_admit_fails_open_or_closed_as_asked(own_redis: RedisServer) -> None:
    s = RedisStore(own_redis.url, prefix=unique_prefix(), reconnect_interval_s=0.2)
    assert (await s.admit(req("a", rpm=1))).allowed
    assert not (await s.admit(req("b", rpm=1))).allowed
    own_redis.stop()
    opened = await s.admit(req("c", rpm=1, fail_open=True))
    assert opened.allowed and opened.degraded
    closed = await s.admit(req("d", rpm=1, fail_open=False))
    assert not closed.allowed and closed.refused == "store" and closed.retry_after_s > 0
    await s.settle([Settlement("acme", "a", 0.0, usd=0.25)])  # spend during the outage is buffered ...
    own_redis.start()
    await asyncio.sleep(0.25)
    assert await s.ping()  # ... and flushed once Redis is back
    assert (await s.spend("acme"))[0] == pytest.approx(0.25)
    await s.aclose()
