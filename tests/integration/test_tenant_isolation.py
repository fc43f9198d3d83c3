"""One tenant cannot take a model away from another (issue 11, item 5): two tenants on two replicas
sharing one real Redis. A tenant's failing requests open its own breaker, not the model's; its flood of
slow requests is held to its share of the model's connections; and a wait for a connection is not a
failure of the model."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.procs import Gateway, Upstream, start_gateway, two_tier_policy
from tests.support.redis_server import REDIS_SERVER, RedisServer

pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")
KEYS = {"a": "sk-tenant-a", "b": "sk-tenant-b", "c": "sk-tenant-c"}
ENV = {f"KEY_{t.upper()}": k for t, k in KEYS.items()}


def policy(slm: Upstream, llm: Upstream, **server: Any) -> str:
    p: dict[str, Any] = json.loads(two_tier_policy(slm.base_url, llm.base_url))
    p["server"]["breaker"] = {"consecutive_failures": 3, "min_requests": 1000, "open_s": 30}
    p["server"].update(server)
    p["tenants"] = {t: {"api_keys": [f"${{KEY_{t.upper()}}}"], "routes": ["small"]} for t in KEYS}
    return json.dumps(p)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def chat(gw: Gateway, tenant: str, text: str = "hello", timeout: float = 30) -> httpx.Response:
    body = {"model": "small", "messages": [{"role": "user", "content": text}]}
    return httpx.post(
        gw.base_url + "/chat/completions", json=body, headers={"authorization": f"Bearer {KEYS[tenant]}"}, timeout=timeout
    )


def breakers(gw: Gateway) -> dict[str, str]:
    return dict(httpx.get(gw.url + "/readyz").json()["breakers"])


def test_one_tenants_failures_do_not_open_the_model_for_another(
    slm: Upstream, llm: Upstream, redis: RedisServer, tmp_path: Path
) -> None:
    args = ["--redis-url", redis.url]
    one = start_gateway(policy(slm, llm), tmp_path / "one", ENV, args)
    two = start_gateway(policy(slm, llm), tmp_path / "two", ENV, args)
    try:
        slm.control(mode="ok", fail_marker="POISON")
        assert chat(one, "a").status_code == 200  # tenant A's traffic is healthy
        for _ in range(3):
            assert chat(two, "b", "POISON please").status_code == 502  # B's requests fail, on the other replica
        time.sleep(0.6)  # longer than a replica's breaker poll (0.25 s)
        for gw in (one, two):
            ok = chat(gw, "a")
            assert ok.status_code == 200, ok.text  # A keeps its model, on both replicas
            assert breakers(gw).get("local-slm", "closed") == "closed"
        refused = chat(two, "b")  # B's own breaker for the model is open: it skips the model
        assert refused.status_code == 503 and "circuit" in refused.json()["error"]["message"]
        # when a second tenant fails too, the model is broken for everyone
        for _ in range(3):
            chat(one, "a", "POISON again")
        time.sleep(0.6)
        for gw in (one, two):
            assert breakers(gw)["local-slm"] == "open"
            gone = chat(gw, "c")
            assert gone.status_code == 503 and "circuit" in gone.json()["error"]["message"]
    finally:
        one.stop()
        two.stop()


async def _burst(gw: Gateway, tenant: str, n: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        body = {"model": "small", "messages": [{"role": "user", "content": "slow"}]}
        headers = {"authorization": f"Bearer {KEYS[tenant]}"}
        return list(
            await asyncio.gather(*(client.post(gw.base_url + "/chat/completions", json=body, headers=headers) for _ in range(n)))
        )


async def _flood_then(gw: Gateway, flooder: str, n: int, other: str) -> tuple[list[httpx.Response], httpx.Response]:
    flood = asyncio.create_task(_burst(gw, flooder, n))
    await asyncio.sleep(1.0)  # the flood holds its slots (the upstream answers after 3 s)
    async with httpx.AsyncClient(timeout=60) as client:
        body = {"model": "small", "messages": [{"role": "user", "content": "mine"}]}
        mine = await client.post(gw.base_url + "/chat/completions", json=body, headers={"authorization": f"Bearer {KEYS[other]}"})
    return await flood, mine


def test_a_flood_of_slow_requests_is_held_to_its_share(slm: Upstream, llm: Upstream, redis: RedisServer, tmp_path: Path) -> None:
    gw = start_gateway(
        policy(slm, llm, model_connections=4, tenant_model_share=0.5), tmp_path / "gw", ENV, ["--redis-url", redis.url]
    )
    try:
        slm.control(mode="ok", delay_ms=3000)
        flood, mine = asyncio.run(_flood_then(gw, "b", 8, "a"))
        codes = sorted(r.status_code for r in flood)
        assert codes == [200] * 2 + [429] * 6, codes  # B may hold 2 of the model's 4 connections
        refused = next(r for r in flood if r.status_code == 429)
        assert refused.json()["error"]["code"] == "concurrency_limit_exceeded"
        assert mine.status_code == 200, mine.text  # A was served meanwhile
        assert breakers(gw).get("local-slm", "closed") == "closed"
    finally:
        gw.stop()


def test_waiting_for_a_connection_is_not_a_model_failure(
    slm: Upstream, llm: Upstream, redis: RedisServer, tmp_path: Path
) -> None:
    text = policy(slm, llm, model_connections=2, tenant_model_share=1.0)
    p = json.loads(text)
    p["server"]["breaker"]["consecutive_failures"] = 1
    p["models"]["local-slm"]["timeouts"]["connect"] = 1
    gw = start_gateway(json.dumps(p), tmp_path / "gw", ENV, ["--redis-url", redis.url])
    try:
        slm.control(mode="ok", delay_ms=3000)
        flood, mine = asyncio.run(_flood_then(gw, "b", 2, "a"))
        assert [r.status_code for r in flood] == [200, 200]
        assert mine.status_code == 503 and mine.json()["error"]["code"] == "model_busy", mine.text
        assert breakers(gw).get("local-slm", "closed") == "closed"  # one failure would have opened it
        slm.control(mode="ok")
        assert chat(gw, "a").status_code == 200
    finally:
        gw.stop()


def test_redis_outage_fails_open_or_closed_as_the_policy_says(
    slm: Upstream, llm: Upstream, redis: RedisServer, tmp_path: Path
) -> None:
    """`server.limits_fail_open`: with Redis down, a tenant with limits is admitted (true) or refused with
    429 and Retry-After (false), within a bound; usage answered meanwhile reaches the ledger once Redis is
    back (buffered, then flushed)."""
    text = json.loads(policy(slm, llm))
    text["tenants"]["a"]["limits"] = {"requests_per_minute": 1000, "usd_per_day": 100.0}
    env = ENV | {"ROUTER_ADMIN_KEY": "sk-admin-x"}
    gw = start_gateway(json.dumps(text), tmp_path / "gw", env, ["--redis-url", redis.url])
    admin = {"authorization": "Bearer sk-admin-x"}
    try:
        assert chat(gw, "a").status_code == 200
        redis.stop()
        for _ in range(3):
            started = time.monotonic()
            r = chat(gw, "a")
            assert r.status_code == 200, r.text
            assert time.monotonic() - started < 5  # gives up on Redis quickly (0.25 s per call)
        text["server"]["limits_fail_open"] = False
        assert gw.rewrite_policy(json.dumps(text))["last_reload_error"] is None
        refused = chat(gw, "a")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        redis.start()
        deadline = time.monotonic() + 10
        rows: list[dict[str, Any]] = []
        while time.monotonic() < deadline:  # the buffer is flushed on the first call after Redis is back
            assert chat(gw, "a").status_code in (200, 429)
            rows = httpx.get(gw.url + "/router/usage", params={"tenant": "a"}, headers=admin).json()["data"]
            if sum(r["requests"] for r in rows) >= 4:
                break
            time.sleep(0.3)
        assert sum(r["requests"] for r in rows) >= 4  # the request before and the three during the outage
    finally:
        gw.stop()
