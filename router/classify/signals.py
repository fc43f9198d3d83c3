"""Text -> the interpretable signals the learned router weighs, plus the language and the task kind.

Every signal names something that makes a request need a large model, or not: the kind of task the
words ask for (maths, code, reasoning, specialised knowledge, precise constraints; or writing,
role-play, extraction, small talk), symbols that mean the same in every language (digits, operators,
LaTeX, code syntax), and the size of the request measured fairly across scripts (characters for
Chinese, Japanese and Thai, words elsewhere).

Bounded and linear by construction: only a head and a tail of the prompt are read (SAMPLE_HEAD +
SAMPLE_TAIL characters), every regex is a plain character class or a fixed string, and keywords are
counted with str.count over the sample. Benchmark scaffolding (multiple-choice options "A. ...",
"Answer:" / "Question:" labels) is removed first so that no weight can learn a dataset's format.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import ahocorasick

from router.classify import lexicon
from router.classify.language import Script, detect

SAMPLE_HEAD = 2000  # the question usually sits at the start of a prompt ...
SAMPLE_TAIL = 600
UNSPACED_HEAD = 900  # keywords of Chinese, Japanese and Thai text are read in a shorter sample ...
UNSPACED_TAIL = 300  # ... as long, in words, as the one read of other scripts
KEYWORD_CAP = 1
CHOICE_OPTIONS = 3  # answer-option lines that make a request a multiple-choice question
LENGTH_STEPS = 2  # keyword hits beyond this say more about how a language phrases things than about the task  # ... or at its very end, after pasted material

# multiple-choice option lines and few-shot labels: dataset format, not task (each pattern is linear:
# anchored at a line start, one bounded class, then the rest of that line)
_MC_OPTION = re.compile(r"(?m)^[ \t]*\(?[A-Ea-e][.):][ \t][^\n]*\n?")
_LABEL = re.compile(r"(?im)^[ \t]*(?:answer|question|q|a)[ \t]*:[ \t]*")
_PUNCT_CHARS = b'.,;:!?()[]{}"`/\\|<>=*^~-_'
_PUNCT = bytes.maketrans(_PUNCT_CHARS, b" " * len(_PUNCT_CHARS))  # ASCII only: bytes.translate is O(n) in C
_OPERATORS = tuple("=+*/^×÷√∑∫≤≥≠±<>%")
_CODE_MARKS = (
    "```",
    "{",
    "}",
    ";",
    "()",
    "==",
    "!=",
    "->",
    "=>",
    "</",
    "def ",
    "return ",
    "import ",
    "#include",
    "print(",
    "console.",
    "self.",
    "const ",
    "let ",
    "fn ",
    "func ",
    "public ",
    "select ",
)

_MARK_GROUPS = (_OPERATORS, _CODE_MARKS, ("\\", "$$"))
_SINGLE: tuple[bytes, ...] = tuple(b"".join(m.encode() for m in g if len(m) == 1 and m.isascii()) for g in _MARK_GROUPS)
_MULTI: tuple[tuple[bytes, ...], ...] = tuple(tuple(m.encode() for m in g if len(m) > 1) for g in _MARK_GROUPS)
_WIDE: tuple[str, ...] = tuple("".join(m for m in g if not m.isascii()) for g in _MARK_GROUPS)  # e.g. × ≤ √

SIGNAL_NAMES: tuple[str, ...] = (
    "length",
    "numbers",
    "operators",
    "latex",
    "code_syntax",
    "lines",
    *(f"kw_{kind}" for kind in lexicon.KINDS),
    *(f"is_{kind}" for kind in ("code", "math", "reasoning", "knowledge", "writing", "roleplay", "extraction")),
)
# the task kind a request is reported as: the strongest evidence, in this order on ties
TASK_KINDS: tuple[str, ...] = (
    "code",
    "math",
    "reasoning",
    "extraction",
    "writing",
    "roleplay",
    "knowledge",
    "chat",
    "general",
)
_KIND_FLAGS: tuple[str, ...] = ("code", "math", "reasoning", "knowledge", "writing", "roleplay", "extraction")


@dataclass(frozen=True, slots=True)
class Signals:
    """One request's signals (values in SIGNAL_NAMES order), its language and task kind."""

    values: tuple[float, ...]
    language: str
    task_kind: str
    choice: bool = False  # the request offers its own answer options (A. ... B. ...): the answer is a pick

    def named(self) -> dict[str, float]:
        return dict(zip(SIGNAL_NAMES, self.values, strict=True))


def sample(text: str) -> str:
    """The part of `text` the signals read: all of it when short, else its head and tail."""
    if len(text) <= SAMPLE_HEAD + SAMPLE_TAIL:
        return text
    return text[:SAMPLE_HEAD] + "\n" + text[-SAMPLE_TAIL:]


def strip_scaffolding(text: str) -> str:
    """`text` without multiple-choice option lines and Question:/Answer: labels."""
    return _strip(text)[0]


def _strip(text: str) -> tuple[str, int]:
    """`text` without scaffolding, and how many answer-option lines it had."""
    options = 0
    if "\n" in text:
        text, options = _MC_OPTION.subn("", text)
    return (_LABEL.sub("", text) if ":" in text else text).strip(), options


def _normal(word: str) -> str:
    return " ".join(word.encode().translate(_PUNCT).decode().split()) + (" " if word.endswith(" ") else "")


@lru_cache(maxsize=32)
def _keywords(language: str) -> ahocorasick.Automaton:
    """An Aho-Corasick automaton (one linear pass over the text) of the English lexicon and `language`'s:
    English technical words are used as they are in every language. Built once per language and process
    (the lexicon is a constant)."""
    automaton = ahocorasick.Automaton()
    group = lexicon.LATIN if language in lexicon.LATIN or language == "und" else {"en", language}
    for lang in sorted(group):
        lead = "" if lang in lexicon.UNSPACED else " "  # spaced languages: match at a word start
        if lang == "en" and language in lexicon.UNSPACED:
            lead = ""  # English terms sit inside unspaced text with no space before them ("我的Docker容器")
        for kind, word in lexicon.entries(lang):
            key = lead + _normal(word) if lead else word  # normalised as the text is
            kinds = automaton.get(key, ())
            if lexicon.KINDS.index(kind) not in kinds:  # a word several languages share counts once
                automaton.add_word(key, (*kinds, lexicon.KINDS.index(kind)))
    automaton.make_automaton()
    return automaton


def _keyword_counts(normal: str, language: str) -> list[int]:
    counts = [0] * len(lexicon.KINDS)
    for _, kinds in _keywords(language).iter(normal):
        for kind in kinds:
            counts[kind] += 1
    return counts


def _symbol_counts(lower: str) -> tuple[int, ...]:
    """Hits of operators, code syntax and LaTeX. ASCII marks are counted on the ASCII bytes of the text
    (single-byte ones by what deleting them removes: one C pass for all), the few others per character."""
    ascii_only = lower.isascii()
    data = lower.encode("ascii", "ignore")
    n = len(data)
    counts = []
    for one, marks, wide in zip(_SINGLE, _MULTI, _WIDE, strict=True):
        k = n - len(data.translate(None, one)) + sum(map(data.count, marks))
        if wide and not ascii_only:
            k += sum(map(lower.count, wide))
        counts.append(k)
    return tuple(counts)


def _length_units(scale: float, script: Script, n_words: int) -> float:
    """Request size in word-equivalents: ~1.6 Han/kana or ~4.5 Thai letters make one word."""
    if script.unspaced_chars:
        units = script.unspaced_chars / (4.5 if script.language == "th" else 1.6) + script.latin_letters / 5
    else:
        units = float(n_words)
    return units * scale


def _task_kind(kw: list[int], numbers: int, operators: int, code: int, latex: int, units: float) -> str:
    """The kind with the strongest evidence; "chat" for short small talk, "general" when nothing stands out."""
    k = dict(zip(lexicon.KINDS, kw, strict=True))
    # asked to pull data out of a given text, a request naming a format (JSON, a table) is extraction, not code
    extracting = 1.0 if k["extract"] and code < 2 else 0.0
    evidence = {
        "code": 1.5 * k["code"] + 1.0 * min(code, 10),
        # in code, digits and operators are syntax, not arithmetic
        "math": 1.2 * k["math"]
        + (0.4 * min(numbers, 6) + 0.5 * min(operators, 6) if code == 0 else 0.0)
        + latex
        + (1.2 * k["reason"] if k["math"] else 0.0),  # proving or reasoning about mathematical objects is maths
        "reasoning": 1.2 * k["reason"],
        "extraction": 1.5 * k["extract"] + extracting + (0.6 * min(numbers, 6) if extracting else 0.0),
        "writing": 1.4 * k["write"],
        "roleplay": 2.0 * k["roleplay"],
        "knowledge": 0.9 * (k["stem"] + k["humanities"]),
        "chat": 1.0 * k["chat"] + (0.5 if units < 8 else 0.0),
        "general": 0.5,
    }
    return max(TASK_KINDS, key=lambda name: evidence[name])


def read(text: str) -> Signals:
    """The signals of one text. Pure; never raises on a str (anything else reads as empty)."""
    if not isinstance(text, str):
        text = ""
    raw_sample = sample(text)
    sampled, options = _strip(raw_sample)
    lower = sampled.lower()
    if "¿" in lower or "¡" in lower:  # Spanish opening marks: "¿cuántos" is the word "cuántos"
        lower = lower.replace("¿", " ").replace("¡", " ")
    words = lower.encode("utf-8", "surrogatepass").translate(_PUNCT).decode("utf-8", "surrogatepass").split()
    script = detect(sampled, words)
    normal = " " + " ".join(words) + " "
    if script.unspaced_chars * 2 > len(sampled) and len(normal) > UNSPACED_HEAD + UNSPACED_TAIL:
        normal = normal[:UNSPACED_HEAD] + " " + normal[-UNSPACED_TAIL:]  # a Han or Thai letter says more than a Latin one
    kw = _keyword_counts(normal, script.language)
    numbers = script.numbers
    operators, code, latex = _symbol_counts(lower)
    units = _length_units(len(text) / max(len(raw_sample), 1), script, len(words))
    kind = _task_kind(kw, numbers, operators, code, latex, units)
    raw = (
        units,
        numbers,
        operators,
        latex,
        code,
        sampled.count("\n"),
        *(min(n, KEYWORD_CAP) for n in kw),
    )
    logs = [math.log1p(max(v, 0.0)) for v in raw]
    # length in steps of a factor e^(1/LENGTH_STEPS): a translation's few words more or less, or the
    # approximation of word counts in unspaced scripts, must not move a request across a threshold
    logs[0] = round(logs[0] * LENGTH_STEPS) / LENGTH_STEPS
    values = tuple(logs) + tuple(float(kind == flag) for flag in _KIND_FLAGS)
    return Signals(values, script.language, kind, options >= CHOICE_OPTIONS)
