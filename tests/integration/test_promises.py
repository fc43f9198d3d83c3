"""The README's reliability promises, each pinned through HTTP so that breaking it fails a test:
the retry budget caps upstream calls, a `Retry-After` beyond `max_delay_s` moves on at once, the shipped
reload interval serves an edit quickly, a held cascade stream starts after `hold_ms` and not long after,
and a latency budget sends traffic to the model that meets it. Times are bounded generously from above;
what is asserted is behaviour (calls counted, headers, which model answered).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.procs import Gateway, Upstream, start_gateway, two_tier_policy

MSG = [{"role": "user", "content": "hi"}]


def base_policy(slm: Upstream, llm: Upstream) -> dict[str, Any]:
    policy: dict[str, Any] = json.loads(two_tier_policy(slm.base_url, llm.base_url))
    # breaker effectively off (two_tier_policy): what is measured here is the retry logic alone
    policy["server"]["retries"] = {"attempts": 2, "base_delay_s": 0.001, "max_delay_s": 1.0, "budget_ratio": 0.2}
    return policy


def chat(gw: Gateway, model: str, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
    body = {"model": model, "messages": MSG, **kw}
    return httpx.post(gw.base_url + "/chat/completions", json=body, headers=headers or {}, timeout=60)


@pytest.fixture(scope="module")
def pgw(slm: Upstream, llm: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    policy = base_policy(slm, llm)
    policy["routes"]["cascade"] = {
        "strategy": "cascade",
        "tiers": {"slm": ["local-slm"], "llm": ["hosted-llm"]},
        "cascade": {"min_mean_logprob": -1.0, "hold_chunks": 200, "hold_ms": 1000},
    }
    gw = start_gateway(json.dumps(policy), Path(tmp_path_factory.mktemp("promises")))
    yield gw
    gw.stop()


def test_retry_budget_caps_upstream_calls(slm: Upstream, llm: Upstream, tmp_path: Path) -> None:
    """`server.retries.budget_ratio`: with the only model failing every request and two retries allowed per
    request, the model sees at most requests x (1 + ratio) plus the few retries saved up at start (5)."""
    gw = start_gateway(json.dumps(base_policy(slm, llm)), tmp_path)  # a fresh process: a fresh budget
    try:
        slm.control(mode="status", status=503)
        n, ratio, saved = 40, 0.2, 5
        codes = [chat(gw, "small").status_code for _ in range(n)]
        calls = len(slm.received())
    finally:
        gw.stop()
    assert set(codes) == {502}  # the upstream's 503, passed on as a bad gateway
    assert n < calls, calls  # retries did happen: the budget is not zero
    assert calls <= n * (1 + ratio) + saved + 1, calls  # without the budget: 3 tries each = 120


def test_retry_after_beyond_max_delay_moves_on_at_once(pgw: Gateway, slm: Upstream, llm: Upstream) -> None:
    """A 429 with `Retry-After: 5` against `max_delay_s: 1` is not retried (capped or not): the next
    candidate answers, and the SLM was asked exactly once."""
    slm.control(mode="status", status=429, retry_after=5)
    started = time.monotonic()
    r = chat(pgw, "auto")
    elapsed = time.monotonic() - started
    assert r.status_code == 200, r.text
    assert (r.headers["x-router-model"], r.headers["x-router-retries"], r.headers["x-router-fallbacks"]) == (
        "hosted-llm",
        "0",
        "1",
    )
    assert len(slm.received()) == 1 and len(llm.received()) == 1
    assert elapsed < 4.5  # honouring the 5 s would take longer; generous for a loaded machine


def test_held_cascade_stream_starts_after_hold_ms_and_not_long_after(pgw: Gateway, slm: Upstream) -> None:
    """`cascade.hold_ms: 1000` with `hold_chunks: 200` and an SLM that sends a chunk every 250 ms (40 chunks,
    10 s): the window closes on time, so the first byte arrives after 1 s and well before the stream ends."""
    slm.control(mode="ok", interval_ms=250, logprob=-0.1, reply=" ".join(f"w{i}" for i in range(40)))
    body = {"model": "cascade", "messages": MSG, "stream": True}
    started = time.monotonic()
    first: float | None = None
    lines: list[str] = []
    with httpx.stream("POST", pgw.base_url + "/chat/completions", json=body, timeout=60) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data: "):
                first = first if first is not None else time.monotonic() - started
                lines.append(line)
    total = time.monotonic() - started
    assert r.headers["x-router-escalated"] == "false"
    assert first is not None and first >= 1.0, first  # held for hold_ms
    assert first < 5.0, first  # not until hold_chunks or the end (10 s) came
    text = "".join(
        (json.loads(x[6:])["choices"] or [{}])[0].get("delta", {}).get("content") or "" for x in lines if x != "data: [DONE]"
    )
    assert text == " ".join(f"w{i}" for i in range(40)) and lines[-1] == "data: [DONE]"  # nothing held back is lost
    assert total >= 9.0  # the stream really was 10 s long, so the first byte did not wait for its end


def test_latency_budget_routes_to_the_model_that_meets_it(pgw: Gateway, slm: Upstream, llm: Upstream) -> None:
    """Two upstreams with different real latencies: the SLM takes 2 s to its first token, the LLM answers at
    once. After the gateway has seen both, `x-router-latency-budget-ms: 1000` sends a request the classifier
    gives the SLM to the LLM instead (reason latency); without the header, or with a budget both meet, the
    SLM answers."""
    slm.control(mode="ok", delay_ms=2000)

    def stream(model: str, headers: dict[str, str] | None = None) -> httpx.Headers:
        body = {"model": model, "messages": MSG, "stream": True}
        with httpx.stream("POST", pgw.base_url + "/chat/completions", json=body, headers=headers or {}, timeout=60) as r:
            assert r.status_code == 200
            list(r.iter_lines())
        return r.headers

    for _ in range(2):  # live estimates of both models, from real traffic
        stream("small")
        stream("gpt-4o")
    httpx.get(pgw.url + "/metrics")  # a scrape flushes the reporting batch that feeds the estimates

    within = stream("auto", {"x-router-latency-budget-ms": "1000"})
    assert (within["x-router-model"], within["x-router-reason"]) == ("hosted-llm", "latency")
    assert stream("auto")["x-router-model"] == "local-slm"
    assert stream("auto", {"x-router-latency-budget-ms": "60000"})["x-router-model"] == "local-slm"
    explained = httpx.post(
        pgw.url + "/router/explain",
        json={"model": "auto", "messages": MSG, "stream": True},
        headers={"x-router-latency-budget-ms": "1000"},
    ).json()["decision"]
    assert (explained["model"], explained["reason"]) == ("hosted-llm", "latency")
    estimates = explained["estimates"]  # the live figures the decision used: the SLM's 2 s, the LLM's quick start
    assert estimates["local-slm"]["latency_ms"] > 1000 >= estimates["hosted-llm"]["latency_ms"]


def test_a_gateway_with_the_log_off_or_on_a_full_disk_serves_every_request(slm: Upstream, llm: Upstream, tmp_path: Path) -> None:
    """Through `router serve --access-log`: off writes no line; /dev/full (every write fails) loses the
    lines, says so in the log, and fails no request."""
    policy = two_tier_policy(slm.base_url, llm.base_url)
    for where, sub in (("off", "off"), ("/dev/full", "full")):
        gw = start_gateway(policy, tmp_path / sub, args=["--access-log", where])
        try:
            codes = [chat(gw, "small").status_code for _ in range(3)]
            httpx.get(gw.url + "/metrics", timeout=30)  # a scrape flushes the batch, and with it the log
        finally:
            gw.stop()
        assert codes == [200, 200, 200], where
        assert '"request_id"' not in gw.logs(), where
        assert ("access log: could not write" in gw.logs()) == (where == "/dev/full"), gw.logs()
