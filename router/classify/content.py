"""English content -> a bounded correction of the difficulty judgement, learned from what the words say.

The interpretable signals (router.classify.signals) judge the kind of task; they cannot know that a
question about a point of law, a moral dilemma or a conceptual physics puzzle trips a small model more
often than one about marketing. This part can: a ridge regression over the words, word pairs and word
stems of the request (an explicit vocabulary of English terms seen in training, not hashed buckets, so
a word it never saw contributes nothing), clipped to a small range so it can reorder requests of one
kind but never turn small talk into maths. Multiple-choice letters and Question:/Answer: labels are
removed first: the words of a question and its options are content, their scaffolding is not.

It reads English only. Text in another language gets no correction, so the same question in any
language is judged by the same language-independent signals (the correction moves English requests a
little, within the clip; `router eval --translations` measures what that costs in agreement).
Bounded and linear: at most MAX_TOKENS tokens of the first MAX_CHARS characters are read.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from router.classify.signals import sample

MAX_TOKENS = 300
MAX_CHARS = 1800  # the tokens come from this head of the sample: 300 tokens seldom need more
LANGUAGE = "en"
_TOKEN = re.compile(r"[^\W\d_]+|\d+(?:[.,]\d+)*|[^\w\s]")  # words, numbers, single punctuation marks
_TOKEN_ASCII = re.compile(_TOKEN.pattern, re.ASCII)  # the same tokens of ASCII text, found faster
_OPTION = re.compile(r"(?m)^[ \t]*\(?[A-Ea-e][.):][ \t]")  # the letter of an answer option, not its text
_LABEL = re.compile(r"(?im)^[ \t]*(?:answer|question)[ \t]*:[ \t]*")


def _number_shape(token: str) -> str:
    # digits carry no meaning of their own; their size and shape do
    return f"<n{min(len(token), 4)}{'.' if ('.' in token or ',' in token) else ''}>"


def tokens(text: str) -> list[str]:
    """Lower-cased word, number-shape and punctuation tokens of the bounded sample of `text`."""
    clipped = _LABEL.sub("", _OPTION.sub("", sample(text)[:MAX_CHARS])).lower()
    found = (_TOKEN_ASCII if clipped.isascii() else _TOKEN).findall(clipped)
    return [t if not t[0].isdigit() else _number_shape(t) for t in found[:MAX_TOKENS]]


def keys(text: str) -> set[str]:
    """The vocabulary keys `text` holds: tokens, adjacent token pairs, and 5-letter stems of long words."""
    toks = tokens(text)
    out = set(toks)
    out.update(map(" ".join, itertools.pairwise(toks)))
    out.update(["p|" + t[:5] for t in toks if len(t) > 6])
    return out


@dataclass(frozen=True, slots=True, eq=False)
class Content:
    """Learned weights per vocabulary key; `correction` is their sum over the keys a text holds, divided
    by the square root of how many it holds (as in training), clipped to +-clip."""

    weights: Mapping[str, float]
    clip: float

    def correction(self, text: str, language: str) -> float:
        if language != LANGUAGE or not self.weights:
            return 0.0
        return self.of_keys(keys(text))

    def of_keys(self, held: set[str]) -> float:
        """The correction of a text holding the vocabulary keys `held` (training scores its rows with this)."""
        found = self.weights.keys() & held  # one C-level set intersection
        if not found:
            return 0.0
        total = math.fsum(map(self.weights.__getitem__, found)) / math.sqrt(len(found))  # exact in any order
        return max(-self.clip, min(self.clip, total))
