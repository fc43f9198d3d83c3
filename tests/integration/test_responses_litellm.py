"""/v1/responses to a model behind litellm (Anthropic's Messages API on a real HTTP server): translated to
chat completions like any chat-only upstream, plain and streamed."""

from __future__ import annotations

import openai

from tests.integration.test_litellm_provider import claude_gateway  # noqa: F401  (the gateway fixture)
from tests.support.procs import Gateway, Upstream


def test_responses_through_litellm(claude_gateway: Gateway, llm: Upstream) -> None:  # noqa: F811
    client = openai.OpenAI(base_url=claude_gateway.base_url, api_key="x", max_retries=0)
    response = client.responses.create(model="claude", input="hello claude", instructions="be nice", max_output_tokens=50)
    assert response.output_text == "[llm] you said: hello claude" and response.model == "claude"
    assert response.usage is not None and response.usage.output_tokens == 5
    sent = llm.received()[-1]
    assert sent["path"] == "/v1/messages" and sent["body"]["max_tokens"] == 50
    assert "be nice" in str(sent["body"].get("system"))
    events = list(client.responses.create(model="claude", input="stream it", stream=True, previous_response_id=response.id))
    assert events[-1].type == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "[llm] you said: stream it"
    assert [m["role"] for m in llm.received()[-1]["body"]["messages"]] == ["user", "assistant", "user"]
