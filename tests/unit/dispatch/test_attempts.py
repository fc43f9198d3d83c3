"""The attempt walk, in process, on an in-memory upstream: order, fallback, retries, the request's own
faults, timeouts after acceptance, and models that cannot be called for want of a key."""

from __future__ import annotations

import random

import pytest

from router.dispatch.attempts import SHOULD_RETRY, dispatch, dispatch_plain
from router.dispatch.outcome import Attempted
from router.dispatch.reliability import retry_delay
from router.errors import RouterError, UpstreamError, UpstreamTimeout
from router.policy.schema import RetrySpec
from router.upstream.base import AcceptedTimeout, Reply, UpstreamStatus
from router.upstream.keys import MissingKey
from tests.support.fake_upstream import FakeUpstream, call, chat_reply, chunks, guard, target

A, B = target("a"), target("b", tier="llm")


def test_retry_delay_follows_the_error() -> None:
    spec, rng = RetrySpec(attempts=3, base_delay_s=0.1, max_delay_s=1.0), random.Random(1)
    assert retry_delay(spec, 0, UpstreamTimeout("slow"), rng) is None  # a slow model is left for the next one
    assert retry_delay(spec, 0, UpstreamStatus(400, "bad"), rng) is None
    assert retry_delay(spec, 0, UpstreamStatus(429, "later", retry_after=0.5), rng) == 0.5
    assert retry_delay(spec, 0, UpstreamStatus(429, "much later", retry_after=5.0), rng) is None  # beyond max_delay_s
    delays = [retry_delay(spec, tries, UpstreamStatus(503, "down"), rng) for tries in (0, 1, 5) for _ in range(50)]
    assert all(d is not None and 0 <= d <= 1.0 for d in delays)
    assert max(d for d in delays[:50] if d is not None) <= 0.1  # full jitter under base * 2**tries
    assert retry_delay(spec, 0, UpstreamError("connection lost"), rng) is not None  # bad_gateway: retried
    assert retry_delay(spec, 0, UpstreamError("odd", code="other"), rng) is None


async def test_the_first_model_that_answers_is_used_and_the_walk_is_recorded() -> None:
    up = FakeUpstream({"a": [UpstreamStatus(500, "down")], "b": [chat_reply("hello")]})
    attempted = Attempted()
    outcome = await dispatch(call(up, [A, B]), attempted)
    assert outcome.target is B and isinstance(outcome.answer, Reply)
    assert outcome.answer.data["choices"][0]["message"]["content"] == "hello"
    assert outcome.attempted is attempted
    assert (attempted.tried, attempted.fallbacks, attempted.retries) == (["a", "b"], 1, 0)


async def test_a_retryable_failure_is_retried_on_the_same_model() -> None:
    up = FakeUpstream({"a": [UpstreamStatus(503, "busy"), chat_reply("ok")], "b": [chat_reply("never")]})
    done = await dispatch_plain(call(up, [A, B], guard=guard(attempts=1)))
    assert done.target is A and up.tried() == ["a", "a"]
    assert (done.attempted.retries, done.attempted.fallbacks, done.attempted.tried) == (1, 0, ["a"])


async def test_when_every_model_fails_the_callers_record_still_says_what_was_tried() -> None:
    up = FakeUpstream({"a": [UpstreamStatus(500, "down")], "b": [UpstreamStatus(502, "also down")]})
    attempted = Attempted()
    with pytest.raises(UpstreamError) as info:
        await dispatch(call(up, [A, B]), attempted)
    assert "every candidate failed" in info.value.message and info.value.headers[SHOULD_RETRY] == "false"
    assert (attempted.tried, attempted.fallbacks, attempted.retries) == (["a", "b"], 1, 0)


async def test_the_requests_own_fault_goes_back_at_once_with_the_upstreams_error() -> None:
    fault = UpstreamStatus(422, "bad field", error_type="invalid_request_error", param="top_p", code="bad")
    up = FakeUpstream({"a": [fault], "b": [chat_reply("never")]})
    with pytest.raises(RouterError) as info:
        await dispatch(call(up, [A, B]), Attempted())
    assert (info.value.status, info.value.param, info.value.code) == (422, "top_p", "bad")
    assert up.tried() == ["a"]


async def test_a_timeout_after_acceptance_is_not_tried_elsewhere_unless_the_policy_says_so() -> None:
    up = FakeUpstream({"a": [AcceptedTimeout("took it, then nothing")], "b": [chat_reply("second")]})
    with pytest.raises(AcceptedTimeout) as info:
        await dispatch(call(up, [A, B]), Attempted())
    assert info.value.headers[SHOULD_RETRY] == "false" and up.tried() == ["a"]
    outcome = await dispatch(call(up, [A, B], guard=guard(fallback_after_timeout=True)), Attempted())
    assert outcome.target is B


async def test_a_model_on_a_hosted_api_without_a_key_is_never_called() -> None:
    hosted = target("hosted", tier="llm", base_url="https://api.openai.com/v1")
    up = FakeUpstream({"hosted": [chat_reply("never")], "a": [chat_reply("local")]})
    attempted = Attempted()
    outcome = await dispatch(call(up, [hosted, A]), attempted)
    assert outcome.target is A and up.tried() == ["a"]
    assert attempted.fallbacks == 0  # skipped, like a full model: not a failure of the model
    with pytest.raises(MissingKey) as info:
        await dispatch(call(up, [hosted]), Attempted())
    assert "OPENAI_API_KEY" in info.value.message and info.value.status == 503


async def test_a_stream_is_committed_on_its_first_chunk_and_relayed_in_whole_events() -> None:
    up = FakeUpstream({"a": [UpstreamStatus(500, "down")], "b": [chunks("hel", "lo")]})
    outcome = await dispatch(call(up, [A, B], {"messages": [], "stream": True}), Attempted())
    assert outcome.target is B and not isinstance(outcome.answer, Reply)
    relayed = b"".join([c async for c in outcome.answer])
    assert relayed == b"".join(chunks("hel", "lo"))
    assert up.streams[-1].closed  # the relay closes the upstream's stream when it ends
