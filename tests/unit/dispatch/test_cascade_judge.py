"""The cascade: its judge over answers (pure) and the strategy around the dispatcher, in process."""

from __future__ import annotations

import orjson
import pytest

from router.dispatch.cascade import cascade
from router.dispatch.judge import Answer, add_chunk, answer_from_reply, judge
from router.dispatch.outcome import Attempted
from router.policy.schema import CascadeSpec
from router.upstream.base import Reply, Target, UpstreamStatus
from tests.support.fake_upstream import FakeUpstream, call, chat_reply, chunks, target

SPEC = CascadeSpec()
ASK = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("reply", "request_extra", "weak", "reason"),
    [
        (chat_reply("Paris is the capital."), {}, False, "ok"),
        (chat_reply("Paris", finish_reason="length"), {}, True, "length"),
        (chat_reply("   "), {}, True, "empty"),
        (chat_reply("I'm sorry, I can't help with that."), {}, True, "refusal"),
        (chat_reply("As an AI language model I know"), {}, True, "refusal"),
        (chat_reply("not json"), {"response_format": {"type": "json_object"}}, True, "json"),
        (chat_reply('{"a": 1}'), {"response_format": {"type": "json_object"}}, False, "ok"),
        (
            chat_reply('{"a": "x"}'),
            {"response_format": {"type": "json_schema", "json_schema": {"schema": {"properties": {"a": {"type": "integer"}}}}}},
            True,
            "schema",
        ),
    ],
)
def test_the_judge_reads_a_plain_answer(
    reply: dict[str, object], request_extra: dict[str, object], weak: bool, reason: str
) -> None:
    verdict = judge(answer_from_reply(reply), {**ASK, **request_extra}, SPEC)
    assert (verdict.weak, verdict.reason) == (weak, reason)


def test_the_judge_reads_log_probabilities_and_tool_calls() -> None:
    low = Answer(text="maybe", logprobs=[-3.0, -2.0], finish_reason="stop")
    assert judge(low, ASK, SPEC).reason == "logprob" and judge(low, ASK, SPEC).mean_logprob == -2.5
    tools = {**ASK, "tools": [{"type": "function", "function": {"name": "lookup"}}]}
    good = Answer(tool_calls=[{"function": {"name": "lookup", "arguments": '{"q": 1}'}}], finish_reason="tool_calls")
    unknown = Answer(tool_calls=[{"function": {"name": "other", "arguments": "{}"}}], finish_reason="tool_calls")
    assert judge(good, tools, SPEC).weak is False and judge(unknown, tools, SPEC).reason == "tool_calls"


def test_a_streaming_window_is_judged_only_on_what_a_prefix_can_show() -> None:
    answer = Answer()
    for event in ({"choices": [{"delta": {"content": "Par"}}]}, {"choices": [{"delta": {"content": "is"}}]}, {"choices": 5}):
        add_chunk(answer, event)
    assert answer.text == "Paris"
    assert judge(answer, ASK, SPEC, complete=False).weak is False  # no finish reason yet: not "empty", not "length"


def _pair(logprobs: bool = False) -> tuple[Target, Target]:
    slm = target("slm", capabilities={"logprobs": logprobs})
    return slm, target("llm", tier="llm")


async def test_a_good_slm_answer_is_kept() -> None:
    up = FakeUpstream({"slm": [chat_reply("Paris.")], "llm": [chat_reply("never")]})
    outcome = await cascade(call(up, _pair()), SPEC, Attempted())
    assert outcome.target.name == "slm" and (outcome.escalated, outcome.escalation_reason) == (False, "ok")
    assert outcome.headers["x-router-escalated"] == "false" and up.tried() == ["slm"]


async def test_a_weak_or_failed_slm_answer_goes_to_the_llm_and_the_walk_says_both() -> None:
    for slm_step, reason in ((chat_reply("I'm sorry, I cannot."), "refusal"), (UpstreamStatus(500, "down"), "slm_failed")):
        up = FakeUpstream({"slm": [slm_step], "llm": [chat_reply("Paris.")]})
        attempted = Attempted()
        outcome = await cascade(call(up, _pair()), SPEC, attempted)
        assert outcome.target.name == "llm" and (outcome.escalated, outcome.escalation_reason) == (True, reason)
        assert outcome.headers["x-router-escalation-reason"] == reason and attempted.tried == ["slm", "llm"]


async def test_logprobs_the_gateway_asked_for_are_removed_again() -> None:
    reply = chat_reply("Paris.", logprobs={"content": [{"token": "Paris", "logprob": -0.01}]})
    up = FakeUpstream({"slm": [reply], "llm": [chat_reply("never")]})
    outcome = await cascade(call(up, _pair(logprobs=True)), SPEC, Attempted())
    assert up.calls[0][1]["logprobs"] is True  # asked for, to judge
    assert isinstance(outcome.answer, Reply) and "logprobs" not in orjson.loads(outcome.answer.body)["choices"][0]
    assert outcome.headers["x-router-slm-mean-logprob"] == "-0.0100"


async def test_a_held_stream_is_judged_before_any_byte_is_committed() -> None:
    up = FakeUpstream({"slm": [chunks("I'm sorry, ", "I can't")], "llm": [chunks("Par", "is")]})
    outcome = await cascade(call(up, _pair(), {**ASK, "stream": True}), SPEC, Attempted())
    assert outcome.target.name == "llm" and outcome.escalation_reason == "refusal" and not isinstance(outcome.answer, Reply)
    assert b"".join([c async for c in outcome.answer]) == b"".join(chunks("Par", "is"))
    assert up.streams[0].closed  # the rejected SLM stream was closed, never relayed
