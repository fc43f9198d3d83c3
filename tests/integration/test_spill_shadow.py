"""Spill on overload and shadow policies over HTTP.

Spill: a local model over its `max_in_flight`, or whose server reports a queue (vLLM /metrics, llama.cpp
/slots, polled in the background), is moved behind the next candidate with reason `overload`; metrics
count spills per model. Shadow: a candidate policy decides every request too (no model call) and
`router shadow report` reads the differences from the running gateway."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.experts import CHAT_PROMPT, CODE_PROMPT, MATH_PROMPT, Fleet, dumps, experts_policy, fleet
from tests.support.procs import Gateway, run_router, start_gateway


@pytest.fixture(scope="module")
def ups() -> Iterator[Fleet]:
    with fleet() as f:
        yield f


@pytest.fixture(autouse=True)
def _clean(ups: Fleet) -> None:
    ups.reset()


def chat(gw: Gateway, content: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"model": "auto", "messages": [{"role": "user", "content": content}]}
    return httpx.post(gw.base_url + "/chat/completions", json=body, headers=headers or {}, timeout=30)


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_spill_when_over_max_in_flight(ups: Fleet, tmp_path: Path) -> None:
    policy = experts_policy(ups)
    policy["models"]["local-phi3"]["max_in_flight"] = 1
    gw = start_gateway(dumps(policy), tmp_path)
    try:
        ups.general.control(delay_ms=2000)
        first: list[httpx.Response] = []
        busy = threading.Thread(target=lambda: first.append(chat(gw, CHAT_PROMPT)))
        busy.start()
        assert wait_for(lambda: len(ups.general.received()) == 1)
        r = chat(gw, CHAT_PROMPT)  # the SLM has one request in flight: this one spills
        assert r.status_code == 200, r.text
        assert (r.headers["x-router-model"], r.headers["x-router-reason"]) == ("hosted-llm", "overload")
        busy.join(30)
        assert first[0].headers["x-router-model"] == "local-phi3"
        r = chat(gw, CHAT_PROMPT)  # room again
        assert (r.headers["x-router-model"], r.headers["x-router-reason"]) == ("local-phi3", "threshold")
        metrics = httpx.get(gw.url + "/metrics").text
        assert 'router_spills_total{model="local-phi3",route="auto"} 1.0' in metrics
    finally:
        gw.stop()


@pytest.mark.parametrize(("probe", "model", "prompt", "upstream"), [
    ("vllm", "local-math", MATH_PROMPT, "maths"),
    ("llamacpp", "local-coder", CODE_PROMPT, "coder"),
])  # fmt: skip
def test_spill_when_the_servers_queue_is_full(
    ups: Fleet, tmp_path: Path, probe: str, model: str, prompt: str, upstream: str
) -> None:
    policy = experts_policy(ups)
    policy["models"][model]["load_probe"] = probe
    gw = start_gateway(dumps(policy), tmp_path)
    up = getattr(ups, upstream)
    try:
        assert chat(gw, prompt).headers["x-router-model"] == model
        # other clients of the same server keep both of its slots busy and one request waiting
        up.control(delay_ms=4000, slots=2)
        body = {"model": "x", "messages": [{"role": "user", "content": "busy"}]}
        others = [threading.Thread(target=httpx.post, args=(up.base_url + "/chat/completions",), kwargs={"json": body, "timeout": 30})
                  for _ in range(3)]  # fmt: skip
        for t in others:
            t.start()
        explain = {"model": "auto", "messages": [{"role": "user", "content": prompt}]}

        def spilled() -> bool:
            return bool(httpx.post(gw.url + "/router/explain", json=explain).json()["decision"]["spilled"] == [model])

        assert wait_for(spilled, 3.5)  # the background probe noticed (it polls every second)
        r = chat(gw, prompt)
        assert (r.headers["x-router-model"], r.headers["x-router-reason"]) == ("local-phi3", "overload")
        for t in others:
            t.join(30)
        assert wait_for(lambda: not spilled(), 5)  # the queue drained: the expert is used again
    finally:
        gw.stop()


def test_shadow_policy_counts_what_would_change(ups: Fleet, tmp_path: Path) -> None:
    candidate = experts_policy(ups)
    candidate["routes"]["auto"]["threshold"] = 0.0  # the edit under review: everything to the LLM
    (tmp_path / "candidate.yaml").write_text(dumps(candidate))
    gw = start_gateway(dumps(experts_policy(ups)), tmp_path / "gw", args=["--shadow-policy", str(tmp_path / "candidate.yaml")])
    try:
        for prompt in (CHAT_PROMPT, CHAT_PROMPT, CODE_PROMPT):
            assert chat(gw, prompt).headers["x-router-tier"] == "slm"  # the live policy serves
        assert ups.llm.received() == []  # the candidate calls no model
        out = run_router("shadow", "report", "--url", gw.url, "--json")
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout)
        auto = report["routes"]["auto"]
        assert (auto["requests"], auto["changed"]) == (3, 3)
        assert auto["moves"] == {"local-phi3->hosted-llm": 2, "local-coder->hosted-llm": 1}
        assert auto["reasons"] == {"threshold->threshold": 2, "expert->threshold": 1}
        assert auto["cost_change_usd"] > 0 and auto["live_cost_usd"] == 0
        text = run_router("shadow", "report", "--url", gw.url)
        assert "route auto: 3 requests, 3 decided differently" in text.stdout
        metrics = httpx.get(gw.url + "/metrics").text
        assert (
            'router_shadow_decisions_total{candidate_reason="threshold",changed="true",live_reason="expert",route="auto"} 1.0'
            in metrics
        )
        assert 'router_shadow_cost_usd_total{policy="candidate",route="auto"}' in metrics
    finally:
        gw.stop()


def test_shadow_from_the_policy_file(ups: Fleet, tmp_path: Path) -> None:
    (tmp_path / "gw").mkdir()
    (tmp_path / "gw" / "candidate.yaml").write_text(dumps(experts_policy(ups)))  # an identical candidate
    gw = start_gateway(dumps(experts_policy(ups, server={"shadow": "candidate.yaml"})), tmp_path / "gw")
    try:
        chat(gw, CHAT_PROMPT)
        report = httpx.get(gw.url + "/router/shadow").json()
        assert (report["requests"], report["changed"], report["cost_change_usd"]) == (1, 0, 0)
        assert report["candidate"]["source"].endswith("candidate.yaml")
    finally:
        gw.stop()
