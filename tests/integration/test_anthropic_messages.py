"""POST /v1/messages and /v1/messages/count_tokens driven by the official `anthropic` SDK, against a real
gateway in front of real HTTP upstreams: a chat-completions-only server (translated) and an
Anthropic-wire server (passed through natively)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from tests.support.procs import Gateway, Upstream, start_gateway

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "the weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TIMEOUTS = {"connect": 2, "first_token": 5, "idle": 1, "total": 20}


def _policy(slm: Upstream, llm: Upstream, **extra: Any) -> str:
    policy: dict[str, Any] = {
        "version": 1,
        "models": {
            "local": {
                "tier": "slm",
                "endpoint": {"base_url": slm.base_url, "model": "phi-3-mini", "api_key": "sk-slm"},
                "capabilities": {"vision": True},
                "timeouts": TIMEOUTS,
            },
            "claude": {
                "tier": "llm",
                "endpoint": {
                    "provider": "anthropic",
                    "base_url": f"http://127.0.0.1:{llm.port}",
                    "model": "claude-sonnet-x",
                    "api_key": "${ANTHROPIC_KEY}",
                },
                "price": {"input_per_mtok": 3.0, "output_per_mtok": 15.0},
                "timeouts": TIMEOUTS,
            },
        },
        "routes": {
            "small": {"strategy": "fixed", "models": ["local"]},
            "claude": {"strategy": "fixed", "models": ["claude"]},
            "auto": {"strategy": "classify", "tiers": {"slm": ["local"], "llm": ["claude"]}},
            "careful": {"strategy": "cascade", "tiers": {"slm": ["local"], "llm": ["claude"]}},
        },
        "server": {
            "scorer": "heuristic",
            "max_body_bytes": 200_000,
            "retries": {"attempts": 0},
            "breaker": {"consecutive_failures": 10_000, "min_requests": 10_000},
        },
        **extra,
    }
    return json.dumps(policy)


@pytest.fixture(scope="module")
def gw(slm: Upstream, llm: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = start_gateway(_policy(slm, llm), Path(tmp_path_factory.mktemp("messages")), env={"ANTHROPIC_KEY": "sk-ant-policy"})
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def tenant_gw(slm: Upstream, llm: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tenants = {
        "acme": {"api_keys": ["${ACME_KEY}"], "routes": ["small", "claude"]},
        "tiny": {"api_keys": ["${TINY_KEY}"], "routes": ["small"], "limits": {"requests_per_minute": 1}},
    }
    gateway = start_gateway(
        _policy(slm, llm, tenants=tenants),
        Path(tmp_path_factory.mktemp("messages-tenants")),
        env={"ANTHROPIC_KEY": "sk-ant-policy", "ACME_KEY": "sk-acme-tenant", "TINY_KEY": "sk-tiny-tenant"},
    )
    yield gateway
    gateway.stop()


def client(gw: Gateway, key: str = "unused") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0, timeout=20)


def sent(up: Upstream) -> dict[str, Any]:
    received = [r for r in up.received() if not r["path"].startswith("_")]
    assert received, "the upstream received nothing"
    return received[-1]


def events(gw: Gateway, body: dict[str, Any], headers: dict[str, str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The raw server-sent events of a streamed /v1/messages call, as (event name, data)."""
    out = []
    with httpx.stream("POST", f"{gw.url}/v1/messages", json={**body, "stream": True}, headers=headers, timeout=20) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                assert data["type"] == name  # Anthropic's event line always names the data's type
                out.append((name, data))
    return out


# --- translated to chat completions ------------------------------------------------------------------


def test_plain_message_translated_to_chat(gw: Gateway, slm: Upstream) -> None:
    raw = client(gw).messages.with_raw_response.create(
        model="small", max_tokens=50, system="be brief", messages=[{"role": "user", "content": "hello there"}]
    )
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "[slm] you said: hello there"
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.model == "small"  # the name the client may send back, not the upstream's id
    assert message.usage.output_tokens == 5 and message.usage.input_tokens > 0
    assert raw.headers["request-id"] == raw.headers["x-request-id"]
    assert raw.headers["x-router-model"] == "local"
    request = sent(slm)
    assert request["path"] == "/v1/chat/completions"
    assert request["body"]["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello there"},
    ]
    assert request["body"]["model"] == "phi-3-mini" and request["body"]["max_tokens"] == 50
    assert request["headers"]["Authorization"] == "Bearer sk-slm"


def test_system_blocks_sampling_and_stop_sequences_translated(gw: Gateway, slm: Upstream) -> None:
    client(gw).messages.create(
        model="small",
        max_tokens=20,
        system=[{"type": "text", "text": "rule one"}, {"type": "text", "text": "rule two"}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        stop_sequences=["END"],
        metadata={"user_id": "user-7"},
        extra_body={"temperature": 0.2, "top_p": 0.9, "top_k": 40},  # this SDK version has no arguments for them
    )
    body = sent(slm)["body"]
    assert body["messages"][0] == {"role": "system", "content": "rule one\nrule two"}
    assert body["messages"][1] == {"role": "user", "content": "hi"}
    assert (body["temperature"], body["top_p"], body["top_k"], body["stop"], body["user"]) == (0.2, 0.9, 40, ["END"], "user-7")


def test_length_maps_to_max_tokens(gw: Gateway) -> None:
    message = client(gw).messages.create(model="small", max_tokens=2, messages=[{"role": "user", "content": "a b c d e f"}])
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 2


def test_stream_text_with_the_sdk(gw: Gateway) -> None:
    with client(gw).messages.stream(model="small", max_tokens=50, messages=[{"role": "user", "content": "stream me"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "[slm] you said: stream me"
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 5 and final.usage.input_tokens > 0  # from the upstream's usage chunk


def test_stream_event_sequence(gw: Gateway, slm: Upstream) -> None:
    seen = events(gw, {"model": "small", "max_tokens": 50, "messages": [{"role": "user", "content": "one two"}]})
    names = [name for name, _ in seen]
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"}
    start = seen[0][1]["message"]
    assert start["role"] == "assistant" and start["content"] == [] and start["model"] == "small"
    deltas = [d["delta"] for n, d in seen if n == "content_block_delta"]
    assert "".join(d["text"] for d in deltas) == "[slm] you said: one two"
    assert {d["type"] for d in deltas} == {"text_delta"}
    final = seen[-2][1]
    assert final["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert final["usage"]["output_tokens"] == 5
    assert sent(slm)["body"]["stream_options"] == {"include_usage": True}


def test_tools_round_trip_translated(gw: Gateway, slm: Upstream) -> None:
    slm.control(tool_calls=[{"name": "get_weather", "arguments": '{"city": "Paris"}'}])
    c = client(gw)
    question = {"role": "user", "content": "weather in Paris?"}
    first = c.messages.create(
        model="small", max_tokens=100, messages=[question], tools=[WEATHER_TOOL], tool_choice={"type": "any"}
    )
    assert first.stop_reason == "tool_use"
    call = first.content[-1]
    assert call.type == "tool_use" and call.name == "get_weather" and call.input == {"city": "Paris"}
    body = sent(slm)["body"]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": WEATHER_TOOL["input_schema"],
                "description": "the weather in a city",
            },
        }
    ]
    assert body["tool_choice"] == "required"

    slm.control(reply="It is sunny in Paris.")
    second = c.messages.create(
        model="small",
        max_tokens=100,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        messages=[
            question,
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": call.id, "content": [{"type": "text", "text": "sunny, 24C"}]},
                    {"type": "text", "text": "and now?"},
                ],
            },
        ],
    )
    assert second.content[0].text == "It is sunny in Paris."
    assert second.stop_reason == "end_turn"
    body = sent(slm)["body"]
    assistant, tool, user = body["messages"][1:]
    assert assistant["role"] == "assistant"
    assert assistant["tool_calls"] == [
        {"id": call.id, "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
    ]
    assert tool == {"role": "tool", "tool_call_id": call.id, "content": "sunny, 24C"}
    assert user == {"role": "user", "content": "and now?"}
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["parallel_tool_calls"] is False


def test_stream_tool_use_translated(gw: Gateway, slm: Upstream) -> None:
    slm.control(tool_calls=[{"name": "get_weather", "arguments": '{"city": "Oslo"}'}, {"name": "noop", "arguments": "{}"}])
    with client(gw).messages.stream(
        model="small",
        max_tokens=100,
        messages=[{"role": "user", "content": "weather in Oslo?"}],
        tools=[WEATHER_TOOL],
    ) as s:
        kinds = [e.type for e in s]
        final = s.get_final_message()
    assert "input_json" in kinds  # the SDK's event for input_json_delta
    assert final.stop_reason == "tool_use"
    assert [(b.type, b.name, b.input) for b in final.content] == [
        ("tool_use", "get_weather", {"city": "Oslo"}),
        ("tool_use", "noop", {}),
    ]
    assert final.usage.output_tokens == 5 and final.usage.input_tokens == 7  # the upstream's usage chunk


def test_images_become_image_url_parts(gw: Gateway, slm: Upstream) -> None:
    client(gw).messages.create(
        model="small",
        max_tokens=10,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
                    {"type": "text", "text": "what is this?"},
                ],
            }
        ],
    )
    parts = sent(slm)["body"]["messages"][0]["content"]
    assert parts == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "text", "text": "what is this?"},
    ]


def test_mid_stream_failure_ends_with_anthropic_error_event(gw: Gateway, slm: Upstream) -> None:
    slm.control(mode="stall_after", chunks=2)
    seen = events(gw, {"model": "small", "max_tokens": 50, "messages": [{"role": "user", "content": "a b c d"}]})
    name, data = seen[-1]
    assert name == "error"
    assert data["error"]["type"] == "api_error" and "stalled" in data["error"]["message"]
    assert "message_stop" not in [n for n, _ in seen]


def test_upstream_failure_before_the_stream_is_an_anthropic_error(gw: Gateway, slm: Upstream) -> None:
    slm.control(mode="status", status=500)
    with pytest.raises(anthropic.APIStatusError) as info:
        client(gw).messages.create(model="small", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 502
    assert info.value.body["type"] == "error" and info.value.body["error"]["type"] == "api_error"


# --- passed through natively to an Anthropic-wire upstream --------------------------------------------


def test_native_pass_through_plain(gw: Gateway, llm: Upstream) -> None:
    raw = client(gw).messages.with_raw_response.create(
        model="claude",
        max_tokens=50,
        system=[{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "hello claude"}],
        extra_body={"thinking": {"type": "enabled", "budget_tokens": 1024}},
    )
    message = raw.parse()
    assert message.content[0].text == "[llm] you said: hello claude"
    assert message.id == "msg_1" and message.usage.input_tokens == 5  # Anthropic's own answer
    assert raw.headers["x-router-model"] == "claude" and raw.headers["request-id"]
    request = sent(llm)
    assert request["path"] == "/v1/messages"
    assert request["headers"]["x-api-key"] == "sk-ant-policy"
    assert request["headers"]["anthropic-version"] == "2023-06-01"
    body = request["body"]
    assert body["model"] == "claude-sonnet-x"
    assert body["system"] == [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}  # fields chat has no place for survive


def test_blocks_only_anthropic_reads_reach_it_and_not_a_chat_model(gw: Gateway, llm: Upstream, slm: Upstream) -> None:
    history = [
        {"role": "user", "content": "search the web"},
        {
            "role": "assistant",
            "content": [
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "q"}},
                {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
                {"type": "text", "text": "nothing found"},
            ],
        },
        {"role": "user", "content": "try again"},
    ]
    tools = [{"type": "web_search_20250305", "name": "web_search", "max_uses": 1}]
    for model in ("claude", "small"):
        r = httpx.post(f"{gw.url}/v1/messages", json={"model": model, "max_tokens": 9, "messages": history, "tools": tools})
        assert r.status_code == 200, r.text
    assert sent(llm)["body"]["messages"] == history and sent(llm)["body"]["tools"] == tools
    chat = sent(slm)["body"]
    assert chat["messages"][1] == {"role": "assistant", "content": "nothing found"} and "tools" not in chat


def test_native_pass_through_stream_and_tools(gw: Gateway, llm: Upstream) -> None:
    llm.control(tool_calls=[{"name": "get_weather", "arguments": '{"city": "Rome"}'}])
    with client(gw).messages.stream(
        model="claude",
        max_tokens=50,
        messages=[{"role": "user", "content": "weather in Rome"}],
        tools=[WEATHER_TOOL],
    ) as s:
        final = s.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[-1].type == "tool_use" and final.content[-1].input == {"city": "Rome"}
    assert sent(llm)["body"]["tools"] == [WEATHER_TOOL]  # Anthropic's tool format, untranslated
    assert sent(llm)["body"]["stream"] is True


def test_native_stream_stalling_mid_way_ends_with_anthropic_error_event(gw: Gateway, llm: Upstream) -> None:
    llm.control(mode="stall_after", chunks=4)
    seen = events(gw, {"model": "claude", "max_tokens": 50, "messages": [{"role": "user", "content": "a b c d"}]})
    assert [name for name, _ in seen][:3] == ["message_start", "ping", "content_block_start"]  # Anthropic's own events
    name, data = seen[-1]
    assert name == "error" and data["error"]["type"] == "api_error" and "stalled" in data["error"]["message"]


def test_native_upstream_errors_keep_anthropic_shape(gw: Gateway, llm: Upstream) -> None:
    llm.control(mode="status", status=400)
    with pytest.raises(anthropic.BadRequestError) as info:
        client(gw).messages.create(model="claude", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert info.value.body["error"]["type"] == "invalid_request_error"
    assert "failing on purpose" in info.value.body["error"]["message"]


def test_usage_is_accounted_for_both_wires(gw: Gateway, llm: Upstream) -> None:
    def usage() -> dict[str, tuple[int, int, int]]:
        rows = httpx.get(f"{gw.url}/router/usage").json()["data"]
        return {r["model"]: (r["requests"], r["prompt_tokens"], r["completion_tokens"]) for r in rows}

    before = usage()
    c = client(gw)
    c.messages.create(model="claude", max_tokens=50, messages=[{"role": "user", "content": "count me"}])
    with c.messages.stream(model="claude", max_tokens=50, messages=[{"role": "user", "content": "count me too"}]) as s:
        s.until_done()
    after = usage()
    requests, prompt, completion = (a - b for a, b in zip(after["claude"], before.get("claude", (0, 0, 0)), strict=True))
    # the upstream reports 5 input tokens per request and one output token per word
    assert (requests, prompt, completion) == (2, 10, 5 + 6)


def test_classifying_route_mixes_both_wires(gw: Gateway, slm: Upstream, llm: Upstream) -> None:
    c = client(gw)
    ask = {"model": "auto", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
    small = c.messages.with_raw_response.create(**ask, extra_headers={"x-router-tier": "slm"})
    large = c.messages.with_raw_response.create(**ask, extra_headers={"x-router-tier": "llm"})
    assert (small.headers["x-router-route"], small.headers["x-router-model"]) == ("auto", "local")
    assert (large.headers["x-router-route"], large.headers["x-router-model"]) == ("auto", "claude")
    assert small.parse().model == "auto" and small.parse().content[0].text == "[slm] you said: hi"
    assert large.parse().id == "msg_1" and large.parse().content[0].text == "[llm] you said: hi"
    assert sent(slm)["path"] == "/v1/chat/completions" and sent(llm)["path"] == "/v1/messages"


@pytest.mark.parametrize("stream", [False, True])
def test_cascade_escalates_from_the_slm_to_claude(gw: Gateway, slm: Upstream, llm: Upstream, stream: bool) -> None:
    """A cascade judges chat answers, so it translates both ways; Claude is reached through litellm."""
    ask = {"model": "careful", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
    slm.control(reply="I'm sorry, I can't help with that.")
    if stream:
        seen = events(gw, ask)
        text = "".join(d["delta"].get("text", "") for n, d in seen if n == "content_block_delta")
        assert [n for n, _ in seen][-2:] == ["message_delta", "message_stop"]
    else:
        raw = client(gw).messages.with_raw_response.create(**ask)
        assert raw.headers["x-router-escalated"] == "true" and raw.headers["x-router-model"] == "claude"
        assert raw.parse().model == "careful"
        text = raw.parse().content[0].text
    assert text == "[llm] you said: hi"
    assert sent(slm)["path"] == "/v1/chat/completions"
    assert sent(llm)["path"] == "/v1/messages" and sent(llm)["headers"]["x-api-key"] == "sk-ant-policy"
    slm.control(reply="Hello! Happy to help.")
    kept = client(gw).messages.create(**ask)
    assert kept.content[0].text == "Hello! Happy to help." and kept.model == "careful"


def test_explain_sees_what_chat_would(gw: Gateway) -> None:
    hard = "Prove that there are infinitely many primes, step by step, and explain why the argument works."
    r = httpx.post(f"{gw.url}/router/explain", json={"model": "auto", "messages": [{"role": "user", "content": hard}]})
    decided = r.json()["decision"]
    raw = client(gw).messages.with_raw_response.create(model="auto", max_tokens=50, messages=[{"role": "user", "content": hard}])
    assert raw.headers["x-router-tier"] == decided["tier"] and raw.headers["x-router-reason"] == decided["reason"]


# --- errors, tenancy, count_tokens ---------------------------------------------------------------------


def test_unknown_model_is_anthropic_not_found(gw: Gateway) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        client(gw).messages.create(model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    body = info.value.body
    assert body["type"] == "error" and body["error"]["type"] == "not_found_error"
    assert "no-such-model" in body["error"]["message"]
    assert info.value.response.headers["request-id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "small", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"model": "small", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"model": "small", "max_tokens": 5, "messages": []}, "messages"),
        ({"model": "small", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}, "messages.0.role"),
        (
            {
                "model": "small",
                "max_tokens": 5,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "tool_result", "tool_use_id": "u"}]}
                        ],
                    }
                ],
            },
            "messages.0.content.0.content.0.type",
        ),
        (
            {"model": "small", "max_tokens": 5, "messages": [{"role": "user", "content": [{"text": "no type"}]}]},
            "messages.0.content.0.type",
        ),
        (
            {
                "model": "small",
                "max_tokens": 5,
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/tiff", "data": "x"}}],
                    }
                ],
            },
            "messages.0.content.0.source.media_type",
        ),
        (
            {
                "model": "small",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": [{"type": "tool_result", "content": "x"}]}],
            },
            "messages.0.content.0.tool_use_id",
        ),
        (
            {"model": "small", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "tools": [{"name": "t"}]},
            "tools.0.input_schema",
        ),
        (
            {"model": "small", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "tool_choice": {"type": "maybe"}},
            "tool_choice.type",
        ),
        (
            {"model": "small", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "system": [{"type": "image"}]},
            "system.0.type",
        ),
        (
            {"model": "small", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "stop_sequences": "END"},
            "stop_sequences",
        ),
    ],
)
def test_malformed_requests_are_anthropic_400s_naming_the_field(gw: Gateway, body: dict[str, Any], field: str) -> None:
    r = httpx.post(f"{gw.url}/v1/messages", json=body)
    assert r.status_code == 400
    error = r.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert error["error"]["message"].startswith(f"{field}:")
    assert error["request_id"] == r.headers["request-id"]


def test_sdk_raises_bad_request_for_malformed_blocks(gw: Gateway) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client(gw).messages.create(
            model="small", max_tokens=5, messages=[{"role": "user", "content": [{"type": "text", "text": 3}]}]
        )
    assert "messages.0.content.0.text" in info.value.message


def test_tenant_key_in_x_api_key(tenant_gw: Gateway, slm: Upstream) -> None:
    message = client(tenant_gw, "sk-acme-tenant").messages.create(
        model="small", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.content[0].text == "[slm] you said: hi"
    headers = sent(slm)["headers"]
    assert "x-api-key" not in {k.lower() for k in headers}  # the tenant's key never goes upstream
    assert headers["Authorization"] == "Bearer sk-slm"
    bearer = anthropic.Anthropic(base_url=tenant_gw.url, auth_token="sk-acme-tenant", max_retries=0)
    assert bearer.messages.create(model="small", max_tokens=5, messages=[{"role": "user", "content": "x"}]).content
    chat = {"model": "small", "messages": [{"role": "user", "content": "x"}]}  # one key header for every endpoint
    assert (
        httpx.post(f"{tenant_gw.url}/v1/chat/completions", json=chat, headers={"x-api-key": "sk-acme-tenant"}).status_code == 200
    )


def test_wrong_or_missing_key_is_anthropic_401(tenant_gw: Gateway) -> None:
    with pytest.raises(anthropic.AuthenticationError) as info:
        client(tenant_gw, "sk-wrong").messages.create(model="small", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert info.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "Incorrect API key provided."},
        "request_id": info.value.response.headers["request-id"],
    }
    r = httpx.post(
        f"{tenant_gw.url}/v1/messages/count_tokens", json={"model": "small", "messages": [{"role": "user", "content": "x"}]}
    )
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"


def test_rate_limit_is_anthropic_429_with_retry_after(tenant_gw: Gateway) -> None:
    c = client(tenant_gw, "sk-tiny-tenant")
    ask = {"model": "small", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    first = c.messages.with_raw_response.create(**ask)
    assert first.headers["x-ratelimit-limit-requests"] == "1"
    with pytest.raises(anthropic.RateLimitError) as info:
        c.messages.create(**ask)
    assert info.value.body["error"]["type"] == "rate_limit_error"
    assert int(info.value.response.headers["retry-after"]) >= 1


def test_tenant_cannot_reach_routes_outside_its_list(tenant_gw: Gateway) -> None:
    with pytest.raises(anthropic.NotFoundError):
        client(tenant_gw, "sk-acme-tenant").messages.create(
            model="auto", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )


def test_count_tokens(gw: Gateway) -> None:
    c = client(gw)
    short = c.messages.count_tokens(model="small", messages=[{"role": "user", "content": "hello"}])
    longer = c.messages.count_tokens(model="small", messages=[{"role": "user", "content": "hello " * 200}])
    with_tools = c.messages.count_tokens(
        model="small", messages=[{"role": "user", "content": "hello"}], tools=[WEATHER_TOOL], system="be brief"
    )
    assert 0 < short.input_tokens < longer.input_tokens
    assert 200 <= longer.input_tokens - short.input_tokens <= 210  # "hello " is one token in o200k_base
    assert with_tools.input_tokens > short.input_tokens + 10
    with pytest.raises(anthropic.NotFoundError):
        c.messages.count_tokens(model="nope", messages=[{"role": "user", "content": "x"}])


def test_count_tokens_matches_the_tokenizer(gw: Gateway) -> None:
    import tiktoken

    from router.classify.tokens import TokenCounter

    TokenCounter()  # points tiktoken at the shipped encodings
    text = "The quick brown fox jumps over the lazy dog, twice: the quick brown fox."
    n = client(gw).messages.count_tokens(model="small", messages=[{"role": "user", "content": text}]).input_tokens
    # one message: its text, 4 tokens of per-message overhead and 3 for the reply's priming
    assert n == len(tiktoken.get_encoding("o200k_base").encode(text)) + 4 + 3


# --- hostile input ------------------------------------------------------------------------------------


def test_body_fields_cannot_redirect_or_rekey_the_upstream(gw: Gateway, llm: Upstream, slm: Upstream) -> None:
    hostile = {
        "base_url": "http://evil.example",
        "api_base": "http://evil.example",
        "api_key": "sk-stolen",
        "extra_headers": {"x-evil": "1"},
        "headers": {"x-evil": "1"},
        "custom_llm_provider": "openai",
    }
    for model, up in (("claude", llm), ("small", slm)):
        r = httpx.post(
            f"{gw.url}/v1/messages",
            json={"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], **hostile},
            headers={"x-api-key": "sk-client", "anthropic-version": "2023-06-01", "x-evil": "1"},
        )
        assert r.status_code == 200, r.text
        request = sent(up)
        lowered = {k.lower(): v for k, v in request["headers"].items()}
        assert "x-evil" not in lowered
        assert lowered.get("x-api-key") in (None, "sk-ant-policy")
        assert lowered.get("authorization") in (None, "Bearer sk-slm")
        assert lowered["host"] == f"127.0.0.1:{up.port}"
    assert not set(hostile) & set(sent(slm)["body"])  # the translation carries only the fields it knows


def test_deep_nesting_is_a_400_not_a_crash(gw: Gateway) -> None:
    deep: Any = {}
    for _ in range(300):  # deeper than orjson writes, shallower than the reader refuses
        deep = {"a": deep}
    for model in ("small", "claude"):
        body = {
            "model": model,
            "max_tokens": 5,
            "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": deep}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
            ],
        }
        r = httpx.post(f"{gw.url}/v1/messages", json=body)
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error["message"] == "messages.1.content.0.input: JSON nested more than 100 levels deep"
    deepest = b"[" * 1000 + b"]" * 1000  # as deep as the reader takes, in a field only Anthropic would read
    raw = b'{"model": "claude", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}], "extra": ' + deepest + b"}"
    r = httpx.post(f"{gw.url}/v1/messages", content=raw, headers={"content-type": "application/json"})
    assert r.status_code in (200, 400) and r.json()["type"] in ("message", "error"), r.text  # never a crash
    raw = b'{"model": "small", "max_tokens": 5, "messages": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    r = httpx.post(f"{gw.url}/v1/messages", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["type"] == "error"


def test_oversized_body_is_anthropic_413(gw: Gateway) -> None:
    blocks = [{"type": "text", "text": "x" * 1000} for _ in range(300)]  # over the policy's 200 kB
    r = httpx.post(
        f"{gw.url}/v1/messages", json={"model": "small", "max_tokens": 5, "messages": [{"role": "user", "content": blocks}]}
    )
    assert r.status_code == 413
    assert r.json()["error"]["type"] == "request_too_large"
