"""The pipeline in process, on an in-memory upstream: the stages in order, the answer's and the error's
x-router-* headers, and the one record each request leaves, however it ends."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from router import pipeline
from router.classify.classifier import Classifier
from router.classify.tokens import TokenCounter
from router.dispatch.outcome import Attempted
from router.errors import BadRequest, RouterError
from router.gateway import Gateway
from router.hints import parse_hints
from router.policy.reload import PolicyHolder
from router.settings import Settings
from router.telemetry.batch import Batched
from router.telemetry.record import RequestRecord
from router.upstream.base import UpstreamStatus
from tests.support.fake_upstream import FakeUpstream, chat_reply, chunks

MODEL = {"endpoint": {"base_url": "http://127.0.0.1:9/v1", "model": "id"}, "timeouts": {"total": 5}}
POLICY = {
    "version": 1,
    "models": {
        "small": {**MODEL, "tier": "slm", "skills": ["code"]},
        "big": {**MODEL, "tier": "llm", "price": {"input_per_mtok": 1.0}},
    },
    "routes": {
        "auto": {"strategy": "classify", "tiers": {"slm": ["small"], "llm": ["big"]}, "threshold": 0.5, "fallback": ["big"]},
        "both": {"strategy": "fixed", "models": ["small"], "fallback": ["big"]},
        "careful": {"strategy": "cascade", "tiers": {"slm": ["small"], "llm": ["big"]}},
        "agent": {"strategy": "delegate", "core": "big", "experts": {"code": {"model": "small", "description": "codes"}}},
    },
    "server": {
        "scorer": "heuristic",
        "retries": {"attempts": 0},
        "breaker": {"consecutive_failures": 1000, "min_requests": 1000},
    },
}
ASK = [{"role": "user", "content": "hi"}]


class Records:
    def __init__(self) -> None:
        self.seen: list[RequestRecord] = []

    def observe(self, record: RequestRecord) -> None:
        self.seen.append(record)


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[Gateway, FakeUpstream, Records]]:
    path = tmp_path / "policy.yaml"
    path.write_text(json.dumps(POLICY))
    upstream, records = FakeUpstream({"small": [chat_reply("small says hi")], "big": [chat_reply("big says hi")]}), Records()
    gw = Gateway(
        Settings(path, access_log="off"), PolicyHolder(path), Classifier(TokenCounter()), upstream, reporting=Batched([records])
    )
    yield gw, upstream, records
    await gw.aclose()


def _reported(gw: Gateway, records: Records) -> RequestRecord:
    gw.flush_reports()
    assert len(records.seen) == 1, records.seen
    return records.seen[0]


async def test_an_answer_says_what_was_decided_and_is_accounted_once(setup: tuple[Gateway, FakeUpstream, Records]) -> None:
    gw, upstream, records = setup
    ctx = pipeline.new_context(gw, "req-1", {})
    result = await pipeline.generate(gw, ctx, {"model": "auto", "messages": ASK}, "chat/completions")
    h = result.headers
    assert (h["x-request-id"], h["x-router-route"], h["x-router-model"], h["x-router-tier"]) == ("req-1", "auto", "small", "slm")
    assert h["x-router-policy-version"] == ctx.policy.digest and h["x-router-fallbacks"] == "0"
    assert result.data is not None and result.data["choices"][0]["message"]["content"] == "small says hi"
    record = _reported(gw, records)
    assert (record.status, record.model, record.tried, record.reason) == (200, "small", ("small",), h["x-router-reason"])
    assert record.completion_tokens > 0 and record.tokens_estimated  # the fake gives no usage: counted
    assert upstream.calls[0][1]["model"] == "auto"  # the body as the client sent it; the upstream adapter renames


async def test_a_failed_request_raises_with_the_headers_and_is_accounted_with_what_was_tried(
    setup: tuple[Gateway, FakeUpstream, Records],
) -> None:
    gw, upstream, records = setup
    upstream.scripts = {"small": [UpstreamStatus(500, "down")], "big": [UpstreamStatus(503, "down too")]}
    ctx = pipeline.new_context(gw, "req-2", {})
    with pytest.raises(RouterError) as info:
        await pipeline.generate(gw, ctx, {"model": "both", "messages": ASK}, "chat/completions")
    h = info.value.headers
    assert (info.value.status, h["x-router-route"], h["x-router-model"], h["x-router-fallbacks"]) == (502, "both", "big", "1")
    record = _reported(gw, records)
    assert (record.status, record.model, record.tried, record.fallbacks) == (502, None, ("small", "big"), 1)


async def test_an_error_before_the_decision_names_the_route_and_nothing_tried(
    setup: tuple[Gateway, FakeUpstream, Records],
) -> None:
    gw, upstream, records = setup
    ctx = pipeline.new_context(gw, "req-3", {})
    with pytest.raises(BadRequest) as info:
        await pipeline.generate(gw, ctx, {"model": "auto", "messages": ASK, "n": 1000}, "chat/completions")
    assert info.value.headers["x-router-route"] == "auto" and "x-router-model" not in info.value.headers
    assert (_reported(gw, records).status, upstream.calls) == (400, [])


async def test_a_stream_is_accounted_when_it_ends(setup: tuple[Gateway, FakeUpstream, Records]) -> None:
    gw, upstream, records = setup
    upstream.scripts = {"small": [chunks("hel", "lo")], "big": [chunks("never")]}
    ctx = pipeline.new_context(gw, "req-4", {})
    result = await pipeline.generate(gw, ctx, {"model": "auto", "messages": ASK, "stream": True}, "chat/completions")
    assert result.stream is not None and result.headers["x-router-model"] == "small"
    gw.flush_reports()
    assert records.seen == []  # not before it ends
    body = b"".join([chunk async for chunk in result.stream])
    assert b"hel" in body and body.endswith(b"data: [DONE]\n\n")
    record = _reported(gw, records)
    assert (record.stream, record.interrupted, record.model) == (True, False, "small")


async def test_a_cascade_that_escalates_says_so(setup: tuple[Gateway, FakeUpstream, Records]) -> None:
    gw, upstream, records = setup
    upstream.scripts = {"small": [chat_reply("I'm sorry, I can't do that.")], "big": [chat_reply("Here it is.")]}
    ctx = pipeline.new_context(gw, "req-5", {})
    result = await pipeline.generate(gw, ctx, {"model": "careful", "messages": ASK}, "chat/completions")
    assert (result.headers["x-router-model"], result.headers["x-router-escalated"]) == ("big", "true")
    assert result.data is not None and result.data["model"] == "careful"  # renamed to what the client asked for
    record = _reported(gw, records)
    assert (record.escalated, record.escalation_reason, record.tried) == (True, "refusal", ("small", "big"))
    assert record.cost_usd > 0  # priced on the model that answered


def test_router_headers_say_only_what_is_known(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(json.dumps(POLICY))
    policy = PolicyHolder(path).current
    ctx = pipeline.RequestContext("rid", parse_hints({}), policy, response_headers={"x-ratelimit-remaining-requests": "9"})
    early = pipeline.router_headers(ctx, "auto", None, None, Attempted(), {"retry-after": "2", "x-request-id": "upstream's"})
    assert early == {
        "retry-after": "2",
        "x-request-id": "rid",  # the gateway's own win over the upstream's
        "x-router-route": "auto",
        "x-router-policy-version": policy.digest,
        "x-ratelimit-remaining-requests": "9",
    }


async def test_a_delegate_route_whose_core_fails_says_what_its_walk_tried(setup: tuple[Gateway, FakeUpstream, Records]) -> None:
    gw, upstream, records = setup
    upstream.scripts = {"small": [chat_reply("never")], "big": [UpstreamStatus(500, "down")]}
    ctx = pipeline.new_context(gw, "req-6", {})
    with pytest.raises(RouterError) as info:
        await pipeline.generate(gw, ctx, {"model": "agent", "messages": ASK}, "chat/completions")
    assert (info.value.status, info.value.headers["x-router-model"]) == (502, "big")
    record = _reported(gw, records)
    assert (record.status, record.tried, record.route) == (502, ("big",), "agent")
