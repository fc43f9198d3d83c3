"""What a failed request tells its caller and the access log: the x-router-* headers every answer carries,
the models dispatch tried and the fallback count; and a model that cannot be called for want of an API key
says so, instead of passing on a 401 from the hosted API. Real upstream processes, a real gateway."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from router.upstream.keys import MissingKey
from tests.support.procs import ROOT, Gateway, Upstream, start_gateway, two_tier_policy

MSG = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def egw(slm: Upstream, llm: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    policy: dict[str, Any] = json.loads(two_tier_policy(slm.base_url, llm.base_url))
    policy["routes"]["both"] = {"strategy": "fixed", "models": ["local-slm"], "fallback": ["hosted-llm"]}
    gw = start_gateway(json.dumps(policy), Path(tmp_path_factory.mktemp("errors")))
    yield gw
    gw.stop()


def access_line(gw: Gateway, request_id: str) -> dict[str, Any]:
    """The access-log line of one request (lines are written in batches: wait for it)."""
    deadline = time.monotonic() + 5
    while True:
        lines = [json.loads(x) for x in gw.logs().splitlines() if x.startswith('{"ts":')]
        mine = [x for x in lines if x["request_id"] == request_id]
        if mine or time.monotonic() > deadline:
            assert len(mine) == 1, mine
            return dict(mine[0])
        time.sleep(0.05)


def post(gw: Gateway, path: str, body: dict[str, Any], request_id: str) -> httpx.Response:
    return httpx.post(f"{gw.base_url}/{path}", json=body, headers={"x-request-id": request_id}, timeout=30)


def test_a_request_that_every_model_fails_says_what_was_decided_and_tried(egw: Gateway, slm: Upstream, llm: Upstream) -> None:
    slm.control(mode="status", status=500)
    llm.control(mode="status", status=503)
    r = post(egw, "chat/completions", {"model": "both", "messages": MSG}, "err-both-1")
    assert r.status_code == 502, r.text
    h = r.headers
    assert (h["x-request-id"], h["x-router-route"], h["x-router-model"], h["x-router-tier"]) == (
        "err-both-1",
        "both",
        "hosted-llm",  # the last model tried, whose failure the error reports
        "llm",
    )
    assert (h["x-router-fallbacks"], h["x-router-retries"]) == ("1", "0")
    assert h["x-router-reason"] and h["x-router-policy-version"] == egw.policy_version()
    assert h["x-should-retry"] == "false"  # what the error said before is kept
    line = access_line(egw, "err-both-1")
    assert (line["status"], line["route"], line["tried"], line["fallbacks"], line["retries"]) == (
        502,
        "both",
        ["local-slm", "hosted-llm"],
        1,
        0,
    )
    assert line["model"] is None  # no model answered


def test_a_streamed_request_that_fails_before_its_first_byte_has_the_headers_too(
    egw: Gateway, slm: Upstream, llm: Upstream
) -> None:
    slm.control(mode="status", status=500)
    llm.control(mode="status", status=500)
    body = {"model": "both", "messages": MSG, "stream": True}
    r = post(egw, "chat/completions", body, "err-both-stream")
    assert r.status_code == 502, r.text
    assert (r.headers["x-router-route"], r.headers["x-router-model"], r.headers["x-router-fallbacks"]) == (
        "both",
        "hosted-llm",
        "1",
    )
    line = access_line(egw, "err-both-stream")
    assert (line["stream"], line["tried"], line["fallbacks"]) == (True, ["local-slm", "hosted-llm"], 1)


def test_an_answer_after_a_fallback_logs_the_models_tried(egw: Gateway, slm: Upstream) -> None:
    slm.control(mode="status", status=500)
    r = post(egw, "chat/completions", {"model": "both", "messages": MSG}, "err-fallback-ok")
    assert r.status_code == 200, r.text
    assert (r.headers["x-router-model"], r.headers["x-router-fallbacks"]) == ("hosted-llm", "1")
    line = access_line(egw, "err-fallback-ok")
    assert (line["status"], line["model"], line["tried"], line["fallbacks"]) == (
        200,
        "hosted-llm",
        ["local-slm", "hosted-llm"],
        1,
    )


def test_an_upstream_refusal_of_the_request_keeps_its_status_and_has_the_headers(egw: Gateway, llm: Upstream) -> None:
    llm.control(mode="status", status=400, error={"message": "bad field", "type": "invalid_request_error", "param": "top_p"})
    r = post(egw, "chat/completions", {"model": "gpt-4o", "messages": MSG}, "err-400")
    assert r.status_code == 400 and r.json()["error"]["param"] == "top_p"
    assert (r.headers["x-router-route"], r.headers["x-router-model"], r.headers["x-router-fallbacks"]) == (
        "gpt-4o",
        "hosted-llm",
        "0",
    )
    line = access_line(egw, "err-400")
    assert (line["status"], line["tried"]) == (400, ["hosted-llm"])


def test_errors_before_a_decision_say_the_route_and_policy(egw: Gateway) -> None:
    r = post(egw, "chat/completions", {"model": "auto", "messages": MSG, "n": 129}, "err-early")
    assert r.status_code == 400, r.text
    assert (r.headers["x-request-id"], r.headers["x-router-route"]) == ("err-early", "auto")
    assert r.headers["x-router-policy-version"] == egw.policy_version()
    assert "x-router-model" not in r.headers  # nothing was tried
    line = access_line(egw, "err-early")
    assert (line["status"], line["tried"], line["fallbacks"]) == (400, [], 0)


def test_embeddings_errors_have_the_headers(egw: Gateway, slm: Upstream) -> None:
    slm.control(mode="status", status=500)
    r = post(egw, "embeddings", {"model": "embedder", "input": "hi"}, "err-embed")
    assert r.status_code == 502, r.text
    assert (r.headers["x-router-route"], r.headers["x-router-model"], r.headers["x-router-reason"]) == (
        "embedder",
        "embedder",
        "embeddings",
    )
    assert access_line(egw, "err-embed")["tried"] == ["embedder"]


@pytest.fixture(scope="module")
def default_gw(slm: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The packaged default policy with no OpenAI key set, its SLM pointed at a test server."""
    text = (ROOT / "router" / "policy" / "default.yaml").read_text()
    env = {"OPENAI_API_KEY": "", "SLM_BASE_URL": slm.base_url}
    gw = start_gateway(text, Path(tmp_path_factory.mktemp("default")), env=env)
    yield gw
    gw.stop()


def test_the_default_policy_without_a_key_says_which_key_is_missing(default_gw: Gateway, slm: Upstream) -> None:
    r = post(default_gw, "chat/completions", {"model": "gpt-4o", "messages": MSG}, "no-key-1")
    assert r.status_code == 503, r.text
    error = r.json()["error"]
    assert error["code"] == MissingKey.code == "upstream_key_missing"
    assert "hosted-gpt4o" in error["message"] and "OPENAI_API_KEY" in error["message"]
    assert "api.openai.com" in error["message"]
    assert r.headers["x-router-model"] == "hosted-gpt4o"
    slm.control(mode="status", status=500)  # the SLM down too: the summary names the missing key as well
    r = post(default_gw, "chat/completions", {"model": "auto", "messages": MSG}, "no-key-2")
    assert r.status_code == 502, r.text
    assert "local-phi3" in r.json()["error"]["message"] and "OPENAI_API_KEY" in r.json()["error"]["message"]
    r = post(default_gw, "embeddings", {"model": "embed", "input": "hi"}, "no-key-3")
    assert r.status_code == 503 and "OPENAI_API_KEY" in r.json()["error"]["message"], r.text


def test_a_missing_key_never_opens_the_breaker(default_gw: Gateway) -> None:
    for i in range(8):  # more than the default breaker's consecutive failures
        r = post(default_gw, "chat/completions", {"model": "gpt-4o", "messages": MSG}, f"no-key-b{i}")
        assert r.json()["error"]["code"] == "upstream_key_missing", r.text
    assert httpx.get(f"{default_gw.url}/readyz").json()["breakers"].get("hosted-gpt4o", "closed") == "closed"
