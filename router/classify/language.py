"""Which language a request is written in, from its script and, for Latin script, its common words.

Pure and bounded: it reads a sample of at most a few thousand characters in one vectorised pass (the
code points binned by Unicode block with numpy), plus a count of frequent words for Latin script. The
answer picks the keyword lexicon (router.classify.lexicon) and a script-fair way to measure length;
it is shown in `router explain`. The same pass counts the numbers in the text (runs of digits of any
script), which regexes would do some ten times slower.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# Unicode blocks: (first code point, script); a block runs to the next entry's first code point
_BLOCKS: tuple[tuple[int, str], ...] = (
    (0x0000, "other"),
    (0x0030, "digit"),
    (0x003A, "other"),
    (0x0041, "latin"),
    (0x005B, "other"),
    (0x0061, "latin"),
    (0x007B, "other"),
    (0x00C0, "latin"),
    (0x0250, "other"),
    (0x0400, "cyrillic"),
    (0x0500, "other"),
    (0x0600, "arabic"),
    (0x0660, "digit"),
    (0x066A, "arabic"),
    (0x0700, "other"),
    (0x0750, "arabic"),
    (0x0780, "other"),
    (0x0900, "devanagari"),
    (0x0966, "digit"),
    (0x0970, "devanagari"),
    (0x0980, "bengali"),
    (0x09E6, "digit"),
    (0x09F0, "bengali"),
    (0x0A00, "other"),
    (0x0C00, "telugu"),
    (0x0C66, "digit"),
    (0x0C70, "telugu"),
    (0x0C80, "other"),
    (0x0E00, "thai"),
    (0x0E50, "digit"),
    (0x0E5A, "thai"),
    (0x0E80, "other"),
    (0x1100, "hangul"),
    (0x1200, "other"),
    (0x3040, "kana"),
    (0x3100, "other"),
    (0x3130, "hangul"),
    (0x3190, "other"),
    (0x3400, "han"),
    (0x4DC0, "other"),
    (0x4E00, "han"),
    (0xA000, "other"),
    (0xAC00, "hangul"),
    (0xD7B0, "other"),
    (0xF900, "han"),
    (0xFB00, "other"),
    (0xFF10, "digit"),
    (0xFF1A, "other"),
)
_SCRIPT_NAMES: tuple[str, ...] = tuple(sorted({name for _, name in _BLOCKS}))
_STARTS = np.array([start for start, _ in _BLOCKS], dtype=np.uint32)
_BLOCK_SCRIPT = np.array([_SCRIPT_NAMES.index(name) for _, name in _BLOCKS], dtype=np.intp)
_DIGIT = _SCRIPT_NAMES.index("digit")
_BY_SCRIPT = {
    "hangul": "ko",
    "devanagari": "hi",
    "bengali": "bn",
    "telugu": "te",
    "thai": "th",
    "arabic": "ar",
    "cyrillic": "ru",
}
# frequent function words of the Latin-script languages the lexicon holds
_STOPWORDS: dict[str, frozenset[str]] = {
    lang: frozenset(words.split())
    for lang, words in (
        ("en", "the a an is are and of to in that it for with what how you this be on can about my me i"),
        ("de", "der die das und ist nicht ein eine zu mit von ich sie wie was den dem für auf"),
        ("es", "el la los las que es y en de un una por con para cómo qué del se su"),
        ("fr", "le la les est et un une des du de que qui pour dans avec sur pas ce vous"),
        ("pt", "o os as que é e um uma de do da em para com não como você"),
        ("it", "il lo la gli le che è e un una di del della per con non come sono"),
        ("sw", "na ya wa kwa ni za la katika kila je nini kama hii huo yake"),
    )
}
STOPWORD_WINDOW = 150  # words read to tell Latin-script languages apart


@dataclass(frozen=True, slots=True)
class Script:
    """What a sample is written in, and the counts that follow from its code points."""

    language: str  # ISO 639-1 code, "und" when no letters at all
    unspaced_chars: int  # Han, kana and Thai letters: scripts written without spaces between words
    numbers: int  # runs of digits, of any script
    latin_letters: int  # Latin letters (code, names, English terms inside an unspaced text)


def _latin_language(words: list[str]) -> str:
    best, hits = "en", 0
    window = set(words[:STOPWORD_WINDOW])  # distinct words: a C-level intersection per language
    for lang, stop in _STOPWORDS.items():
        n = len(stop & window)
        if n > hits:
            best, hits = lang, n
    return best


_ASCII_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))
_DIGIT_RUNS = re.compile(r"[0-9]+")


def detect(sample: str, words: list[str]) -> Script:
    """The language of `sample` (bounded text) whose lower-cased words are `words`."""
    if sample.isascii():  # most traffic: the same answer as below without numpy's per-call cost
        raw = sample.encode("ascii")
        latin = len(raw) - len(raw.translate(None, _ASCII_LETTERS))
        return Script(_latin_language(words) if latin else "und", 0, len(_DIGIT_RUNS.findall(sample)), latin)
    codes = np.frombuffer(sample.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    script_of = _BLOCK_SCRIPT[np.searchsorted(_STARTS, codes, side="right") - 1]
    is_digit = script_of == _DIGIT
    numbers = int(np.count_nonzero(is_digit[1:] & ~is_digit[:-1])) + int(is_digit[:1].sum())
    counts = dict(zip(_SCRIPT_NAMES, np.bincount(script_of, minlength=len(_SCRIPT_NAMES)).tolist(), strict=True))
    cjk = counts["han"] + counts["kana"]
    unspaced = cjk + counts["thai"]
    letters = {name: n for name, n in counts.items() if name not in ("other", "digit", "han", "kana")}
    top = max(letters, key=letters.__getitem__)
    if cjk and 3 * cjk >= letters[top]:  # one Han or kana letter carries about what three Latin ones do
        language = "ja" if counts["kana"] * 10 >= cjk else "zh"
    elif letters[top] == 0:
        language = "und"
    elif top == "latin":
        language = _latin_language(words)
    else:
        language = _BY_SCRIPT.get(top, "und")
    return Script(language, unspaced, numbers, counts["latin"])
