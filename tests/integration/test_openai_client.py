"""The gateway as a drop-in: the official openai client, only base_url changed, sync and async, plain and streaming."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import openai
import pytest

from tests.support.procs import Gateway, Upstream, start_gateway, two_tier_policy

EASY = "hi, how are you?"
HARD = (
    "Prove step by step that the algorithm runs in O(n log n): derive the recurrence T(n) = 2T(n/2) + n, "
    "solve the equation, compute the constant, and explain why the probability bound holds for every n. "
) * 3


def client(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key="not-needed", max_retries=0)


def test_plain_chat_routes_easy_prompt_to_slm(gateway: Gateway, slm: Upstream) -> None:
    raw = client(gateway).chat.completions.with_raw_response.create(model="auto", messages=[{"role": "user", "content": EASY}])
    completion = raw.parse()
    assert completion.choices[0].message.content == f"[slm] you said: {EASY}"
    assert raw.headers["x-router-route"] == "auto"
    assert raw.headers["x-router-tier"] == "slm"
    assert raw.headers["x-router-model"] == "local-slm"
    assert len(raw.headers["x-request-id"]) >= 16
    assert int(raw.headers["content-length"]) == len(raw.http_response.content)  # framed by length, not chunked
    assert "transfer-encoding" not in raw.headers
    assert slm.received()[0]["body"]["model"] == "phi-3-mini"  # the upstream's own id, not the route


def test_hard_prompt_goes_to_llm_with_its_key(gateway: Gateway, llm: Upstream, slm: Upstream) -> None:
    raw = client(gateway).chat.completions.with_raw_response.create(model="auto", messages=[{"role": "user", "content": HARD}])
    assert raw.headers["x-router-tier"] == "llm"
    assert raw.headers["x-router-model"] == "hosted-llm"
    assert raw.parse().choices[0].message.content.startswith("[llm]")
    got = llm.received()
    assert got[0]["body"]["model"] == "gpt-4o"
    assert got[0]["headers"]["Authorization"] == "Bearer sk-test-llm"
    assert slm.received() == []


def test_route_alias_pins_model_and_tier_hint_forces_tier(gateway: Gateway) -> None:
    c = client(gateway)
    pinned = c.chat.completions.with_raw_response.create(model="gpt-4o", messages=[{"role": "user", "content": EASY}])
    assert (pinned.headers["x-router-model"], pinned.headers["x-router-reason"]) == ("hosted-llm", "fixed")
    forced = c.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": EASY}], extra_headers={"x-router-tier": "llm"}
    )
    assert (forced.headers["x-router-tier"], forced.headers["x-router-reason"]) == ("llm", "tier_hint")


def test_request_id_from_caller_is_kept(gateway: Gateway) -> None:
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="small", messages=[{"role": "user", "content": EASY}], extra_headers={"x-request-id": "trace-42.a"}
    )
    assert raw.headers["x-request-id"] == "trace-42.a"


def test_streaming_passes_chunks_and_usage(gateway: Gateway) -> None:
    stream = client(gateway).chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": "tell me a short story"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "[slm] you said: tell me a short story"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 8
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_stream_chunks_arrive_as_sent(gateway: Gateway, slm: Upstream) -> None:
    """An upstream sending a chunk every 200 ms reaches the client chunk by chunk, not all at the end.
    Only the spacing the upstream imposes is asserted (a floor), never how fast the gateway relays."""
    slm.control(mode="ok", interval_ms=200, reply="one two three four five")
    stream = client(gateway).chat.completions.create(model="small", messages=[{"role": "user", "content": "x"}], stream=True)
    arrivals = []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic())
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(arrivals) == 5
    assert sorted(gaps)[len(gaps) // 2] > 0.1, gaps  # typically ~0.2 s apart: relayed as they came
    assert arrivals[-1] - arrivals[0] > 0.4, gaps  # buffered to the end, they would arrive together


def test_passthrough_of_openai_fields(gateway: Gateway, llm: Upstream) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}]
    completion = client(gateway).chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "weather?"}],
        tools=tools,
        tool_choice="auto",
        response_format={"type": "json_object"},
        logprobs=True,
        top_logprobs=2,
        seed=7,
        n=2,
        extra_body={"vendor_knob": {"nested": [1, 2]}, "repetition_penalty": 1.1},
    )
    assert len(completion.choices) == 2
    assert completion.choices[0].logprobs is not None
    sent = llm.received()[0]["body"]
    for key, value in {
        "tools": tools,
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
        "logprobs": True,
        "top_logprobs": 2,
        "seed": 7,
        "n": 2,
        "vendor_knob": {"nested": [1, 2]},
        "repetition_penalty": 1.1,
    }.items():
        assert sent[key] == value, key


def test_tools_go_to_a_model_that_supports_them(gateway: Gateway) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": EASY}], tools=tools
    )
    assert (raw.headers["x-router-tier"], raw.headers["x-router-reason"]) == ("llm", "tools")


def test_legacy_completions_and_embeddings_and_models(gateway: Gateway, slm: Upstream) -> None:
    c = client(gateway)
    completion = c.completions.create(model="auto", prompt="say hi", max_tokens=5)
    assert completion.choices[0].text.startswith("[slm]")
    assert slm.received()[-1]["path"] == "/v1/completions"
    emb = c.embeddings.with_raw_response.create(model="embedder", input=["a", "b"])
    assert len(emb.parse().data) == 2 and emb.headers["x-router-model"] == "embedder"
    by_upstream_id = c.embeddings.create(model="text-embedding-3-small", input="a")
    assert len(by_upstream_id.data[0].embedding) == 8
    ids = {m.id for m in c.models.list()}
    assert {"auto", "gpt-4o", "small", "local-slm", "hosted-llm"} <= ids


async def test_async_client_plain_and_stream(gateway: Gateway) -> None:
    async with openai.AsyncOpenAI(base_url=gateway.base_url, api_key="x", max_retries=0) as c:
        plain = await c.chat.completions.create(model="auto", messages=[{"role": "user", "content": EASY}])
        assert plain.choices[0].message.content is not None
        stream = await c.chat.completions.create(model="auto", messages=[{"role": "user", "content": "a b"}], stream=True)
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
        assert text == "[slm] you said: a b"


def test_unknown_route_is_404_model_not_found(gateway: Gateway) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client(gateway).chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert info.value.code == "model_not_found"


@pytest.mark.parametrize("transport", ["httpx", "httpx-aiohttp"])
def test_the_other_upstream_transports_carry_the_same_traffic(
    transport: str, slm: Upstream, llm: Upstream, tmp_path: Path
) -> None:
    """ROUTER_UPSTREAM_TRANSPORT swaps the transport under httpx; requests, keys and bodies must not change."""
    gw = start_gateway(
        two_tier_policy(slm.base_url, llm.base_url),
        tmp_path,
        env={"ROUTER_UPSTREAM_TRANSPORT": transport, "ROUTER_DRAIN_SECONDS": "0"},
    )
    try:
        c = client(gw)
        plain = c.chat.completions.create(model="auto", messages=[{"role": "user", "content": EASY}], seed=7)
        assert plain.choices[0].message.content == f"[slm] you said: {EASY}"
        chunks = list(c.chat.completions.create(model="auto", messages=[{"role": "user", "content": EASY}], stream=True))
        assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == f"[slm] you said: {EASY}"
        assert c.chat.completions.create(model="auto", messages=[{"role": "user", "content": HARD}]).choices[0].message.content
        sent = slm.received()[0]
        assert sent["body"]["model"] == "phi-3-mini" and sent["body"]["seed"] == 7
        headers = {k.lower(): v for k, v in llm.received()[0]["headers"].items()}
        assert headers["authorization"] == "Bearer sk-test-llm" and headers["host"] == f"127.0.0.1:{llm.port}"
    finally:
        gw.stop()
