"""A transparent difficulty scorer from surface cues: the fallback when no learned weights are loaded.

Honest about what it is: keyword and symbol counts, squashed to 0..1. It is the baseline the learned
router (router.classify.learned) must beat, and it keeps `model: auto` working without trained weights.
"""

from __future__ import annotations

import math
import re

from router.classify.scores import Scores

_REASONING = re.compile(
    r"\b(prove|proof|derive|step[- ]by[- ]step|calculate|compute|solve|algorithm|optimi[sz]e|complexity|"
    r"theorem|equation|integral|derivative|probability|implement|debug|refactor|function|recursion|"
    r"how many|how much|why does|explain why|plan|design|trade-?offs?)\b",
    re.IGNORECASE,
)
_KNOWLEDGE = re.compile(
    r"\b(history|historical|law|legal|court|chemistry|chemical|biology|medical|disease|economics|philosophy|"
    r"geography|century|treaty|war|molecule|anatomy|statute|constitution|who was|when did|which of the following)\b",
    re.IGNORECASE,
)
_MATH = re.compile(r"[=+*/^<>≤≥∑∫√]|\d+\s*[-+*/x×]\s*\d+")


def _squash(x: float) -> float:
    return 1.0 - math.exp(-x)


class HeuristicScorer:
    name = "heuristic"

    def score(self, prompt: str, context: str = "") -> Scores:
        text = prompt[:8000]
        words = max(1, len(text.split()))
        reasoning = _squash(0.6 * len(_REASONING.findall(text)) + 0.08 * len(_MATH.findall(text)))
        knowledge = _squash(0.7 * len(_KNOWLEDGE.findall(text)))
        length = _squash(words / 400)
        p_strong = min(1.0, 0.05 + 0.45 * reasoning + 0.25 * knowledge + 0.25 * length + (0.05 if context else 0.0))
        return Scores(p_strong=round(p_strong, 4), reasoning=round(reasoning, 4), knowledge=round(knowledge, 4))
