"""The request's task kind (code, math, vision, chat): which expert a route may send it to.

INTERIM (issue 15, helper "experts"): a minimal, keyword-based stand-in so experts can be routed before
the rewritten classifier lands with its own `Classification.task_kind`; that one replaces this module.
Words are looked up in sets (one pass over the text), which costs a few microseconds where a regular
expression alternation of the same words cost about 60.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z_+#]+")
# only words that rarely mean anything else: "return", "class" or "function" are plain English too
_CODE_WORDS = frozenset(
    [
        "def",
        "lambda",
        "async",
        "await",
        "println",
        "printf",
        "traceback",
        "stacktrace",
        "compiler",
        "regex",
        "python",
        "javascript",
        "typescript",
        "java",
        "rust",
        "golang",
        "c++",
        "c#",
        "sql",
        "bash",
        "script",
        "code",
        "bug",
        "debug",
        "refactor",
    ]
)
_MATH_WORDS = frozenset(
    [
        "solve",
        "equation",
        "integral",
        "derivative",
        "percent",
        "percentage",
        "arithmetic",
        "algebra",
        "calculate",
        "compute",
        "multiply",
        "divide",
        "fraction",
        "probability",
        "theorem",
        "lemma",
        "prime",
        "primes",
        "sum",
        "product",
    ]
)
_MATH_PHRASES = ("how many", "how much", "prove that")
_ARITHMETIC = re.compile(r"\d\s*[-+*/x×÷^=]\s*\d|[∑∫√≤≥]")


def task_kind(prompt: str, has_images: bool) -> str:
    """One of vision, code, math, chat, from surface cues of the latest user turn."""
    if has_images:
        return "vision"
    text = prompt[:4000]
    lowered = {w.lower() for w in _WORD.findall(text)}
    code = len(lowered & _CODE_WORDS) + 2 * text.count("```")
    lower_text = text.lower()
    math = len(lowered & _MATH_WORDS) + sum(p in lower_text for p in _MATH_PHRASES) + len(_ARITHMETIC.findall(text))
    if code and code >= math:
        return "code"
    if math:
        return "math"
    return "chat"
