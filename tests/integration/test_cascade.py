"""strategy: cascade end to end: the SLM answers first, weak answers escalate to the LLM, plain and streaming."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.procs import Gateway, Upstream, start_gateway, two_tier_policy

MSG = [{"role": "user", "content": "what is the capital of France?"}]


@pytest.fixture(scope="module")
def cascade_gw(slm: Upstream, llm: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    policy = json.loads(two_tier_policy(slm.base_url, llm.base_url))
    policy["models"]["local-slm"]["capabilities"]["tools"] = True
    policy["routes"]["cascade"] = {
        "strategy": "cascade",
        "tiers": {"slm": ["local-slm"], "llm": ["hosted-llm"]},
        "cascade": {"min_mean_logprob": -1.0, "hold_chunks": 4, "hold_ms": 400},
    }
    gw = start_gateway(json.dumps(policy), Path(tmp_path_factory.mktemp("cascade")))
    yield gw
    gw.stop()


def client(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key="x", max_retries=0)


def chat(gw: Gateway, **kw: object) -> tuple[httpx.Headers, object]:
    raw = client(gw).chat.completions.with_raw_response.create(model="cascade", messages=kw.pop("messages", MSG), **kw)  # type: ignore[call-overload]
    return raw.headers, raw.parse()


def test_confident_slm_answer_is_kept_without_the_logprobs_we_asked_for(
    cascade_gw: Gateway, slm: Upstream, llm: Upstream
) -> None:
    slm.control(reply="Paris is the capital of France.", logprob=-0.1)
    headers, completion = chat(cascade_gw)
    assert (headers["x-router-escalated"], headers["x-router-tier"], headers["x-router-reason"]) == ("false", "slm", "cascade")
    assert completion.choices[0].message.content == "Paris is the capital of France."  # type: ignore[attr-defined]
    assert completion.choices[0].logprobs is None  # type: ignore[attr-defined]
    assert slm.received()[0]["body"]["logprobs"] is True
    assert llm.received() == []


@pytest.mark.parametrize(
    ("control", "extra", "reason"),
    [
        ({"reply": "Paris maybe", "logprob": -3.0}, {}, "logprob"),
        ({"reply": "I'm sorry, but I can't help with that."}, {}, "refusal"),
        ({"reply": "   "}, {}, "empty"),
        ({"reply": "one two three four five six"}, {"max_tokens": 3}, "length"),
        ({"reply": "Sure! Paris."}, {"response_format": {"type": "json_object"}}, "json"),
        (
            {"reply": '{"city": 7}'},
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {
                        "name": "c",
                        "schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                    },
                }
            },
            "schema",
        ),
        (
            {"tool_calls": [{"name": "get_weather", "arguments": "{not json"}]},
            {"tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]},
            "tool_calls",
        ),
        (
            {"tool_calls": [{"name": "launch_rockets", "arguments": "{}"}]},
            {"tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]},
            "tool_calls",
        ),
    ],
)
def test_weak_answers_escalate(
    cascade_gw: Gateway, slm: Upstream, llm: Upstream, control: dict[str, object], extra: dict[str, object], reason: str
) -> None:
    slm.control(**control)
    llm.control(reply='{"city": "Paris"}')
    headers, completion = chat(cascade_gw, **extra)
    assert (headers["x-router-escalated"], headers["x-router-escalation-reason"]) == ("true", reason)
    assert headers["x-router-tier"] == "llm" and headers["x-router-model"] == "hosted-llm"
    assert completion.choices[0].message.content == '{"city": "Paris"}'  # type: ignore[attr-defined]
    assert len(llm.received()) == 1 and "logprobs" not in llm.received()[0]["body"]


def test_valid_json_and_tool_calls_are_kept(cascade_gw: Gateway, slm: Upstream) -> None:
    slm.control(reply='{"city": "Paris"}')
    headers, _ = chat(cascade_gw, response_format={"type": "json_object"})
    assert headers["x-router-escalated"] == "false"
    slm.control(tool_calls=[{"name": "get_weather", "arguments": '{"city": "Paris"}'}])
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    headers, completion = chat(cascade_gw, tools=tools)
    assert headers["x-router-escalated"] == "false"
    assert completion.choices[0].message.tool_calls[0].function.name == "get_weather"  # type: ignore[attr-defined]


def test_cascade_explain_and_images_without_a_vision_model(cascade_gw: Gateway, slm: Upstream, llm: Upstream) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    raw = httpx.post(
        cascade_gw.url + "/router/explain",
        json={"model": "cascade", "messages": MSG, "tools": tools, "response_format": {"type": "json_object"}},
    )
    assert raw.json()["decision"]["strategy"] == "cascade"  # this SLM declares tools and JSON mode
    explained = httpx.post(
        cascade_gw.url + "/router/explain",
        json={"model": "cascade", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
    )
    assert explained.status_code == 400 and "images" in explained.json()["error"]["message"]


def test_slm_down_escalates(cascade_gw: Gateway, slm: Upstream) -> None:
    slm.control(mode="status", status=503)
    headers, _ = chat(cascade_gw)
    assert (headers["x-router-escalated"], headers["x-router-escalation-reason"]) == ("true", "slm_failed")


def stream_text(gw: Gateway) -> tuple[httpx.Headers, str, list[dict[str, object]]]:
    with httpx.stream(
        "POST", gw.base_url + "/chat/completions", json={"model": "cascade", "messages": MSG, "stream": True}, timeout=30
    ) as r:
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
        headers = r.headers
    text = "".join((e["choices"][0].get("delta") or {}).get("content") or "" for e in events if e.get("choices"))  # type: ignore[index,union-attr]
    return headers, text, events


def test_streaming_confident_slm_streams_on(cascade_gw: Gateway, slm: Upstream, llm: Upstream) -> None:
    slm.control(reply="a b c d e f g h i j", logprob=-0.2)
    headers, text, events = stream_text(cascade_gw)
    assert headers["x-router-escalated"] == "false" and text == "a b c d e f g h i j"
    assert all("logprobs" not in c for e in events for c in e.get("choices", []))  # type: ignore[union-attr]
    assert llm.received() == []


def test_streaming_refusal_in_window_escalates_and_client_sees_only_llm(
    cascade_gw: Gateway, slm: Upstream, llm: Upstream
) -> None:
    slm.control(reply="I'm sorry, I cannot do that for you today", logprob=-0.1)
    llm.control(reply="Paris is the answer")
    headers, text, _ = stream_text(cascade_gw)
    assert (headers["x-router-escalated"], headers["x-router-escalation-reason"]) == ("true", "refusal")
    assert text == "Paris is the answer"


def test_streaming_low_confidence_escalates(cascade_gw: Gateway, slm: Upstream, llm: Upstream) -> None:
    slm.control(reply="uh maybe it is Lyon or so", logprob=-2.5)
    headers, text, _ = stream_text(cascade_gw)
    assert headers["x-router-escalation-reason"] == "logprob" and text.startswith("[llm]")


def test_streaming_window_closes_on_time_and_nothing_is_lost(cascade_gw: Gateway, slm: Upstream) -> None:
    """A slow SLM (one chunk per 150 ms, window 400 ms) is committed after the window; every chunk arrives."""
    slm.control(reply="w1 w2 w3 w4 w5 w6 w7 w8", logprob=-0.1, interval_ms=150)
    headers, text, _ = stream_text(cascade_gw)
    assert headers["x-router-escalated"] == "false"
    assert text == "w1 w2 w3 w4 w5 w6 w7 w8"
