"""strategy: delegate over HTTP: a scripted core model calls the experts as tools ask_<kind>; the gateway
runs the calls (in parallel), feeds the answers back and returns the core's final answer, plain or
streamed; the caller's own tools go back to the caller; max_steps and cost limits bound the loop; every
sub-call is in the ledger and the access log under the parent request id."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openai import OpenAI

from tests.support.experts import Fleet, dumps, experts_policy, fleet
from tests.support.procs import Gateway, start_gateway

ASK_BOTH = {
    "tool_calls": [
        {"name": "ask_code", "arguments": json.dumps({"question": "fix def add(a, b): return a - b"})},
        {"name": "ask_math", "arguments": json.dumps({"question": "what is 3 + 5?"})},
    ]
}
FINAL = {"reply": "final answer from {tool_results}"}
WEATHER: Any = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}


@pytest.fixture(scope="module")
def ups() -> Iterator[Fleet]:
    with fleet() as f:
        yield f


@pytest.fixture(scope="module")
def gw(ups: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    g = start_gateway(dumps(experts_policy(ups)), tmp_path_factory.mktemp("delegate"))
    yield g
    g.stop()


@pytest.fixture(autouse=True)
def _clean(ups: Fleet) -> None:
    ups.reset()


def ask(
    gw: Gateway, content: str = "fix my code and add 3 and 5", headers: dict[str, str] | None = None, **extra: Any
) -> httpx.Response:
    body = {"model": "agent", "messages": [{"role": "user", "content": content}], **extra}
    return httpx.post(gw.base_url + "/chat/completions", json=body, headers=headers or {}, timeout=60)


def tool_names(request: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in request["body"].get("tools") or []]


def test_core_calls_experts_in_parallel_and_answers_with_their_results(gw: Gateway, ups: Fleet) -> None:
    ups.llm.control(agent=[ASK_BOTH, FINAL])
    ups.coder.control(delay_ms=1500)
    ups.maths.control(delay_ms=1500)
    r = ask(gw)
    assert r.status_code == 200, r.text
    answer = r.json()["choices"][0]["message"]["content"]
    assert answer.startswith("final answer from [coder] you said: fix def add")
    assert "[maths] you said: what is 3 + 5?" in answer
    assert r.headers["x-router-delegations"] == "2"
    assert (r.headers["x-router-model"], r.headers["x-router-reason"]) == ("hosted-llm", "delegate")
    core = ups.llm.received()
    assert len(core) == 2
    assert tool_names(core[0]) == ["ask_code", "ask_math"]
    fed_back = [m for m in core[1]["body"]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in fed_back] == ["call_0", "call_1"]
    coder, maths = ups.coder.received(), ups.maths.received()
    assert [m["content"] for m in coder[0]["body"]["messages"]] == ["writes and fixes code", "fix def add(a, b): return a - b"]
    assert maths[0]["body"]["model"] == "qwen-math"
    # in parallel: each expert takes 1.5 s, and the second call arrived before the first one could have finished
    assert abs(coder[0]["at"] - maths[0]["at"]) < 1.2


def test_final_turn_streams(gw: Gateway, ups: Fleet) -> None:
    ups.llm.control(agent=[ASK_BOTH, FINAL])
    client = OpenAI(base_url=gw.base_url, api_key="x", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="agent", messages=[{"role": "user", "content": "fix my code and add 3 and 5"}], stream=True
    )
    assert raw.headers["x-router-delegations"] == "2"
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("final answer from [coder]") and "[maths]" in text
    assert len(chunks) > 5  # relayed chunk by chunk, not one block
    assert all(not (c.choices and c.choices[0].delta.tool_calls) for c in chunks)  # the ask_* turn stayed inside
    assert len(ups.llm.received()) == 2


def test_callers_own_tools_go_back_to_the_caller(gw: Gateway, ups: Fleet) -> None:
    mixed = {"tool_calls": [ASK_BOTH["tool_calls"][0], {"name": "get_weather", "arguments": "{}"}]}
    ups.llm.control(agent=[mixed, FINAL])
    r = ask(gw, tools=[WEATHER])
    assert r.status_code == 200, r.text
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert [c["function"]["name"] for c in choice["message"]["tool_calls"]] == ["get_weather"]
    assert tool_names(ups.llm.received()[0]) == ["get_weather", "ask_code", "ask_math"]
    assert ups.coder.received() == []  # a turn that calls the caller's tools is the caller's to answer
    # streamed, the same turn reaches the client without the ask_* deltas
    client = OpenAI(base_url=gw.base_url, api_key="x", max_retries=0)
    stream = client.chat.completions.create(
        model="agent",
        messages=[{"role": "user", "content": "weather?"}],
        tools=[WEATHER],
        stream=True,
    )
    names = [
        tc.function.name
        for c in stream
        if c.choices
        for tc in c.choices[0].delta.tool_calls or []
        if tc.function and tc.function.name
    ]
    assert names == ["get_weather"]


def test_a_callers_tool_may_not_take_an_experts_name(gw: Gateway) -> None:
    fake = {"type": "function", "function": {"name": "ask_code", "parameters": {"type": "object", "properties": {}}}}
    r = ask(gw, tools=[fake])
    assert r.status_code == 400
    assert "reserved" in r.json()["error"]["message"]


def test_max_steps_bounds_the_loop(gw: Gateway, ups: Fleet) -> None:
    """A core that would delegate forever: the last of max_steps (4) turns offers no experts, so it answers."""
    ups.llm.control(agent=[{"tool_calls": [ASK_BOTH["tool_calls"][0]], "otherwise": "done after {tool_results}"}])
    r = ask(gw)
    assert r.status_code == 200, r.text
    assert r.headers["x-router-delegations"] == "3"
    core = ups.llm.received()
    assert len(core) == 4
    assert [bool(tool_names(c)) for c in core] == [True, True, True, False]
    assert len(ups.coder.received()) == 3
    assert r.json()["choices"][0]["message"]["content"].startswith("done after [coder]")


def test_cost_limit_stops_delegating(gw: Gateway, ups: Fleet) -> None:
    ups.llm.control(agent=[{"tool_calls": [ASK_BOTH["tool_calls"][1]], "otherwise": "answered alone"}])
    r = ask(gw, headers={"x-router-max-cost-usd": "0.0000001"})  # the first core turn already spends more
    assert r.status_code == 200, r.text
    assert r.headers["x-router-delegations"] == "1"
    assert [bool(tool_names(c)) for c in ups.llm.received()] == [True, False]


def test_a_failing_expert_is_told_to_the_core(gw: Gateway, ups: Fleet) -> None:
    ups.llm.control(agent=[ASK_BOTH, FINAL])
    ups.maths.control(mode="status", status=500)
    r = ask(gw)
    assert r.status_code == 200, r.text
    content = r.json()["choices"][0]["message"]["content"]
    assert "[coder]" in content and "error: the math expert could not answer" in content


def test_every_sub_call_is_in_the_ledger_and_the_log(gw: Gateway, ups: Fleet) -> None:
    before = {(row["model"]): row for row in httpx.get(gw.url + "/router/usage").json()["data"]}
    ups.llm.control(agent=[ASK_BOTH, FINAL])
    r = ask(gw)
    rid = r.headers["x-request-id"]
    rows = {row["model"]: row for row in httpx.get(gw.url + "/router/usage").json()["data"]}

    def grew(model: str) -> int:
        return int(rows[model]["routes"].get("agent", 0) - (before[model]["routes"].get("agent", 0) if model in before else 0))

    assert (grew("local-coder"), grew("local-math"), grew("hosted-llm")) == (1, 1, 2)  # two core turns
    assert rows["hosted-llm"]["cost_usd"] > before.get("hosted-llm", {}).get("cost_usd", 0.0)
    lines = [json.loads(x) for x in gw.logs().splitlines() if x.startswith("{") and rid in x]
    parent = next(x for x in lines if x["request_id"] == rid)
    subs = {x["request_id"]: x for x in lines if x["parent_request_id"] == rid}
    assert parent["delegations"] == 2 and parent["model"] == "hosted-llm"
    assert sorted((x["reason"], x["model"], x["task_kind"]) for x in subs.values()) == [
        ("core_turn", "hosted-llm", "core"),
        ("delegated", "local-coder", "code"),
        ("delegated", "local-math", "math"),
    ]
    assert all(x["request_id"].startswith(rid + ".") for x in subs.values())
    assert next(x for x in subs.values() if x["reason"] == "core_turn")["cost_usd"] > 0
    metrics = httpx.get(gw.url + "/metrics").text
    assert 'router_delegations_total{model="local-coder",route="agent",status="200",task_kind="code"}' in metrics


def test_a_core_asking_for_many_experts_at_once_is_capped(gw: Gateway, ups: Fleet) -> None:
    """A prompt can steer the core into fanning out: one turn runs at most 8 expert calls."""
    many = {"tool_calls": [{"name": "ask_math", "arguments": json.dumps({"question": f"{i} + 1?"})} for i in range(20)]}
    ups.llm.control(agent=[many, FINAL])
    r = ask(gw)
    assert r.status_code == 200, r.text
    assert r.headers["x-router-delegations"] == "8"
    assert len(ups.maths.received()) == 8
    assert r.json()["choices"][0]["message"]["content"].count("error: at most 8 expert calls per turn") == 12


def test_tenant_budget_stops_delegating(ups: Fleet, tmp_path_factory: pytest.TempPathFactory) -> None:
    tenants = {"acme": {"api_keys": ["${ACME_KEY}"], "limits": {"usd_per_day": 0.0001}}}
    g = start_gateway(dumps(experts_policy(ups, tenants=tenants)), tmp_path_factory.mktemp("budget"), {"ACME_KEY": "sk-acme"})
    try:
        ups.llm.control(agent=[{"tool_calls": [ASK_BOTH["tool_calls"][1]], "otherwise": "answered alone"}])
        r = ask(g, headers={"authorization": "Bearer sk-acme"})
        assert r.status_code == 200, r.text
        assert r.headers["x-router-delegations"] == "1"  # the first core turn spent what was left of the day's budget
        assert [bool(tool_names(c)) for c in ups.llm.received()] == [True, False]
    finally:
        g.stop()


def test_delegate_on_the_responses_api(gw: Gateway, ups: Fleet) -> None:
    """The Responses API is translated to chat and goes through the same delegate loop, plain and streamed."""
    client = OpenAI(base_url=gw.base_url, api_key="x", max_retries=0)
    ups.llm.control(agent=[ASK_BOTH, FINAL])
    raw = client.responses.with_raw_response.create(model="agent", input="fix my code and add 3 and 5")
    assert raw.headers["x-router-delegations"] == "2"
    response = raw.parse()
    assert response.output_text.startswith("final answer from [coder]") and "[maths]" in response.output_text
    assert tool_names(ups.llm.received()[0]) == ["ask_code", "ask_math"]
    ups.reset()
    ups.llm.control(agent=[ASK_BOTH, FINAL])
    events = list(client.responses.create(model="agent", input="fix my code and add 3 and 5", stream=True))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text.startswith("final answer from [coder]") and "[maths]" in text
    assert events[-1].type == "response.completed"
    assert len(ups.coder.received()) == len(ups.maths.received()) == 1
