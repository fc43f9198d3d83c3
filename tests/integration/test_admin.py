"""Health, readiness and explain over HTTP."""

from __future__ import annotations

import httpx

from tests.support.procs import Gateway


def test_health_and_readiness(gateway: Gateway) -> None:
    assert httpx.get(gateway.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(gateway.url + "/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True


def test_explain_calls_no_model(gateway: Gateway, slm: object, llm: object) -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(gateway.url + "/router/explain", json=body, headers={"x-router-tier": "llm"})
    assert r.status_code == 200
    out = r.json()
    assert out["decision"]["tier"] == "llm" and out["decision"]["reason"] == "tier_hint"
    assert out["decision"]["candidates"][0] == "hosted-llm"
    assert 0 <= out["classification"]["p_strong"] <= 1
    assert slm.received() == [] and llm.received() == []  # type: ignore[attr-defined]
    bad = httpx.post(gateway.url + "/router/explain", json={"model": "nope", "messages": body["messages"]})
    assert bad.status_code == 404 and bad.json()["error"]["code"] == "model_not_found"
