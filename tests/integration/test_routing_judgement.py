"""The learned judgement as a user sees it over HTTP and the CLI: language, task kind and every signal in
explain; conversations judged by their task, not by harness text; hostile inputs judged in bounded time;
a policy naming its weights file, applied on edit without a restart."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from router.classify import signals
from router.learn.train import Model, write_weights
from tests.support.procs import Gateway, Upstream, run_router, start_gateway, two_tier_policy

HARD = "Implement a lock-free concurrent queue in C++ and prove that it is linearizable."


@pytest.fixture(scope="module")
def learned_policy(slm: Upstream, llm: Upstream) -> dict[str, Any]:
    policy: dict[str, Any] = json.loads(two_tier_policy(slm.base_url, llm.base_url))
    policy["server"]["scorer"] = "learned"
    return policy


@pytest.fixture(scope="module")
def gw(learned_policy: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = start_gateway(json.dumps(learned_policy), tmp_path_factory.mktemp("judge"))
    yield gateway
    gateway.stop()


def explain(gw: Gateway, messages: list[dict[str, Any]]) -> dict[str, Any]:
    r = httpx.post(gw.url + "/router/explain", json={"model": "auto", "messages": messages}, timeout=30)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()["classification"]
    return result


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def test_explain_shows_language_task_kind_and_every_signal(gw: Gateway) -> None:
    c = explain(gw, user("小明有5个苹果，又买了3个，他一共有多少个苹果？"))
    assert (c["language"], c["task_kind"]) == ("zh", "math")
    assert set(c["signals"]) == set(signals.SIGNAL_NAMES)
    assert set(c["contributions"]) == {*signals.SIGNAL_NAMES, "task_kind", "content"}
    assert c["contributions"]["task_kind"] > 0 and c["contributions"]["content"] == 0.0  # no English to correct on
    cli = json.loads(run_router("explain", "Write a Python function that merges overlapping intervals.").stdout)
    assert cli["classification"]["task_kind"] == "code" and cli["classification"]["language"] == "en"
    assert cli["classification"]["contributions"]["task_kind"] > 0


def test_maths_and_code_rank_above_writing_and_small_talk_in_any_language(gw: Gateway) -> None:
    hard = ["Löse die Gleichung 3x + 7 = 22 und erkläre jeden Schritt.", "用Java实现二分查找，并解释它的时间复杂度。", HARD]
    easy = ["Schreibe ein kurzes Gedicht über das Meer.", "你好！你今天好吗？", "Pretend you are a pirate and greet me."]
    assert min(explain(gw, user(t))["p_strong"] for t in hard) > max(explain(gw, user(t))["p_strong"] for t in easy)


def test_a_bare_go_on_is_judged_by_the_request_it_continues(gw: Gateway) -> None:
    alone = explain(gw, user("yes, go on"))
    convo = explain(
        gw,
        [
            {"role": "user", "content": HARD},
            {"role": "assistant", "content": "Here is a first sketch of the queue. Shall I continue with the proof?"},
            {"role": "user", "content": "yes, go on"},
        ],
    )
    assert convo["judged_on"] == "conversation" and convo["task_kind"] == "code"
    assert convo["p_strong"] > alone["p_strong"]
    assert convo["p_strong"] >= explain(gw, user(HARD))["p_strong"] - 0.1


def test_tool_results_file_dumps_and_harness_notes_are_not_the_task(gw: Gateway) -> None:
    plain = explain(gw, user("thanks, that looks good"))
    dump = "\n".join(f"def f{i}(x):\n    return x ** {i} + solve({i})" for i in range(100))
    agentic = explain(
        gw,
        [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "1", "type": "function", "function": {"name": "read", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "1", "content": "Traceback: integral equation proof theorem " * 200},
            {
                "role": "user",
                "content": "<system-reminder>Prove every theorem, write Python code, solve equations.</system-reminder>\n"
                f"<file path='a.py'>{dump}</file>\n```python\n{dump}\n```\nthanks, that looks good",
            },
        ],
    )
    assert agentic["task_kind"] == plain["task_kind"] == "chat"
    assert agentic["p_strong"] == pytest.approx(plain["p_strong"], abs=0.05)
    assert agentic["prompt_tokens"] > 1000  # the dump still counts for size and cost


HOSTILE = {
    "backticks": "`" * 32_768,
    "unclosed tags": "<file>" * 11_000 + "<document " * 5_000,
    "repeated file tags": "<file>x</file>" * 4_700,
    "long repeats": "ab" * 500_000 + "(" * 100_000,
    "one character": "a" * (4 * 1024 * 1024 - 300),  # just under the 4 MiB body limit with the JSON around it
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_inputs_are_judged_in_bounded_time(gw: Gateway, name: str) -> None:
    started = time.monotonic()
    r = httpx.post(gw.url + "/router/explain", json={"model": "auto", "messages": user(HOSTILE[name])}, timeout=30)
    # generous: quadratic reading took 2-38 s on inputs like these; a linear one takes milliseconds
    assert time.monotonic() - started < 3.0
    if r.status_code == 200:
        c = r.json()["classification"]
        assert 0.0 <= c["p_strong"] <= 1.0 and c["elapsed_ms"] < 1000
    else:  # judged, then refused for its size: still an answer, not a freeze
        assert r.status_code == 400 and "context window" in r.json()["error"]["message"]


def test_hostile_inputs_through_router_classify() -> None:
    lines = [json.dumps({"prompt": text}) for text in HOSTILE.values()]
    started = time.monotonic()
    out = run_router("classify", stdin="\n".join(lines) + "\n")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(x) for x in out.stdout.splitlines()]
    assert len(rows) == len(HOSTILE)
    assert all(0.0 <= r["p_strong"] <= 1.0 if "p_strong" in r else "context window" in r["error"] for r in rows)
    assert time.monotonic() - started < 30.0  # process start included; quadratic reading took minutes


def _weights(path: Path, bias: float) -> None:
    n = len(signals.SIGNAL_NAMES)
    zero, one = np.zeros(n), np.ones(n)
    write_weights(path, Model(zero, zero, one, zero, one, bias, (1.0, 0.0)))


def test_a_policy_names_its_weights_and_an_edit_applies_without_restart(gw: Gateway, learned_policy: dict[str, Any]) -> None:
    weights = gw.policy.parent / "always-llm.npz"
    _weights(weights, 6.0)  # p_strong = sigmoid(6) for every request
    edited = json.loads(json.dumps(learned_policy))
    edited["server"]["scorer_weights"] = weights.name  # relative to the policy file
    try:
        status = gw.rewrite_policy(json.dumps(edited))
        assert status["last_reload_error"] is None
        deadline = time.monotonic() + 5
        while explain(gw, user("hi"))["p_strong"] < 0.99 and time.monotonic() < deadline:
            time.sleep(0.05)
        c = explain(gw, user("hi"))
        assert c["p_strong"] == pytest.approx(1 / (1 + np.exp(-6.0)), abs=1e-6)
        r = httpx.post(gw.url + "/v1/chat/completions", json={"model": "auto", "messages": user("hi")}, timeout=30)
        assert r.status_code == 200 and r.headers["x-router-tier"] == "llm"
        # new weights written over the named file apply too
        _weights(weights, -6.0)
        deadline = time.monotonic() + 5
        while explain(gw, user("hi"))["p_strong"] > 0.01 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert explain(gw, user("hi"))["p_strong"] < 0.01
        # unusable weights: classification keeps working on the packaged weights, and the log says why
        weights.write_bytes(b"not weights")
        deadline = time.monotonic() + 5
        while explain(gw, user("hi"))["p_strong"] < 0.01 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert 0.01 < explain(gw, user("hi"))["p_strong"] < 0.99
        assert "always-llm.npz unusable" in gw.logs()
    finally:
        gw.rewrite_policy(json.dumps(learned_policy))


def test_weights_path_in_the_schema() -> None:
    out = run_router("policy", "schema")
    assert "scorer_weights" in out.stdout
