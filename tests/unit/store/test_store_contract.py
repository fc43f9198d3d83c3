"""The Store contract: every test runs against MemoryStore and RedisStore (a real redis-server).

Times are passed explicitly (`now=`) so windows, days and breaker timeouts are exact and instant.
The property tests at the end replay random operation sequences on both stores and a reference model.
"""

from __future__ import annotations

import asyncio
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.store import Adapter, BreakerConfig, MemoryStore, Store, UsageRecord, open_store
from router.store.redis import RedisStore
from tests.unit.store.conftest import RedisServer, unique_prefix

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


# Rate limits


async def test_admits_exactly_limit_then_refuses(store: Store) -> None:
    decisions = [await store.hit("k", 5, 60, now=T0 + i) for i in range(7)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0, 0]
    refused = decisions[5]
    assert refused.limit == 5
    assert refused.retry_after_s == pytest.approx(60 - 5)  # the oldest hit (T0) expires at T0+60; now is T0+5
    assert refused.reset_s == pytest.approx(60 - 1)  # the newest hit (T0+4) expires at T0+64
    assert decisions[0].retry_after_s == 0


async def test_window_rolls(store: Store) -> None:
    for _ in range(5):
        assert (await store.hit("k", 10, 60, now=T0)).allowed
    for _ in range(5):
        assert (await store.hit("k", 10, 60, now=T0 + 30)).allowed
    refused = await store.hit("k", 10, 60, now=T0 + 59)
    assert not refused.allowed and refused.retry_after_s == pytest.approx(1.0)
    assert (await store.hit("k", 10, 60, now=T0 + 60)).remaining == 4  # the T0 hits expired exactly at T0+60
    assert [(await store.hit("k", 10, 60, now=T0 + 60)).allowed for _ in range(5)] == [True] * 4 + [False]
    assert (await store.hit("k", 10, 60, now=T0 + 200)).remaining == 9


async def test_cost_weighted(store: Store) -> None:
    assert (await store.hit("tpm", 100, 60, cost=60, now=T0)).remaining == 40
    refused = await store.hit("tpm", 100, 60, cost=50, now=T0 + 1)
    assert not refused.allowed and refused.remaining == 40 and refused.retry_after_s == pytest.approx(59)
    assert (await store.hit("tpm", 100, 60, cost=40, now=T0 + 2)).allowed
    too_big = await store.hit("other", 100, 60, cost=101, now=T0)
    assert not too_big.allowed and too_big.retry_after_s == 60


async def test_peek_with_cost_zero_records_nothing(store: Store) -> None:
    assert (await store.hit("k", 2, 60, cost=0, now=T0)).allowed
    await store.hit("k", 2, 60, now=T0)
    await store.hit("k", 2, 60, now=T0)
    peek = await store.hit("k", 2, 60, cost=0, now=T0)
    assert not peek.allowed and peek.remaining == 0


async def test_adjust_refunds_and_charges(store: Store) -> None:
    assert (await store.hit("tpm", 100, 60, cost=80, now=T0)).allowed  # the estimate
    await store.adjust("tpm", 60, -50, now=T0 + 1, at=T0)  # the real count was 30
    assert (await store.hit("tpm", 100, 60, cost=60, now=T0 + 2)).remaining == 10
    await store.adjust("tpm", 60, 25, now=T0 + 3, at=T0 + 2)  # this one used 85, not 60
    refused = await store.hit("tpm", 100, 60, cost=1, now=T0 + 4)
    assert not refused.allowed and refused.remaining == 0
    # the refund expired with its reservation at T0+60, so nothing went negative in between
    assert (await store.hit("tpm", 100, 60, cost=0, now=T0 + 61)).remaining == 15
    await store.adjust("tpm", 60, 10, now=T0 + 200, at=T0)  # out of the window: no effect
    assert (await store.hit("tpm", 100, 60, cost=0, now=T0 + 200)).remaining == 100


async def test_rate_keys_are_independent(store: Store) -> None:
    assert (await store.hit("a", 1, 60, now=T0)).allowed
    assert not (await store.hit("a", 1, 60, now=T0)).allowed
    assert (await store.hit("b", 1, 60, now=T0)).allowed


# Spend


async def test_spend_per_utc_day_and_month(store: Store) -> None:
    await store.add_spend("acme", 1.5, now=T0)
    await store.add_spend("acme", 2.25, now=T0 + 60)
    await store.add_spend("other", 7.0, now=T0)
    assert await store.spend("acme", now=T0) == pytest.approx((3.75, 3.75))
    next_day = T0 + 2 * 3600  # 2023-11-15 00:13 UTC
    await store.add_spend("acme", 1.0, now=next_day)
    assert await store.spend("acme", now=next_day) == pytest.approx((1.0, 4.75))
    assert await store.spend("acme", now=T0 + 20 * 86400) == (0.0, 0.0)  # December
    assert await store.spend("nobody", now=T0) == (0.0, 0.0)


# Usage ledger


def rec(
    tenant: str = "acme", model: str = "local-phi3", day: str = "2024-03-01", route: str = "auto", **kw: object
) -> UsageRecord:
    tier = "llm" if model.startswith("hosted") else "slm"
    return UsageRecord(tenant=tenant, model=model, route=route, tier=tier, day=day, **kw)  # type: ignore[arg-type]


async def test_usage_sums_per_tenant_model_day(store: Store) -> None:
    await store.record_usage(rec(prompt_tokens=10, completion_tokens=5, cost_usd=0.0, llm_cost_usd=0.001))
    await store.record_usage(rec(route="support", requests=2, prompt_tokens=20, completion_tokens=7, llm_cost_usd=0.002))
    await store.record_usage(rec(model="hosted-gpt4o", prompt_tokens=100, completion_tokens=50, cost_usd=0.01, llm_cost_usd=0.01))
    await store.record_usage(rec(tenant="beta", day="2024-03-02", prompt_tokens=1))
    await store.record_usage(rec(day="2024-04-01", prompt_tokens=1))

    rows = await store.usage("acme", "2024-03-01", "2024-03-31")
    assert [(r.tenant, r.model, r.day) for r in rows] == [
        ("acme", "hosted-gpt4o", "2024-03-01"),
        ("acme", "local-phi3", "2024-03-01"),
    ]
    phi = rows[1]
    assert (phi.tier, phi.requests, phi.prompt_tokens, phi.completion_tokens) == ("slm", 3, 30, 12)
    assert phi.cost_usd == pytest.approx(0.0) and phi.llm_cost_usd == pytest.approx(0.003)
    assert phi.saved_usd == pytest.approx(0.003)
    assert dict(phi.routes) == {"auto": 1, "support": 2}
    assert rows[0].tier == "llm"

    everyone = await store.usage(None, "2024-03-01", "2024-03-02")
    assert [(r.tenant, r.day) for r in everyone] == [("acme", "2024-03-01"), ("acme", "2024-03-01"), ("beta", "2024-03-02")]
    assert await store.usage("acme", "2024-05-01", "2024-06-01") == []
    assert len(await store.usage(None, "2024-01-01", "2024-12-31")) == 4


async def test_usage_names_with_separators(store: Store) -> None:
    await store.record_usage(rec(tenant="a:b", model="c", prompt_tokens=1))
    await store.record_usage(rec(tenant="a", model="b:c", prompt_tokens=2))
    rows = await store.usage(None, "2024-03-01", "2024-03-01")
    assert sorted((r.tenant, r.model, r.prompt_tokens) for r in rows) == [("a", "b:c", 2), ("a:b", "c", 1)]


async def test_usage_rejects_bad_days(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.usage(None, "2024-3-1", "2024-03-02")
    with pytest.raises(ValueError):
        await store.record_usage(rec(day="yesterday"))


# Circuit breakers

CFG = BreakerConfig()


async def test_breaker_opens_on_consecutive_failures_then_probes(store: Store) -> None:
    for i in range(4):
        assert (await store.breaker_report("m", False, CFG, now=T0 + i)).state == "closed"
    opened = await store.breaker_report("m", False, CFG, now=T0 + 4)
    assert opened.state == "open" and opened.retry_in_s == pytest.approx(15)
    assert (await store.breaker_state("m", CFG, now=T0 + 10)).retry_in_s == pytest.approx(9)
    assert not await store.breaker_try_probe("m", CFG, now=T0 + 10)
    assert (await store.breaker_report("m", True, CFG, now=T0 + 10)).state == "open"  # late reports are ignored

    assert (await store.breaker_state("m", CFG, now=T0 + 19)).state == "half_open"
    assert await store.breaker_try_probe("m", CFG, now=T0 + 19)
    assert not await store.breaker_try_probe("m", CFG, now=T0 + 19.5)  # one probe at a time
    reopened = await store.breaker_report("m", False, CFG, now=T0 + 20)
    assert reopened.state == "open" and reopened.retry_in_s == pytest.approx(15)

    assert await store.breaker_try_probe("m", CFG, now=T0 + 35)
    closed = await store.breaker_report("m", True, CFG, now=T0 + 36)
    assert closed.state == "closed" and closed.consecutive_failures == 0 and closed.window_requests == 0
    assert await store.breaker_try_probe("m", CFG, now=T0 + 36)  # closed: always
    assert (await store.breaker_state("other", CFG, now=T0)).state == "closed"


async def test_breaker_success_resets_consecutive(store: Store) -> None:
    for i in range(20):
        state = await store.breaker_report("m", i % 4 == 3, CFG, now=T0 + i * 0.01)  # 3 failures, 1 success
    assert state.state == "closed" and state.window_requests == 20 and state.window_failures == 15


async def test_breaker_opens_on_error_rate(store: Store) -> None:
    cfg = BreakerConfig(consecutive_failures=100, error_rate=0.5, min_requests=20, window_s=30)
    for i in range(19):  # ok, fail, ok, fail, ... : 10 ok, 9 failed
        assert (await store.breaker_report("m", i % 2 == 0, cfg, now=T0 + i * 0.1)).state == "closed"
    state = await store.breaker_report("m", False, cfg, now=T0 + 2)  # 20 requests, 10 failed: not > 0.5
    assert state.state == "closed" and (state.window_requests, state.window_failures) == (20, 10)
    assert (await store.breaker_report("m", False, cfg, now=T0 + 2.1)).state == "open"  # 11/21


async def test_breaker_window_forgets_old_failures(store: Store) -> None:
    cfg = BreakerConfig(consecutive_failures=100, min_requests=4, window_s=10)
    for i in range(3):
        await store.breaker_report("m", False, cfg, now=T0 + i * 0.1)
    late = await store.breaker_state("m", cfg, now=T0 + 11)
    assert (late.window_requests, late.window_failures) == (0, 0)
    assert (await store.breaker_report("m", False, cfg, now=T0 + 11)).state == "closed"  # 1/1 but < min_requests


async def test_breaker_probe_slots_and_stale_probes(store: Store) -> None:
    cfg = BreakerConfig(consecutive_failures=1, open_s=5, half_open_probes=2)
    await store.breaker_report("m", False, cfg, now=T0)
    assert [await store.breaker_try_probe("m", cfg, now=T0 + 5) for _ in range(3)] == [True, True, False]
    assert not await store.breaker_try_probe("m", cfg, now=T0 + 9)
    assert await store.breaker_try_probe("m", cfg, now=T0 + 10)  # the lost probes' slots are freed after open_s


# Adapters


async def test_adapters_registry(store: Store) -> None:
    a = await store.put_adapter("acme", "acme-support", "local-phi3", "acme-support-v3")
    assert a == Adapter("acme", "acme-support", "local-phi3", "acme-support-v3")
    await store.put_adapter("acme", "acme-sales", "local-phi3", "acme-sales-v1")
    await store.put_adapter("beta", "acme-support", "local-phi3", "beta-support")
    assert await store.get_adapter("acme", "acme-support") == a
    assert (await store.get_adapter("beta", "acme-support")).adapter_module == "beta-support"  # type: ignore[union-attr]
    assert await store.get_adapter("gamma", "acme-support") is None  # only its own tenant can see it
    assert [x.name for x in await store.list_adapters("acme")] == ["acme-sales", "acme-support"]

    await store.put_adapter("acme", "acme-support", "local-phi3", "acme-support-v4")  # replace
    assert (await store.get_adapter("acme", "acme-support")).adapter_module == "acme-support-v4"  # type: ignore[union-attr]
    assert await store.delete_adapter("acme", "acme-support")
    assert not await store.delete_adapter("acme", "acme-support")
    assert await store.get_adapter("acme", "acme-support") is None
    assert [x.name for x in await store.list_adapters("acme")] == ["acme-sales"]
    assert await store.list_adapters("nobody") == []


async def test_put_adapters_bulk(store: Store) -> None:
    batch = [Adapter(f"t{i % 7}", f"a{i}", "local-phi3", f"mod{i}") for i in range(500)]
    assert await store.put_adapters(batch) == 500
    assert await store.get_adapter("t3", "a3") == batch[3]
    assert len(await store.list_adapters("t0")) == len(range(0, 500, 7))


async def test_ping(store: Store) -> None:
    assert await store.ping()
    assert store.stats.errors == 0


# Redis only: replicas share, keys are prefixed, breaker_state is cached briefly


async def test_replicas_share_state(redis_server: RedisServer) -> None:
    prefix = unique_prefix()
    a, b = RedisStore(redis_server.url, prefix=prefix), RedisStore(redis_server.url, prefix=prefix)
    try:
        assert (await a.hit("k", 1, 60, now=T0)).allowed
        assert not (await b.hit("k", 1, 60, now=T0)).allowed
        await a.add_spend("acme", 1.0, now=T0)
        await b.add_spend("acme", 2.0, now=T0)
        assert await a.spend("acme", now=T0) == pytest.approx((3.0, 3.0))
        await a.record_usage(rec(prompt_tokens=1))
        await b.record_usage(rec(prompt_tokens=2))
        assert [r.prompt_tokens for r in await b.usage("acme", "2024-03-01", "2024-03-01")] == [3]
        await a.put_adapter("acme", "x", "local-phi3", "x-v1")
        assert await b.get_adapter("acme", "x") == Adapter("acme", "x", "local-phi3", "x-v1")
        cfg = BreakerConfig(consecutive_failures=2)
        await a.breaker_report("m", False, cfg, now=T0)
        assert (await b.breaker_report("m", False, cfg, now=T0)).state == "open"
        assert (await a.breaker_state("m", cfg, now=T0 + 1)).state == "open"
    finally:
        await a.aclose()
        await b.aclose()


async def test_keys_carry_the_prefix(redis_server: RedisServer) -> None:
    s = RedisStore(redis_server.url, prefix="custom-prefix/")
    try:
        await s.hit("k", 1, 60)
        await s.add_spend("acme", 1.0)
        await s.record_usage(rec())
        await s.breaker_report("m", False, CFG)
        await s.put_adapter("acme", "x", "b", "m")
        keys = [k async for k in s._r.scan_iter(match="custom-prefix/*")]
        assert len(keys) >= 7
        assert {k.split(":")[0] for k in keys} == {"custom-prefix/rl", "custom-prefix/spend", "custom-prefix/usage",
                                                   "custom-prefix/breaker", "custom-prefix/adapters"}  # fmt: skip
        ledger = [k for k in keys if k.startswith("custom-prefix/usage:2")]
        assert ledger and [await s._r.ttl(k) for k in ledger] == [-1] * len(ledger)  # the ledger never expires
        spend = [k for k in keys if k.startswith("custom-prefix/spend")]
        assert all(0 < ttl <= 40 * 86400 for ttl in [await s._r.ttl(k) for k in spend])
    finally:
        await s._r.delete(*[k async for k in s._r.scan_iter(match="custom-prefix/*")])
        await s.aclose()


async def test_breaker_state_cache(redis_server: RedisServer) -> None:
    prefix = unique_prefix()
    a, b = RedisStore(redis_server.url, prefix=prefix, breaker_cache_s=0.3), RedisStore(redis_server.url, prefix=prefix)
    cfg = BreakerConfig(consecutive_failures=1)
    try:
        assert (await a.breaker_state("m", cfg)).state == "closed"
        await b.breaker_report("m", False, cfg)
        assert (await a.breaker_state("m", cfg)).state == "closed"  # cached, no round trip
        await asyncio.sleep(0.35)
        assert (await a.breaker_state("m", cfg)).state == "open"
    finally:
        await a.aclose()
        await b.aclose()


def test_open_store_factory(redis_server: RedisServer) -> None:
    assert isinstance(open_store(None), MemoryStore)
    assert isinstance(open_store(redis_server.url, prefix="x:", fail_open=False), RedisStore)
    with pytest.raises(TypeError):
        open_store(None, prefix="x:")


# Properties: random sequences give the same answers on both stores, and match a naive reference


def reference_hits(ops: list[tuple[float, int]], limit: int, window: float) -> list[bool]:
    admitted: list[tuple[float, int]] = []
    out = []
    for now, cost in ops:
        used = sum(c for t, c in admitted if t > now - window)
        ok = used + cost <= limit
        out.append(ok)
        if ok:
            admitted.append((now, cost))
    return out


rate_ops = st.lists(st.tuples(st.integers(0, 400).map(lambda x: x / 4), st.integers(1, 12)), min_size=1, max_size=60)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=rate_ops, limit=st.integers(1, 40), window=st.sampled_from([1.0, 5.0, 30.0]))
def test_rate_matches_reference(redis_server: RedisServer, ops: list[tuple[float, int]], limit: int, window: float) -> None:
    ops = sorted(ops)

    async def run() -> None:
        stores: list[Store] = [MemoryStore(), RedisStore(redis_server.url, prefix=unique_prefix())]
        expected = reference_hits(ops, limit, window)
        for s in stores:
            got = [await s.hit("k", limit, window, cost, now=T0 + t) for t, cost in ops]
            assert [d.allowed for d in got] == expected
            assert all(0 <= d.remaining <= limit and (d.allowed or d.retry_after_s > 0) for d in got)
            await s.aclose()

    asyncio.run(run())


breaker_ops = st.lists(
    st.tuples(st.sampled_from(["ok", "fail", "probe", "view"]), st.integers(0, 40).map(lambda x: x / 8)), min_size=1, max_size=80
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=breaker_ops, threshold=st.integers(1, 4), probes=st.integers(1, 2))
def test_breaker_twins_agree(redis_server: RedisServer, ops: list[tuple[str, float]], threshold: int, probes: int) -> None:
    cfg = BreakerConfig(consecutive_failures=threshold, min_requests=6, error_rate=0.5, window_s=4, open_s=1.5,
                        half_open_probes=probes)  # fmt: skip

    async def run(s: Store) -> list[object]:
        out: list[object] = []
        now = T0
        for op, dt in ops:
            now += dt
            if op == "probe":
                out.append(await s.breaker_try_probe("m", cfg, now=now))
            elif op == "view":
                out.append(await s.breaker_state("m", cfg, now=now))
            else:
                out.append(await s.breaker_report("m", op == "ok", cfg, now=now))
        await s.aclose()
        return out

    memory = asyncio.run(run(MemoryStore()))
    redis = asyncio.run(run(RedisStore(redis_server.url, prefix=unique_prefix())))
    for m, r in zip(memory, redis, strict=True):
        if isinstance(m, bool):
            assert m == r
        else:
            assert (m.state, m.consecutive_failures, m.window_requests, m.window_failures) == (  # type: ignore[attr-defined]
                r.state, r.consecutive_failures, r.window_requests, r.window_failures)  # type: ignore[attr-defined]  # fmt: skip
            assert math.isclose(m.retry_in_s, r.retry_in_s, abs_tol=1e-6)  # type: ignore[attr-defined]


# Stored responses


async def test_stored_responses_per_tenant_with_ttl(store: Store) -> None:
    await store.put_response("acme", "resp_1", b'{"items": [1]}', ttl_s=60, now=T0)
    await store.put_response("beta", "resp_2", b'{"items": [2]}', ttl_s=10, now=T0)
    assert await store.get_response("acme", "resp_1", now=T0 + 1) == b'{"items": [1]}'
    assert await store.get_response("beta", "resp_1", now=T0 + 1) is None  # another tenant never reads it
    assert await store.get_response("acme", "resp_9", now=T0 + 1) is None
    await store.put_response("acme", "resp_1", b'{"items": [3]}', ttl_s=60, now=T0 + 2)  # replaced
    assert await store.get_response("acme", "resp_1", now=T0 + 3) == b'{"items": [3]}'
    if isinstance(store, MemoryStore):  # Redis expires by its own clock: checked below with a short real TTL
        assert await store.get_response("beta", "resp_2", now=T0 + 11) is None


async def test_stored_response_expires_in_redis(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url, prefix=unique_prefix())
    try:
        await store.put_response("acme", "resp_1", b"{}", ttl_s=0.2)
        assert await store.get_response("acme", "resp_1") == b"{}"
        await asyncio.sleep(0.4)
        assert await store.get_response("acme", "resp_1") is None
    finally:
        await store.aclose()
