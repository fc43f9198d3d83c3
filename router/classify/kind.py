"""The request's task kind (code, math, vision, chat): which expert a route may send it to.

INTERIM (issue 15, helper "experts"): a minimal, keyword-based stand-in so experts can be routed before
the rewritten classifier lands with its own `Classification.task_kind`; that one replaces this module.
"""

from __future__ import annotations

import re

_CODE = re.compile(
    r"```|\b(def|class|import|return|lambda|async|await|const|let|var|function|public|static|void|println|printf|"
    r"SELECT|INSERT|stack ?trace|traceback|exception|compile[sr]?|syntax error|regex|python|javascript|"
    r"typescript|java|rust|golang|c\+\+|sql|bash|script|code|bug|debug|refactor|unit tests?)\b|\w+\([^)]*\)\s*[:{;]"
)
_MATH = re.compile(
    r"\b(solve|equation|integral|derivative|sum of|product of|how many|how much|percent(age)?|arithmetic|"
    r"algebra|calculate|compute|multiply|divide|fraction|probability|prove that|theorem|lemma|prime)\b|"
    r"\d+\s*[-+*/x×÷^]\s*\d+|[=∑∫√≤≥]",
    re.IGNORECASE,
)


def task_kind(prompt: str, has_images: bool) -> str:
    """One of vision, code, math, chat, from surface cues of the latest user turn."""
    if has_images:
        return "vision"
    text = prompt[:4000]
    code, math = len(_CODE.findall(text)), len(_MATH.findall(text))
    if code and code >= math:
        return "code"
    if math:
        return "math"
    return "chat"
