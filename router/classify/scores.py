"""The seam between conversation reading and difficulty scoring.

A scorer turns the text a conversation puts before the model into three judgements. The gateway ships two:
a transparent heuristic (router.classify.heuristic) and the learned router (router.classify.learned).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Scores:
    """Difficulty judgements, each in 0..1."""

    p_strong: float  # probability that the SLM's answer falls short and the LLM tier is needed
    reasoning: float  # how much multi-step reasoning the request needs
    knowledge: float  # how much broad world knowledge the model must hold


class Scorer(Protocol):
    """Anything that scores a prompt; must be pure, fast (well under 1 ms) and never raise on text."""

    @property
    def name(self) -> str:
        """A short name shown in explain output and metrics."""
        ...

    def score(self, prompt: str, context: str = "") -> Scores:
        """Score `prompt` (the latest user turn) given `context` (system prompt and earlier turns,
        with tool results and other bulky injected text already removed)."""
        ...


@dataclass(frozen=True, slots=True)
class Judgement:
    """A scorer's full judgement of a request, for `explain`: the scores and why."""

    scores: Scores
    language: str  # ISO 639-1 code of the judged text ("und" when it has no letters)
    task_kind: str  # code, math, reasoning, extraction, writing, roleplay, knowledge or chat
    signals: dict[str, float]  # each signal's value (log counts)
    contributions: dict[str, float]  # each signal's share of the p_strong logit (0 for a scorer without one)
    judged_on: str = "prompt"  # "prompt", or "conversation" when the earlier user turns set the difficulty
