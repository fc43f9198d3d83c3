"""Text -> features for the learned router: hashed word n-grams plus a few handcrafted counts.

Everything here is a pure function of the text, shared by training and inference so the two can never
disagree. Hashing uses zlib.crc32 (stable across processes, unlike the salted built-in `hash`).
The text read is capped (head and tail) so a megabyte prompt costs the same as a long one; only the
length features look at the whole string, through `len`, which is O(1).
"""

from __future__ import annotations

import itertools
import math
import re
import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

N_BUCKETS = 1 << 18
HEAD_CHARS = 1600  # the question usually sits at the start of a prompt ...
TAIL_CHARS = 400  # ... or at its very end, after pasted material
MAX_TOKENS = 450  # hashed n-grams come from at most this many tokens
CONTEXT_CHARS = 1000  # how much of the earlier conversation a follow-up turn is judged with

_TOKEN = re.compile(r"[^\W\d_]+|\d+(?:[.,]\d+)*|[^\w\s]", re.UNICODE)
_MC_LINE = re.compile(r"(?m)^\s*\(?[A-Da-d][.)]\s")
_SENTENCE = re.compile(r"[.!?](?:\s|$)")
_MATH_CHARS = tuple("=+*/^<>≤≥×÷√∑∫π")
_CODE_MARKS = ("```", "{", "}", ";", "==", "->", "#include", "()")
_CODE_WORDS = frozenset(
    ["def", "return", "import", "function", "const", "var", "void", "int", "elif", "printf", "println", "lambda"]
)
_QUESTION_WORDS = frozenset(["calculate", "compute", "solve", "find", "prove", "derive", "evaluate", "simplify", "determine"])
_QUESTION_PHRASES = ("how many", "how much", "how long", "how old", "show that")
_QUANT_WORDS = frozenset(
    [
        "each",
        "per",
        "every",
        "times",
        "twice",
        "half",
        "thrice",
        "double",
        "triple",
        "percent",
        "ratio",
        "average",
        "total",
        "remaining",
        "left",
        "fewer",
        "profit",
        "discount",
        "rate",
    ]
)
_REASON_WORDS = frozenset(
    [
        "therefore",
        "because",
        "if",
        "then",
        "implies",
        "suppose",
        "assume",
        "must",
        "unless",
        "valid",
        "argument",
        "step",
        "algorithm",
        "function",
        "equation",
        "probability",
        "integer",
        "theorem",
        "proof",
        "logic",
        "statement",
    ]
)

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


def _number_shape(tok: str) -> str:
    # digits carry no meaning of their own; their size and shape do
    digits = sum(c.isdigit() for c in tok)
    return f"<n{min(digits, 4)}{'.' if ('.' in tok or ',' in tok) else ''}>"


def tokenize(text: str) -> list[str]:
    """Lower-cased word, number-shape and punctuation tokens of (already clipped) text."""
    return _tokens(text.lower())


def _tokens(lower: str) -> list[str]:
    return [t if not t[0].isdigit() else _number_shape(t) for t in _TOKEN.findall(lower)[:MAX_TOKENS]]


def hashed_ids(tokens: list[str], n_buckets: int = N_BUCKETS) -> list[int]:
    """Sorted unique bucket ids of the unigrams, bigrams and 5-char word prefixes of `tokens`."""
    keys: set[str] = set(tokens)
    keys.update(["p|" + t[:5] for t in tokens if len(t) > 6])
    keys.update(map(" ".join, itertools.pairwise(tokens)))
    try:  # map/C calls per key: this runs on every request
        ids = {h % n_buckets for h in map(zlib.crc32, map(str.encode, keys))}
    except UnicodeEncodeError:  # lone surrogates: hash their code units as training did
        ids = {zlib.crc32(k.encode("utf-8", "surrogatepass")) % n_buckets for k in keys}
    return sorted(ids)


def dense_values(text: str, clipped: str, lower: str, tokens: list[str]) -> tuple[float, ...]:
    """The handcrafted features named in DENSE_NAMES, raw (standardised by the model).

    Counts come from the token list and str.count, not from keyword regexes, to stay well under a
    millisecond on long prompts; membership is counted with map over C methods, not Python loops."""
    words = [t for t in tokens if t[0].isalpha()]
    lengths = list(map(len, words))
    n_words = len(words)
    n_digits = sum(map(clipped.count, "0123456789"))
    questions = sum(map(_QUESTION_WORDS.__contains__, words)) + sum(map(lower.count, _QUESTION_PHRASES))
    quantities = sum(map(_QUANT_WORDS.__contains__, words)) + clipped.count("%") + clipped.count("$")
    code = sum(map(_CODE_WORDS.__contains__, words)) + sum(map(clipped.count, _CODE_MARKS))
    capitalised = sum(1 for w in clipped.split() if len(w) > 2 and w[0].isupper())
    return (
        math.log1p(len(text)),
        math.log1p(n_words),
        math.log1p(sum(map(str.startswith, tokens, itertools.repeat("<n")))),  # number shapes
        math.log1p(sum(map(clipped.count, _MATH_CHARS))),
        math.log1p(code),
        1.0 if len(_MC_LINE.findall(clipped)) >= 3 else 0.0,
        math.log1p(questions),
        math.log1p(quantities),
        math.log1p(sum(map(_REASON_WORDS.__contains__, words))),
        math.log1p(capitalised),
        math.log1p(sum(map((9).__lt__, lengths))),
        math.log1p(len(_SENTENCE.findall(clipped))),
        n_digits / max(len(clipped), 1),
        sum(lengths) / max(n_words, 1),
        math.log1p(clipped.count("\n")),
    )


def request_text(prompt: str, context: str = "") -> str:
    """The text a request is judged on: the prompt, preceded by the tail of any earlier conversation.

    A follow-up turn ("now make it rhyme") is only as hard as the task it continues, so the last
    CONTEXT_CHARS of context are read too. The training rows have no context, so this is a judgement call.
    """
    if not isinstance(prompt, str):
        prompt = ""
    if not isinstance(context, str) or not context:
        return prompt
    return context[-CONTEXT_CHARS:] + "\n" + prompt


def read(prompt: str, context: str = "", n_buckets: int = N_BUCKETS) -> tuple[list[int], tuple[float, ...]]:
    """All features of one request as plain Python values (bucket ids, dense values): what inference
    reads, without numpy, whose per-call overhead outweighs the work on one short prompt."""
    text = request_text(prompt, context)
    clipped = clip(text)
    lower = clipped.lower()
    tokens = _tokens(lower)
    return hashed_ids(tokens, n_buckets), dense_values(text, clipped, lower, tokens)


def featurise(prompt: str, context: str = "", n_buckets: int = N_BUCKETS) -> Featurised:
    """All features of one request, as arrays. Never raises on any `str`; non-str input is treated as empty."""
    ids, dense = read(prompt, context, n_buckets)
    return Featurised(np.asarray(ids, dtype=np.int64), np.asarray(dense, dtype=np.float64))


def prompt_of(obj: object) -> tuple[str, str] | None:
    """(prompt, context) of a JSONL input row: `{"prompt": ...}` or a chat request `{"messages": [...]}`.

    For chat, the prompt is the text of the last user message and the context is the text of the
    messages before it. Returns None when the row holds neither shape.
    """
    if not isinstance(obj, dict):
        return None
    prompt = obj.get("prompt")
    if isinstance(prompt, str):
        return prompt, ""
    messages = obj.get("messages")
    if not isinstance(messages, list):
        return None
    texts = [(m.get("role"), _content_text(m.get("content"))) for m in messages if isinstance(m, dict)]
    for i in range(len(texts) - 1, -1, -1):
        if texts[i][0] == "user":
            return texts[i][1], "\n".join(t for _, t in texts[:i] if t)
    return None


def _content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts: keep the text ones
        return "\n".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""
