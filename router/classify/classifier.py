"""classify(request) -> Classification: every judgement `decide` needs, pure CPU, no model call."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from router.classify.kind import task_kind
from router.classify.scores import Scorer, Scores
from router.classify.tokens import TokenCounter
from router.classify.view import ConversationView, read_conversation

DEFAULT_OUTPUT_TOKENS = 256  # expected completion length when the caller sets no max_tokens


@dataclass(frozen=True, slots=True)
class Classification:
    scores: Scores
    scorer: str
    prompt_tokens: int
    expected_output_tokens: int
    needs_tools: bool
    needs_json: bool
    wants_logprobs: bool
    has_images: bool
    stream: bool
    elapsed_ms: float
    task_kind: str = "chat"  # code, math, vision, chat, ...: which expert a route may pick

    def as_dict(self) -> dict[str, Any]:
        return {
            "p_strong": self.scores.p_strong,
            "reasoning": self.scores.reasoning,
            "knowledge": self.scores.knowledge,
            "scorer": self.scorer,
            "prompt_tokens": self.prompt_tokens,
            "expected_output_tokens": self.expected_output_tokens,
            "needs_tools": self.needs_tools,
            "needs_json": self.needs_json,
            "has_images": self.has_images,
            "stream": self.stream,
            "task_kind": self.task_kind,
            "elapsed_ms": round(self.elapsed_ms, 4),
        }


def _expected_output(body: dict[str, Any]) -> int:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return DEFAULT_OUTPUT_TOKENS


def _tools_text(body: dict[str, Any]) -> str:
    tools = body.get("tools")
    return str(tools) if tools else ""


class Classifier:
    """Holds the token counter; `classify` itself keeps no state between calls."""

    def __init__(self, counter: TokenCounter) -> None:
        self.counter = counter

    def view(self, body: dict[str, Any]) -> ConversationView:
        messages = body.get("messages")
        if isinstance(messages, list):
            return read_conversation(messages)
        prompt = body.get("prompt")  # legacy completions
        text = prompt if isinstance(prompt, str) else " ".join(p for p in prompt or () if isinstance(p, str))
        return read_conversation([{"role": "user", "content": text}])

    def classify(self, body: dict[str, Any], scorer: Scorer | None) -> Classification:
        """Judge `body`; with no scorer (routes that do not classify) only sizes and shape are read."""
        started = time.perf_counter()
        view = self.view(body)
        scores = scorer.score(view.prompt, view.context) if scorer is not None else Scores(0.0, 0.0, 0.0)
        tokens = self.counter.count_chat(view.all_text, view.turns)
        tools = _tools_text(body)
        if tools:
            tokens += self.counter.count(tools)
        fmt = body.get("response_format")
        return Classification(
            scores=scores,
            scorer=scorer.name if scorer is not None else "none",
            prompt_tokens=tokens,
            expected_output_tokens=_expected_output(body),
            needs_tools=bool(body.get("tools") or body.get("functions")),
            needs_json=isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"),
            wants_logprobs=bool(body.get("logprobs")),
            has_images=view.has_images,
            stream=body.get("stream") is True,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            task_kind=task_kind(view.prompt, view.has_images),
        )
