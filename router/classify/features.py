"""Text -> features for the learned router: hashed word n-grams plus a few handcrafted counts.

Everything here is a pure function of the text, shared by training and inference so the two can never
disagree. Hashing uses zlib.crc32 (stable across processes, unlike the salted built-in `hash`).
The text read is capped (head and tail) so a megabyte prompt costs the same as a long one; only the
length features look at the whole string, through `len`, which is O(1).
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

N_BUCKETS = 1 << 18
HEAD_CHARS = 4000  # the question usually sits at the start of a prompt ...
TAIL_CHARS = 1000  # ... or at its very end, after pasted material
MAX_TOKENS = 1200  # hashed n-grams come from at most this many tokens

_TOKEN = re.compile(r"[^\W\d_]+|\d+(?:[.,]\d+)*|[^\w\s]", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_MATH_OP = re.compile(r"[=+*/^<>≤≥×÷√∑∫π]|\\(?:frac|sqrt|sum|int|cdot|times)|(?<=\d)\s*-\s*(?=\d)")
_CODE = re.compile(r"```|\bdef |\breturn\b|\bclass |[{};]|==|\+\+|->|\bimport |#include|\bfunction\b")
_MC_LINE = re.compile(r"(?m)^\s*\(?[A-Da-d][.)]\s")
_QUESTION = re.compile(
    r"\b(?:how many|how much|how long|how old|what is the (?:total|sum|difference|product|value)|"
    r"calculate|compute|solve|find|prove|show that|derive|evaluate|simplify)\b",
    re.IGNORECASE,
)
_QUANT = re.compile(
    r"\b(?:each|per|every|times|twice|half|thrice|double|triple|percent|ratio|average|total|"
    r"remaining|left|more than|less than|fewer|profit|discount|rate)\b|%|\$",
    re.IGNORECASE,
)
_REASON = re.compile(
    r"\b(?:therefore|because|if|then|implies|suppose|assume|must|unless|only if|valid|argument|"
    r"step|algorithm|function|equation|probability|integer|theorem|proof|logic|statement)\b",
    re.IGNORECASE,
)
_CAPWORD = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]{2,}")
_LONGWORD = re.compile(r"\b[^\W\d_]{10,}\b")
_SENTENCE = re.compile(r"[.!?](?:\s|$)")

DENSE_NAMES: tuple[str, ...] = (
    "log_chars",
    "log_words",
    "log_numbers",
    "log_math_ops",
    "log_code",
    "mc_format",
    "log_questions",
    "log_quantity_words",
    "log_reasoning_words",
    "log_capitalised",
    "log_long_words",
    "log_sentences",
    "digit_share",
    "mean_word_len",
    "log_lines",
    "log_context_chars",
)


@dataclass(frozen=True, slots=True)
class Featurised:
    """One prompt's features: unique hashed bucket ids (equal weight) and the dense handcrafted vector."""

    buckets: npt.NDArray[np.int64]
    dense: npt.NDArray[np.float64]


def clip(text: str) -> str:
    """The part of `text` that features read: all of it when short, else head + tail."""
    if len(text) <= HEAD_CHARS + TAIL_CHARS:
        return text
    return text[:HEAD_CHARS] + "\n" + text[-TAIL_CHARS:]


def tokenize(text: str) -> list[str]:
    """Lower-cased word, number-shape and punctuation tokens of (already clipped) text."""
    out: list[str] = []
    for tok in _TOKEN.findall(text.lower()):
        if tok[0].isdigit():
            # digits carry no meaning of their own; their size and shape do
            digits = sum(c.isdigit() for c in tok)
            tok = "<n%d%s>" % (min(digits, 4), "." if ("." in tok or "," in tok) else "")
        out.append(tok)
        if len(out) >= MAX_TOKENS:
            break
    return out


def _bucket(key: str, n_buckets: int) -> int:
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % n_buckets


def hashed_buckets(tokens: list[str], n_buckets: int = N_BUCKETS) -> npt.NDArray[np.int64]:
    """Sorted unique bucket ids of the unigrams, bigrams and 5-char word prefixes of `tokens`."""
    keys: set[str] = set(tokens)
    keys.update("p|" + t[:5] for t in tokens if len(t) > 6)
    keys.update(a + " " + b for a, b in zip(tokens, tokens[1:]))
    ids = {_bucket(k, n_buckets) for k in keys}
    return np.fromiter(sorted(ids), dtype=np.int64, count=len(ids))


def _log_count(pattern: re.Pattern[str], text: str) -> float:
    return math.log1p(sum(1 for _ in pattern.finditer(text)))


def dense_features(prompt: str, clipped: str, tokens: list[str], context: str = "") -> npt.NDArray[np.float64]:
    """The handcrafted features named in DENSE_NAMES, raw (standardised by the model)."""
    n_words = sum(1 for t in tokens if t[0].isalpha())
    n_digits = sum(c.isdigit() for c in clipped)
    word_chars = sum(len(t) for t in tokens if t[0].isalpha())
    values = (
        math.log1p(len(prompt)),
        math.log1p(n_words),
        _log_count(_NUMBER, clipped),
        _log_count(_MATH_OP, clipped),
        _log_count(_CODE, clipped),
        1.0 if len(_MC_LINE.findall(clipped)) >= 3 else 0.0,
        _log_count(_QUESTION, clipped),
        _log_count(_QUANT, clipped),
        _log_count(_REASON, clipped),
        _log_count(_CAPWORD, clipped),
        _log_count(_LONGWORD, clipped),
        _log_count(_SENTENCE, clipped),
        n_digits / max(len(clipped), 1),
        word_chars / max(n_words, 1),
        math.log1p(clipped.count("\n")),
        math.log1p(len(context)),
    )
    return np.asarray(values, dtype=np.float64)


def featurise(prompt: str, context: str = "", n_buckets: int = N_BUCKETS) -> Featurised:
    """All features of one request. Never raises on any `str`; non-str input is treated as empty."""
    if not isinstance(prompt, str):
        prompt = ""
    if not isinstance(context, str):
        context = ""
    clipped = clip(prompt)
    tokens = tokenize(clipped)
    return Featurised(hashed_buckets(tokens, n_buckets), dense_features(prompt, clipped, tokens, context))
