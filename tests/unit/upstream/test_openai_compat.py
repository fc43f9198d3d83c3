"""The fast path against httpx.MockTransport: what is sent (only model parameters, the upstream's id,
the endpoint's key), and how each answer comes back (a reply, an upstream error with its fields, a
timeout, an unreachable server, a stream)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from router.errors import UpstreamError
from router.policy.schema import ModelSpec
from router.upstream.base import AcceptedTimeout, Target, UpstreamStatus
from router.upstream.openai_compat import OpenAICompatUpstream


def _keyed() -> Target:
    spec = ModelSpec.model_validate(
        {"tier": "llm", "endpoint": {"base_url": "http://up.test/v1", "model": "gpt-x", "api_key": "sk-secret-123456"}}
    )
    return Target("hosted", spec, "gpt-x")


def _upstream(handler: Callable[[httpx.Request], httpx.Response]) -> tuple[OpenAICompatUpstream, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return OpenAICompatUpstream(httpx.MockTransport(record)), seen


async def test_only_model_parameters_reach_the_upstream_with_its_id_and_key() -> None:
    answer = {"object": "chat.completion", "choices": [{"message": {"content": "hi"}}]}
    up, seen = _upstream(
        lambda r: httpx.Response(200, json=answer, headers={"x-ratelimit-remaining-requests": "7", "x-other": "no"})
    )
    body = {
        "model": "auto",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.1,
        "api_base": "http://evil",
        "api_key": "x",
    }
    reply = await up.complete(_keyed(), "chat/completions", body)
    sent = json.loads(seen[0].content)
    assert str(seen[0].url) == "http://up.test/v1/chat/completions"
    assert sent == {"model": "gpt-x", "messages": body["messages"], "temperature": 0.1}  # no connection settings
    assert seen[0].headers["authorization"] == "Bearer sk-secret-123456"
    assert reply.data == answer and dict(reply.headers) == {"x-ratelimit-remaining-requests": "7"}


async def test_an_upstream_error_keeps_its_status_fields_and_retry_after_without_the_key() -> None:
    error = {"error": {"message": "slow down, key sk-secret-123456", "type": "rate_limit_error", "param": None, "code": "rl"}}
    up, _ = _upstream(lambda r: httpx.Response(429, json=error, headers={"retry-after": "2"}))
    with pytest.raises(UpstreamStatus) as info:
        await up.complete(_keyed(), "chat/completions", {"messages": []})
    e = info.value
    assert (e.upstream_status, e.upstream_type, e.upstream_code, e.retry_after) == (429, "rate_limit_error", "rl", 2.0)
    assert "sk-secret-123456" not in e.upstream_message and e.headers["retry-after"] == "2"


async def test_garbage_timeouts_and_lost_connections_become_the_gateways_errors() -> None:
    up, _ = _upstream(lambda r: httpx.Response(200, content=b"<html>"))
    with pytest.raises(UpstreamError, match="not JSON"):
        await up.complete(_keyed(), "chat/completions", {"messages": []})

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read", request=request)

    with pytest.raises(AcceptedTimeout):
        await _upstream(timeout)[0].complete(_keyed(), "chat/completions", {"messages": []})

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(UpstreamError, match="unreachable") as info:
        await _upstream(refused)[0].complete(_keyed(), "chat/completions", {"messages": []})
    assert "up.test" not in info.value.message


async def test_a_stream_passes_the_bytes_as_they_come() -> None:
    events = [b'data: {"choices":[{"delta":{"content":"a"}}]}\n\n', b"data: [DONE]\n\n"]
    up, seen = _upstream(lambda r: httpx.Response(200, content=b"".join(events)))
    stream = await up.open_stream(_keyed(), "chat/completions", {"messages": [], "stream": True})
    assert b"".join([chunk async for chunk in stream]) == b"".join(events)
    await stream.aclose()
    assert json.loads(seen[0].content)["stream"] is True
