"""Editing the policy file while the gateway runs: the next requests follow the edit (with the shipped
default poll interval, within about a second, as the README promises), bad edits are refused."""

from __future__ import annotations

import json
import statistics
import threading
import time
from pathlib import Path

import httpx
import openai

from tests.support.procs import Gateway, Upstream, start_gateway, start_upstream

MSG = [{"role": "user", "content": "hello"}]


def ask(gw: Gateway, model: str = "small") -> httpx.Response:
    return httpx.post(gw.base_url + "/chat/completions", json={"model": model, "messages": MSG}, timeout=30)


def edit_and_wait_for_effect(gw: Gateway, text: str, check: object, limit: float = 5.0) -> float:
    """Rewrite the file, then poll with real requests until `check(response)` holds; return the delay."""
    tmp = gw.policy.with_suffix(".edit")
    tmp.write_text(text)
    start = time.monotonic()
    tmp.replace(gw.policy)
    while time.monotonic() - start < limit:
        if check(ask(gw)):  # type: ignore[operator]
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"edit not in effect after {limit} s")


def test_swap_endpoint_and_upstream_model_without_restart(gateway: Gateway, policy_text: str, slm: Upstream) -> None:
    other = start_upstream("slm-v2")
    try:
        policy = json.loads(policy_text)
        policy["models"]["local-slm"]["endpoint"].update(base_url=other.base_url, model="phi-4-mini")
        delay = edit_and_wait_for_effect(
            gateway, json.dumps(policy), lambda r: r.json()["choices"][0]["message"]["content"].startswith("[slm-v2]")
        )
        assert delay < 5.0  # generous: this gateway polls every 0.2 s; the default is tested below
        assert other.received()[-1]["body"]["model"] == "phi-4-mini"
        # the client did not change anything and the catalog name stays
        assert ask(gateway).headers["x-router-model"] == "local-slm"
    finally:
        gateway.rewrite_policy(policy_text)
        other.stop()


def test_add_a_model_and_change_a_threshold(gateway: Gateway, policy_text: str) -> None:
    policy = json.loads(policy_text)
    policy["models"]["extra-llm"] = dict(policy["models"]["hosted-llm"])
    policy["routes"]["extra"] = {"strategy": "fixed", "models": ["extra-llm"]}
    policy["routes"]["auto"]["threshold"] = 0.0  # everything to the LLM tier
    try:
        status = gateway.rewrite_policy(json.dumps(policy))
        assert status["last_reload_error"] is None
        assert ask(gateway, "extra").headers["x-router-model"] == "extra-llm"
        r = ask(gateway, "auto")
        assert (r.headers["x-router-tier"], r.headers["x-router-reason"]) == ("llm", "threshold")
        ids = {m["id"] for m in httpx.get(gateway.base_url + "/models").json()["data"]}
        assert {"extra", "extra-llm"} <= ids
    finally:
        gateway.rewrite_policy(policy_text)


def test_invalid_edit_is_refused_and_reported(gateway: Gateway, policy_text: str) -> None:
    good_version = gateway.policy_version()
    policy = json.loads(policy_text)
    policy["routes"]["auto"]["tiers"]["slm"] = ["no-such-model"]
    try:
        status = gateway.rewrite_policy(json.dumps(policy, indent=2))
        assert status["version"] == good_version
        error = status["last_reload_error"]["message"]
        assert "policy.yaml:" in error and "unknown model 'no-such-model'" in error
        assert ask(gateway, "auto").status_code == 200  # still serving the last good policy
        assert "policy reload refused" in gateway.logs()
        status = gateway.rewrite_policy("version: 1\nmodels: [oops\n")
        assert "YAML syntax" in status["last_reload_error"]["message"]
    finally:
        status = gateway.rewrite_policy(policy_text)
    assert status["last_reload_error"] is None


def test_in_flight_stream_survives_a_reload(gateway: Gateway, policy_text: str, slm: Upstream) -> None:
    slm.control(mode="ok", interval_ms=150, reply="a b c d e f g h")
    client = openai.OpenAI(base_url=gateway.base_url, api_key="x", max_retries=0)
    pieces: list[str] = []
    started = threading.Event()

    def consume() -> None:
        for chunk in client.chat.completions.create(model="small", messages=MSG, stream=True):
            if chunk.choices:
                pieces.append(chunk.choices[0].delta.content or "")
                started.set()

    reader = threading.Thread(target=consume)
    reader.start()
    assert started.wait(10)
    policy = json.loads(policy_text)
    policy["models"]["local-slm"]["endpoint"]["base_url"] = "http://127.0.0.1:9/v1"  # nothing listens there
    try:
        assert gateway.rewrite_policy(json.dumps(policy))["last_reload_error"] is None
        reader.join(10)
        assert "".join(pieces) == "a b c d e f g h"
        assert ask(gateway).status_code == 502  # new requests follow the new (dead) endpoint
    finally:
        gateway.rewrite_policy(policy_text)


def test_policy_endpoint_reports_source(gateway: Gateway) -> None:
    info = httpx.get(gateway.url + "/router/policy").json()
    assert Path(info["source"]) == gateway.policy
    assert len(info["version"]) == 12
    assert info["models"]["local-slm"]["tier"] == "slm"


def test_the_shipped_poll_interval_serves_edits_within_about_a_second(policy_text: str, tmp_path: Path) -> None:
    """No test override of `server.reload_interval_s`: the shipped default is what a user gets. Five edits
    flip route `small` between the two models; each is written right after the previous one was seen
    served, so each waits a whole poll interval. Every edit serves within 3 s (generous for a loaded
    machine); the typical one (the median) within 1.25 s, which a poll slower than the README's "within a
    second" cannot meet however idle the machine is."""
    policy = json.loads(policy_text)
    del policy["server"]["reload_interval_s"]
    gw = start_gateway(json.dumps(policy), tmp_path)
    delays = []
    try:
        for i in range(5):
            model = "hosted-llm" if i % 2 == 0 else "local-slm"
            policy["routes"]["small"]["models"] = [model]
            delays.append(
                edit_and_wait_for_effect(gw, json.dumps(policy), lambda r, m=model: r.headers["x-router-model"] == m, 3.0)
            )
    finally:
        gw.stop()
    print(f"edit-to-serve delays with the default poll interval: {[round(d, 2) for d in delays]}")
    assert statistics.median(delays) < 1.25, delays
