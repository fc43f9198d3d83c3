"""Reading conversations: last user turn, context, tool output left out, never raises."""

from __future__ import annotations

from typing import Any

import pytest

from router.classify.classifier import Classifier
from router.classify.heuristic import HeuristicScorer
from router.classify.tokens import TokenCounter
from router.classify.view import read_conversation


def test_prompt_is_last_user_turn_and_context_the_rest() -> None:
    v = read_conversation(
        [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "text", "text": "question"}]},
        ]
    )
    assert v.prompt == "second\nquestion"
    assert v.context == "You are terse.\nfirst question\nfirst answer"
    assert not v.has_images


def test_tool_results_and_file_dumps_are_not_scored_but_counted() -> None:
    dump = "```python\n" + "x = 1\n" * 200 + "```"
    v = read_conversation(
        [
            {"role": "user", "content": "fix the bug"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "1", "type": "function", "function": {"name": "read", "arguments": '{"path": "a.py"}'}}],
            },
            {"role": "tool", "tool_call_id": "1", "content": "TOOL OUTPUT " * 500},
            {"role": "user", "content": "here is the file:\n" + dump + "\nwhy does it fail?"},
        ]
    )
    assert "TOOL OUTPUT" not in v.prompt + v.context
    assert "x = 1" not in v.prompt and "[snippet]" in v.prompt and "why does it fail?" in v.prompt
    assert "TOOL OUTPUT" in v.all_text and "a.py" in v.all_text


@pytest.mark.parametrize(
    "messages",
    [
        [],
        [{"role": "system", "content": "only system"}],
        [{"role": "user", "content": None}],
        [{"role": "user"}, "not a dict", 5, None],
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:..."}}]}],
        [{"role": "user", "content": "x" * 3_000_000}],
        [{"role": "user", "content": "\ud800 lone surrogate and <|endoftext|>"}],
    ],
)
def test_classifier_never_raises(messages: list[Any]) -> None:
    c = Classifier(TokenCounter()).classify({"model": "auto", "messages": messages}, HeuristicScorer())
    assert 0 <= c.scores.p_strong <= 1
    assert c.prompt_tokens >= 0


def test_images_are_detected_and_only_system_is_judged() -> None:
    c = Classifier(TokenCounter())
    img = c.classify({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}]}, None)
    assert img.has_images
    v = read_conversation([{"role": "system", "content": "Prove the theorem."}])
    assert v.prompt == "Prove the theorem."


def test_token_count_covers_whole_conversation_and_tools() -> None:
    c = Classifier(TokenCounter())
    short = c.classify({"messages": [{"role": "user", "content": "hi"}]}, None)
    tools = [{"type": "function", "function": {"name": "lookup_customer_record", "parameters": {"type": "object"}}}]
    longer = c.classify(
        {"messages": [{"role": "system", "content": "be nice " * 50}, {"role": "user", "content": "hi"}], "tools": tools}, None
    )
    assert longer.prompt_tokens > short.prompt_tokens + 100
    assert longer.needs_tools and not short.needs_tools
    assert c.classify({"messages": [], "max_tokens": 77}, None).expected_output_tokens == 77
