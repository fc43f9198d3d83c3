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
