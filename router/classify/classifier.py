"""classify(request) -> Classification: every judgement `decide` needs, pure CPU, no model call."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from router.classify import signals
from router.classify.scores import Judgement, Scorer, Scores
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
    has_images: bool
    stream: bool
    elapsed_ms: float
    # which expert a route may pick: code, math, reasoning, extraction, writing, roleplay, knowledge, chat or
    # general (decide treats a request with images as "vision" whatever its text asks)
    task_kind: str = "chat"
    language: str = "und"  # the language of the judged text (ISO 639-1)
    signals: dict[str, float] | None = None  # each signal's value, when the scorer reads signals
    contributions: dict[str, float] | None = None  # each signal's share of the p_strong logit
    judged_on: str = "prompt"  # or "conversation": earlier user turns set the difficulty

    def as_dict(self, explain: bool = True) -> dict[str, Any]:
        """The JSON shape of explain; without `explain`, the per-signal detail is left out (one line per
        request of `router classify` stays short)."""
        out = {
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
            "elapsed_ms": round(self.elapsed_ms, 4),
            "language": self.language,
            "task_kind": self.task_kind,
            "judged_on": self.judged_on,
        }
        if explain:
            out["signals"] = _rounded(self.signals)
            out["contributions"] = _rounded(self.contributions)
        return out


def _rounded(values: dict[str, float] | None) -> dict[str, float] | None:
    return None if values is None else {k: round(v, 4) for k, v in values.items()}


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
        judgement = _judge(scorer, view)
        scores = judgement.scores
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
            has_images=view.has_images,
            stream=body.get("stream") is True,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            language=judgement.language,
            task_kind=judgement.task_kind,
            signals=judgement.signals or None,
            contributions=judgement.contributions or None,
            judged_on=judgement.judged_on,
        )


def _judge(scorer: Scorer | None, view: ConversationView) -> Judgement:
    """The scorer's judgement of the latest user turn in the light of the earlier ones; a scorer that
    only scores (the heuristic) still gets the language and task kind read from the text."""
    judge = getattr(scorer, "judge", None)
    if callable(judge):
        result: Judgement = judge(view.prompt, view.history)
        return result
    sig = signals.read(view.prompt)  # routes that do not score still pick experts by task kind (cascade)
    if scorer is None:
        return Judgement(Scores(0.0, 0.0, 0.0), sig.language, sig.task_kind, {}, {})
    return Judgement(scorer.score(view.prompt, view.context), sig.language, sig.task_kind, sig.named(), {})
