"""Tenants through HTTP, on the in-memory store and on a real Redis: keys, scope, rate limits, budgets,
the usage ledger, and LoRA adapters isolated per tenant."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support.procs import Gateway, Upstream, start_gateway, two_tier_policy
from tests.support.redis_server import REDIS_SERVER, RedisServer

ACME, GLOBEX, FRUGAL, THRIFTY, ADMIN = "sk-acme-1", "sk-globex-2", "sk-frugal-3", "sk-thrifty-4", "sk-admin-9"
MSG = [{"role": "user", "content": "hello"}]


def tenant_policy(slm: Upstream, llm: Upstream) -> str:
    policy: dict[str, Any] = json.loads(two_tier_policy(slm.base_url, llm.base_url))
    policy["tenants"] = {
        "acme": {
            "api_keys": ["${ACME_KEY}"],
            "routes": ["auto", "small"],
            "limits": {"requests_per_minute": 8},
            "adapters": {"acme-support": {"base": "local-slm", "adapter": "acme-support-v3", "path": "/loras/acme-support-v3"}},
            "overrides": {"auto": {"threshold": 0.0}},
        },
        "globex": {
            "api_keys": ["sha256:" + hashlib.sha256(GLOBEX.encode()).hexdigest()],
            "routes": ["auto", "gpt-4o", "small"],
            "adapters": {"globex-bot": {"base": "local-slm", "adapter": "globex-bot-v1"}},
        },
        "frugal": {"api_keys": ["${FRUGAL_KEY}"], "routes": ["gpt-4o"], "limits": {"usd_per_day": 0.00001}},
        "thrifty": {
            "api_keys": ["${THRIFTY_KEY}"],
            "routes": ["auto", "gpt-4o"],
            "limits": {"usd_per_day": 0.00001, "on_budget_exhausted": "downgrade"},
        },
    }
    return json.dumps(policy)


ENV = {"ACME_KEY": ACME, "FRUGAL_KEY": FRUGAL, "THRIFTY_KEY": THRIFTY, "ROUTER_ADMIN_KEY": ADMIN}


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
def tgw(slm: Upstream, llm: Upstream, store_url: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    args = ["--redis-url", store_url] if store_url else []
    gw = start_gateway(tenant_policy(slm, llm), Path(tmp_path_factory.mktemp("tenancy")), env=ENV, args=args)
    yield gw
    gw.stop()


def chat(gw: Gateway, key: str | None, model: str = "auto", **kw: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.post(
        gw.base_url + "/chat/completions", json={"model": model, "messages": MSG, **kw}, headers=headers, timeout=30
    )


def test_keys(tgw: Gateway) -> None:
    assert chat(tgw, None).status_code == 401
    wrong = chat(tgw, "sk-nope")
    assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "authentication_error"
    assert chat(tgw, GLOBEX).status_code == 200  # given as a sha256 digest in the policy
    assert ACME not in tgw.logs() and GLOBEX not in tgw.logs()


def test_scope_and_overrides(tgw: Gateway) -> None:
    denied = chat(tgw, ACME, "gpt-4o")
    assert denied.status_code == 404 and denied.json()["error"]["code"] == "model_not_found"
    ok = chat(tgw, ACME, "auto")
    assert (ok.headers["x-router-tier"], ok.headers["x-router-reason"]) == ("llm", "threshold")  # acme's threshold 0.0
    ids = {m.id for m in openai.OpenAI(base_url=tgw.base_url, api_key=ACME).models.list()}
    assert ids == {"auto", "small", "acme-support", "embedder"}  # embedding models are listed too (issue 14)


def test_adapters_are_isolated(tgw: Gateway, slm: Upstream) -> None:
    ok = chat(tgw, GLOBEX, "globex-bot")
    assert ok.status_code == 200 and ok.headers["x-router-model"] == "local-slm"
    assert slm.received()[-1]["body"]["model"] == "globex-bot-v1"
    before = len(slm.received())
    for key, other in ((ACME, "globex-bot"), (GLOBEX, "acme-support")):
        r = chat(tgw, key, other)
        missing = chat(tgw, key, "no-such-adapter")
        assert r.status_code == missing.status_code == 404
        assert r.json()["error"]["message"].replace(other, "X") == missing.json()["error"]["message"].replace(
            "no-such-adapter", "X"
        )
    assert len(slm.received()) == before  # no cross-tenant request reached an upstream


def test_adapter_loaded_at_run_time_when_missing(tgw: Gateway, slm: Upstream) -> None:
    slm.control(lora_strict=["phi-3-mini"])
    r = chat(tgw, ACME, "acme-support")
    assert r.status_code == 200, r.text
    paths = [(x["path"], x["body"].get("model") or x["body"].get("lora_name")) for x in slm.received()]
    assert paths == [
        ("/v1/chat/completions", "acme-support-v3"),
        ("/v1/load_lora_adapter", "acme-support-v3"),
        ("/v1/chat/completions", "acme-support-v3"),
    ]
    assert slm.received()[1]["body"]["lora_path"] == "/loras/acme-support-v3"


def test_adapters_registered_at_run_time(tgw: Gateway, slm: Upstream) -> None:
    admin = {"authorization": f"Bearer {ADMIN}"}
    url = tgw.url + "/router/adapters/globex/globex-new"
    assert httpx.put(url, json={"base": "local-slm", "adapter": "globex-new-v2"}).status_code == 401
    r = httpx.put(url, json={"base": "local-slm", "adapter": "globex-new-v2"}, headers=admin)
    assert r.status_code == 200, r.text
    assert chat(tgw, GLOBEX, "globex-new").status_code == 200
    assert slm.received()[-1]["body"]["model"] == "globex-new-v2"
    assert chat(tgw, ACME, "globex-new").status_code == 404
    ids = {m.id for m in openai.OpenAI(base_url=tgw.base_url, api_key=GLOBEX).models.list()}
    assert {"globex-bot", "globex-new"} <= ids and "acme-support" not in ids
    assert httpx.delete(url, headers=admin).status_code == 200
    assert chat(tgw, GLOBEX, "globex-new").status_code == 404


def test_rate_limit_429_with_headers(tgw: Gateway) -> None:
    time.sleep(0.1)
    codes = []
    last = None
    for _ in range(12):
        last = chat(tgw, ACME, "small")
        codes.append(last.status_code)
    assert codes.count(200) <= 8 and 429 in codes
    assert last is not None and last.status_code == 429
    assert int(last.headers["retry-after"]) >= 1
    assert last.headers["x-ratelimit-limit-requests"] == "8"
    assert last.headers["x-ratelimit-remaining-requests"] == "0"
    assert last.json()["error"]["code"] == "rate_limit_exceeded"
    assert chat(tgw, GLOBEX, "small").status_code == 200  # other tenants are not affected


def test_budget_refuse_and_downgrade(tgw: Gateway) -> None:
    assert chat(tgw, FRUGAL, "gpt-4o").status_code == 200  # spends more than its tiny daily budget
    time.sleep(0.3)  # the ledger writes in the background
    refused = chat(tgw, FRUGAL, "gpt-4o")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exceeded"
    # before it runs out, the remaining budget caps what routing may spend: the LLM is too dear
    capped = httpx.post(
        tgw.base_url + "/chat/completions",
        json={"model": "auto", "messages": MSG},
        headers={"authorization": f"Bearer {THRIFTY}", "x-router-tier": "llm"},
    )
    assert (capped.headers["x-router-reason"], capped.headers["x-router-tier"]) == ("cost", "slm")
    assert chat(tgw, THRIFTY, "gpt-4o").status_code == 200  # a pinned route spends the budget
    time.sleep(0.3)
    downgraded = chat(tgw, THRIFTY, "auto")
    assert (downgraded.status_code, downgraded.headers["x-router-reason"], downgraded.headers["x-router-tier"]) == (
        200,
        "budget",
        "slm",
    )


def test_usage_ledger(tgw: Gateway) -> None:
    chat(tgw, GLOBEX, "gpt-4o")
    chat(tgw, GLOBEX, "small")
    time.sleep(0.3)
    assert httpx.get(tgw.url + "/router/usage").status_code == 401
    rows = httpx.get(tgw.url + "/router/usage", params={"tenant": "globex"}, headers={"authorization": f"Bearer {ADMIN}"}).json()[
        "data"
    ]
    by_model = {r["model"]: r for r in rows}
    assert by_model["hosted-llm"]["requests"] >= 1 and by_model["hosted-llm"]["cost_usd"] > 0
    slm_row = by_model["local-slm"]
    assert slm_row["cost_usd"] == 0 and slm_row["saved_usd"] > 0  # the same tokens on the LLM tier would have cost
    assert slm_row["completion_tokens"] > 0 and slm_row["prompt_tokens"] > 0


def test_router_usage_cli(tgw: Gateway) -> None:
    import subprocess
    import sys

    from tests.support.procs import ROOT, child_env

    chat(tgw, GLOBEX, "small")
    time.sleep(0.2)
    out = subprocess.run(
        [sys.executable, "-m", "router", "usage", "--url", tgw.url, "--tenant", "globex"],
        capture_output=True, text=True, cwd=ROOT, env=child_env({"ROUTER_ADMIN_KEY": ADMIN}), timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:4] == ["day", "tenant", "model", "tier"]
    assert any(line.split()[1:3] == ["globex", "local-slm"] for line in lines[1:])
    assert "saved" in lines[-1]


def test_isolation_over_a_sample_of_tenant_pairs(slm: Upstream, llm: Upstream, tmp_path: Path) -> None:
    """40 tenants with an adapter each: for 60 sampled pairs, naming the other's adapter is a 404 that
    never reaches an upstream, and each tenant's own adapter works."""
    import random

    policy: dict[str, Any] = json.loads(two_tier_policy(slm.base_url, llm.base_url))
    n = 40
    policy["tenants"] = {
        f"t{i}": {
            "api_keys": [f"sha256:{hashlib.sha256(f'key-{i}'.encode()).hexdigest()}"],
            "adapters": {f"ad-{i}": {"base": "local-slm", "adapter": f"mod-{i}"}},
        }
        for i in range(n)
    }
    gw = start_gateway(json.dumps(policy), tmp_path)
    try:
        rng = random.Random(7)
        pairs = [tuple(rng.sample(range(n), 2)) for _ in range(60)]
        with httpx.Client(base_url=gw.base_url, timeout=30) as c:
            for me, other in pairs:
                auth = {"authorization": f"Bearer key-{me}"}
                theirs = c.post("/chat/completions", json={"model": f"ad-{other}", "messages": MSG}, headers=auth)
                assert theirs.status_code == 404 and theirs.json()["error"]["code"] == "model_not_found"
            assert slm.received() == []  # not one cross-tenant request went upstream
            for me in sorted({p[0] for p in pairs})[:10]:
                mine = c.post(
                    "/chat/completions",
                    json={"model": f"ad-{me}", "messages": MSG},
                    headers={"authorization": f"Bearer key-{me}"},
                )
                assert mine.status_code == 200
                assert slm.received()[-1]["body"]["model"] == f"mod-{me}"
    finally:
        gw.stop()
