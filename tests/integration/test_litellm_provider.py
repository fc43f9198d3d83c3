"""A provider that does not speak the OpenAI wire (Anthropic's Messages API) reached through litellm,
served by a real HTTP server on 127.0.0.1; the client still sees the OpenAI format."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.support.procs import Gateway, Upstream, start_gateway


@pytest.fixture(scope="module")
def claude_gateway(llm: Upstream, slm: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    policy = {
        "version": 1,
        "models": {
            "claude": {
                "tier": "llm",
                "endpoint": {
                    "provider": "anthropic",
                    "base_url": f"http://127.0.0.1:{llm.port}",
                    "model": "claude-sonnet-x",
                    "api_key": "${ANTHROPIC_KEY}",
                },
                "timeouts": {"connect": 2, "first_token": 10, "idle": 5, "total": 20},
            },
            "local": {"tier": "slm", "endpoint": {"base_url": slm.base_url, "model": "phi"}},
        },
        "routes": {"claude": {"strategy": "fixed", "models": ["claude"]}},
        "server": {"scorer": "heuristic"},
    }
    gw = start_gateway(json.dumps(policy), Path(tmp_path_factory.mktemp("claude")), env={"ANTHROPIC_KEY": "sk-ant-secret"})
    yield gw
    gw.stop()


def test_anthropic_through_litellm_plain(claude_gateway: Gateway, llm: Upstream) -> None:
    client = openai.OpenAI(base_url=claude_gateway.base_url, api_key="x", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="claude", messages=[{"role": "user", "content": "hello claude"}], max_tokens=50
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "[llm] you said: hello claude"
    assert completion.usage is not None and completion.usage.completion_tokens == 5
    assert raw.headers["x-router-model"] == "claude"
    sent = llm.received()[-1]
    assert sent["path"] == "/v1/messages"  # Anthropic's wire, not OpenAI's
    assert sent["headers"]["x-api-key"] == "sk-ant-secret"
    assert sent["body"]["model"] == "claude-sonnet-x" and sent["body"]["max_tokens"] == 50


def test_anthropic_through_litellm_streaming(claude_gateway: Gateway) -> None:
    client = openai.OpenAI(base_url=claude_gateway.base_url, api_key="x", max_retries=0)
    stream = client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "stream it"}], stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "[llm] you said: stream it"


def test_provider_errors_map_to_openai_shape(claude_gateway: Gateway, llm: Upstream) -> None:
    llm.control(mode="status", status=500)
    client = openai.OpenAI(base_url=claude_gateway.base_url, api_key="x", max_retries=0)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 502
    assert "sk-ant-secret" not in claude_gateway.logs()


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "the weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def test_anthropic_through_litellm_keeps_tools(claude_gateway: Gateway, llm: Upstream) -> None:
    llm.control(tool_calls=[{"name": "get_weather", "arguments": '{"city": "Paris"}'}])
    client = openai.OpenAI(base_url=claude_gateway.base_url, api_key="x", max_retries=0)
    completion = client.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[WEATHER],
        tool_choice="required",
        max_tokens=50,
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [("get_weather", {"city": "Paris"})]
    body = llm.received()[-1]["body"]
    assert [(t["name"], t["input_schema"]) for t in body["tools"]] == [("get_weather", WEATHER["function"]["parameters"])]
    assert body["tool_choice"]["type"] == "any"

    llm.control(reply="sunny")
    follow_up = client.chat.completions.create(
        model="claude",
        messages=[
            {"role": "user", "content": "weather in Paris?"},
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny, 24C"},
        ],
        tools=[WEATHER],
        max_tokens=50,
    )
    assert follow_up.choices[0].message.content == "sunny"
    sent = llm.received()[-1]["body"]["messages"]
    assert [b["type"] for b in sent[1]["content"]][-1] == "tool_use"
    assert sent[2]["content"][0]["type"] == "tool_result" and sent[2]["content"][0]["tool_use_id"] == calls[0].id


def test_anthropic_through_litellm_streams_tool_calls(claude_gateway: Gateway, llm: Upstream) -> None:
    llm.control(tool_calls=[{"name": "get_weather", "arguments": '{"city": "Oslo"}'}])
    client = openai.OpenAI(base_url=claude_gateway.base_url, api_key="x", max_retries=0)
    stream = client.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "weather in Oslo?"}],
        tools=[WEATHER],
        stream=True,
        max_tokens=50,
    )
    names: dict[int, str] = {}
    arguments: dict[int, str] = {}
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                if call.function and call.function.name:
                    names[call.index] = call.function.name
                if call.function and call.function.arguments:
                    arguments[call.index] = arguments.get(call.index, "") + call.function.arguments
            finish = choice.finish_reason or finish
    assert list(names.values()) == ["get_weather"]
    assert [json.loads(a) for a in arguments.values()] == [{"city": "Oslo"}]
    assert finish == "tool_calls"
    assert llm.received()[-1]["body"]["stream"] is True
