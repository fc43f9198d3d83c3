"""The same request in eleven languages gets the same tier as in English (our own translations)."""

from __future__ import annotations

from pathlib import Path

from router.classify.learned import LearnedScorer
from router.learn.agreement import agreement, read_translations
from router.learn.commands import default_threshold

TRANSLATIONS = Path(__file__).parents[2] / "data" / "translations.jsonl"


def test_tier_agrees_with_english_in_every_language() -> None:
    rows = read_translations(TRANSLATIONS)
    results = agreement(LearnedScorer.from_package(), rows, default_threshold())
    by_language = {a.language: a for a in results}
    assert len(by_language) >= 11  # English and at least ten others: European, CJK, Indic, Thai, Swahili
    assert {"de", "es", "fr", "ru", "zh", "ja", "hi", "bn", "te", "th", "sw"} <= set(by_language)
    for a in results:
        assert a.n == len(rows)
        assert a.agree >= 0.9, f"{a.language}: {a.agree:.0%} agreement with English"
    assert 0.0 < by_language["en"].llm_share < 1.0  # the threshold splits the sample: agreement is not trivial


def test_task_kind_is_the_same_in_every_language() -> None:
    from router.classify import signals

    rows = read_translations(TRANSLATIONS)
    same = [
        signals.read(r[lang]).task_kind == signals.read(r["en"]).task_kind
        for r in rows
        for lang in r
        if lang not in ("id", "kind")
    ]
    assert sum(same) / len(same) >= 0.9
