"""An agent framework on the Responses API: the OpenAI Agents SDK runs an agent with a function tool
through the gateway, against a chat-only upstream that first calls the tool and then answers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai import AsyncOpenAI

from tests.integration.test_responses_api import rgw  # noqa: F401  (the gateway fixture)
from tests.support.procs import Gateway, Upstream

agents = pytest.importorskip("agents")
ANSWER = "It is sunny and 24 C in Lisbon."
QUESTION = "What is the weather in Lisbon?"


def weather_agent(gw: Gateway, llm: Upstream, calls: list[str]) -> Any:
    agents.set_tracing_disabled(True)

    @agents.function_tool
    def get_weather(city: str) -> str:
        """The current weather in a city."""
        calls.append(city)
        return f"sunny and 24 C in {city}"

    llm.control(
        script=[{"tool_calls": [{"name": "get_weather", "arguments": json.dumps({"city": "Lisbon"})}]}, {"reply": ANSWER}]
    )
    client = AsyncOpenAI(base_url=gw.base_url, api_key="not-needed", max_retries=0)
    model = agents.OpenAIResponsesModel(model="gpt-4o", openai_client=client)
    return agents.Agent(name="weather", instructions="Answer with the tool's help.", tools=[get_weather], model=model)


def check_upstream_saw_the_tool_loop(llm: Upstream) -> None:
    sent = [r["body"] for r in llm.received() if r["path"] == "/v1/chat/completions"]
    assert len(sent) == 2
    assert sent[0]["tools"][0]["function"]["name"] == "get_weather"
    assert sent[0]["messages"][0] == {"role": "system", "content": "Answer with the tool's help."}
    turn = sent[1]["messages"]
    assert turn[-2]["role"] == "assistant" and turn[-2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert turn[-1] == {"role": "tool", "tool_call_id": turn[-2]["tool_calls"][0]["id"], "content": "sunny and 24 C in Lisbon"}


def test_agent_runs_a_function_tool_through_the_gateway(rgw: Gateway, llm: Upstream) -> None:  # noqa: F811
    calls: list[str] = []
    result = agents.Runner.run_sync(weather_agent(rgw, llm, calls), QUESTION)
    assert result.final_output == ANSWER and calls == ["Lisbon"]
    check_upstream_saw_the_tool_loop(llm)


async def test_streamed_agent_run(rgw: Gateway, llm: Upstream) -> None:  # noqa: F811
    calls: list[str] = []
    run = agents.Runner.run_streamed(weather_agent(rgw, llm, calls), QUESTION)
    kinds = [event.type async for event in run.stream_events()]
    assert "raw_response_event" in kinds and "run_item_stream_event" in kinds
    assert run.final_output == ANSWER and calls == ["Lisbon"]
    check_upstream_saw_the_tool_loop(llm)
