"""Admission through HTTP (issue 11, items 2, 3, 5 and 8): authentication and limits before any expensive
work, embeddings and explain admitted like chat, per-tenant concurrency, budgets and tokens/min that hold
under 200 concurrent requests, and one tenant unable to take a model away from another. On the in-memory
store and on a real redis-server."""

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

ADMIN = "sk-admin-adm"
TENANTS = ("slow", "explain", "emb", "scoped", "broke", "brokeemb", "tok", "conc", "free")
KEYS = {name: f"sk-{name}-{i}" for i, name in enumerate(TENANTS)}
MSG = [{"role": "user", "content": "hello"}]


def policy(slm: Upstream, llm: Upstream, **server: Any) -> str:
    p: dict[str, Any] = json.loads(two_tier_policy(slm.base_url, llm.base_url))
    p["models"]["embedder"]["price"] = {"input_per_mtok": 1_000_000.0}  # $1 per input token
    p["server"].update(server)
    routes = {"emb": ["small", "embedder"], "broke": ["gpt-4o"], "brokeemb": ["embedder"], "free": ["small", "embedder"]}
    limits: dict[str, dict[str, Any]] = {
        "slow": {"requests_per_minute": 2},
        "explain": {"requests_per_minute": 5},
        "emb": {"requests_per_minute": 5},
        "broke": {"usd_per_day": 0.0001},
        "brokeemb": {"usd_per_day": 0.0001},
        "tok": {"tokens_per_minute": 200},
        "conc": {"max_concurrent": 3},
    }
    p["tenants"] = {
        name: {
            "api_keys": [f"${{KEY_{name.upper()}}}"],
            "routes": routes.get(name, ["small", "auto"]),
            "limits": limits.get(name, {}),
        }
        for name in TENANTS
    }
    return json.dumps(p)


ENV = {f"KEY_{name.upper()}": key for name, key in KEYS.items()} | {"ROUTER_ADMIN_KEY": ADMIN}


@pytest.fixture(scope="module", params=["memory", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | None]:
    if request.param == "memory":
        yield None
        return
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def agw(slm: Upstream, llm: Upstream, store_url: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    args = ["--redis-url", store_url] if store_url else []
    gw = start_gateway(policy(slm, llm), Path(tmp_path_factory.mktemp("adm")), env=ENV, args=args)
    yield gw
    gw.stop()


def post(gw: Gateway, path: str, tenant: str | None, body: dict[str, Any], timeout: float = 30) -> httpx.Response:
    headers = {"authorization": f"Bearer {KEYS[tenant]}"} if tenant else {}
    return httpx.post(gw.url + path, json=body, headers=headers, timeout=timeout)


def usage(gw: Gateway, tenant: str) -> list[dict[str, Any]]:
    r = httpx.get(gw.url + "/router/usage", params={"tenant": tenant}, headers={"authorization": f"Bearer {ADMIN}"})
    return list(r.json()["data"])


async def burst(gw: Gateway, path: str, tenant: str, body: dict[str, Any], n: int) -> list[httpx.Response]:
    """n requests at once, each on its own connection."""
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=gw.url, timeout=60, limits=limits) as client:
        headers = {"authorization": f"Bearer {KEYS[tenant]}"}
        return list(await asyncio.gather(*(client.post(path, json=body, headers=headers) for _ in range(n))))


def test_a_limited_tenant_is_refused_before_any_classification(agw: Gateway) -> None:
    """Item 2: the 429 of a tenant over its limit does not wait for the prompt to be judged, whatever the
    prompt (4 MiB of backticks took hours to classify before admission came first)."""
    for _ in range(2):
        assert post(agw, "/v1/chat/completions", "slow", {"model": "small", "messages": MSG}).status_code == 200
    huge = {"model": "auto", "messages": [{"role": "user", "content": "`" * (4 * 1024 * 1024 - 200)}]}
    started = time.monotonic()
    refused = post(agw, "/v1/chat/completions", "slow", huge, timeout=20)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert time.monotonic() - started < 10  # generous: the refusal needs no classification
    assert post(agw, "/router/explain", "slow", {"model": "auto", "messages": MSG}).status_code == 429


def test_explain_is_authenticated_and_rate_limited(agw: Gateway) -> None:
    body = {"model": "small", "messages": MSG}
    assert post(agw, "/router/explain", None, body).status_code == 401
    codes = [post(agw, "/router/explain", "explain", body).status_code for _ in range(7)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429, 429]  # 5/min, as for chat


def test_embeddings_are_admitted_like_chat(agw: Gateway, slm: Upstream) -> None:
    """Item 3: scope (a tenant whose routes are [small, auto] cannot name an embedding model, not even by
    its upstream id), requests/min and the budget, as for chat."""
    before = len(slm.received())
    for name in ("embedder", "text-embedding-3-small"):
        scoped = post(agw, "/v1/embeddings", "scoped", {"model": name, "input": "x"})
        assert scoped.status_code == 404 and scoped.json()["error"]["code"] == "model_not_found"
    assert post(agw, "/v1/embeddings", None, {"model": "embedder", "input": "x"}).status_code == 401
    assert len(slm.received()) == before  # nothing reached the upstream
    codes = [post(agw, "/v1/embeddings", "emb", {"model": "embedder", "input": "x"}).status_code for _ in range(7)]
    assert codes == [200] * 5 + [429] * 2
    # a budget of $0.0001 a day: the first request ($1) is admitted and spends it; then budget_exceeded
    assert post(agw, "/v1/embeddings", "brokeemb", {"model": "embedder", "input": "x"}).status_code == 200
    deadline = time.monotonic() + 5
    while True:  # the spend is settled just after the answer
        nxt = post(agw, "/v1/embeddings", "brokeemb", {"model": "embedder", "input": "x"})
        if nxt.status_code != 200 or time.monotonic() > deadline:
            break
    assert nxt.status_code == 429 and nxt.json()["error"]["code"] == "budget_exceeded"
    rows = [r for r in usage(agw, "brokeemb") if r["model"] == "embedder"]
    assert sum(r["requests"] for r in rows) <= 2
    assert all(post(agw, "/v1/embeddings", "free", {"model": "embedder", "input": "y"}).status_code == 200 for _ in range(3))


def test_n_and_max_tokens_are_validated(agw: Gateway, slm: Upstream) -> None:
    """Item 8: absurd values are refused, never passed upstream."""
    before = len(slm.received())
    for field, value in (("n", 10**9), ("n", 0), ("max_tokens", 2**63 - 1), ("max_completion_tokens", 2**40)):
        r = post(agw, "/v1/chat/completions", "free", {"model": "small", "messages": MSG, field: value})
        assert r.status_code == 400 and r.json()["error"]["param"] == field, (field, r.text)
    assert len(slm.received()) == before


def test_budget_is_not_overspent_under_200_concurrent_requests(agw: Gateway, llm: Upstream) -> None:
    """Item 8: $0.0001 a day, 200 requests at once to a priced model: spend stays within the budget plus
    one request's maximum (each reserves its most: max_tokens 10 on gpt-4o, about $0.000125)."""
    body = {"model": "gpt-4o", "messages": MSG, "max_tokens": 10}
    codes = [r.status_code for r in asyncio.run(burst(agw, "/v1/chat/completions", "broke", body, 200))]
    assert set(codes) <= {200, 429}
    admitted = codes.count(200)
    time.sleep(0.3)
    spent = sum(r["cost_usd"] for r in usage(agw, "broke") if r["model"] == "hosted-llm")
    one_max = (12 * 2.5 + 10 * 10.0) / 1e6
    print(f"admitted {admitted} of 200; spent ${spent:.6f} against $0.0001")
    assert 1 <= admitted <= 2
    assert spent <= 0.0001 + one_max


def test_tokens_per_minute_count_n_and_max_tokens_under_concurrency(agw: Gateway) -> None:
    """Item 8: 100 requests at once, each allowing 5 choices of 10 tokens, against 200 tokens/min: each
    reserves its prompt plus 50 tokens, so at most 4 are admitted before any settles, and the tokens the
    admitted ones really used stay within the limit."""
    body = {"model": "small", "messages": MSG, "max_tokens": 10, "n": 5}
    codes = [r.status_code for r in asyncio.run(burst(agw, "/v1/chat/completions", "tok", body, 100))]
    assert set(codes) <= {200, 429} and 200 in codes and 429 in codes
    time.sleep(0.3)
    rows = usage(agw, "tok")
    used = sum(r["prompt_tokens"] + r["completion_tokens"] for r in rows)
    assert sum(r["requests"] for r in rows) == codes.count(200)
    print(f"admitted {codes.count(200)} of 100 using {used} tokens against 200/min")
    assert used <= 200
    assert codes.count(200) <= 200 // 50 + 4  # a settled request frees what it did not use: a few more fit


def test_max_concurrent(agw: Gateway, slm: Upstream) -> None:
    """Item 5: max_concurrent 3: of 8 slow requests at once, 3 are served and 5 refused with 429; once
    they finish, the slots are free again."""
    slm.control(mode="ok", delay_ms=3000)
    try:
        rs = asyncio.run(burst(agw, "/v1/chat/completions", "conc", {"model": "small", "messages": MSG}, 8))
    finally:
        slm.control(mode="ok")
    codes = sorted(r.status_code for r in rs)
    assert codes == [200] * 3 + [429] * 5, codes
    refused = next(r for r in rs if r.status_code == 429)
    assert refused.json()["error"]["code"] == "concurrency_limit_exceeded" and int(refused.headers["retry-after"]) >= 1
    time.sleep(0.2)
    again = asyncio.run(burst(agw, "/v1/chat/completions", "conc", {"model": "small", "messages": MSG}, 3))
    assert [r.status_code for r in again] == [200, 200, 200]
