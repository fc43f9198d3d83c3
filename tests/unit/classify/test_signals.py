"""Signals: interpretable, bounded, language-aware, blind to benchmark scaffolding."""

from __future__ import annotations

import math

import pytest

from router.classify import signals


def test_every_signal_is_finite_and_named_for_any_text() -> None:
    for text in ["", " ", "\ud800\udfff\x00", "٣٤٥ ² ⅔", "🙂" * 1000, "a" * 2_000_000, "1" * 100_000, "\n" * 50_000]:
        s = signals.read(text)
        assert len(s.values) == len(signals.SIGNAL_NAMES)
        assert all(math.isfinite(v) and v >= 0 for v in s.values)
        assert s.task_kind in signals.TASK_KINDS
    assert signals.read(None).values == signals.read("").values  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "language", "kind"),
    [
        ("Write a Python function that merges overlapping intervals.", "en", "code"),
        ("Solve for x: 3x^2 - 12x + 9 = 0.", "en", "math"),
        ("Prove that the square root of 2 is irrational.", "en", "math"),
        ("If all bloops are razzies and all razzies are lazzies, are all bloops lazzies? Explain why.", "en", "reasoning"),
        ("Write a haiku about spring.", "en", "writing"),
        ("Pretend you are a pirate and greet me.", "en", "roleplay"),
        ("Summarize the following text in one sentence: the meeting moved to Tuesday.", "en", "extraction"),
        ("hi, how are you", "en", "chat"),
        ("小明有5个苹果，又买了3个，他一共有多少个苹果？", "zh", "math"),
        ("りんごが5個あります。3個買うと全部で何個になりますか？", "ja", "math"),
        ("사과가 5개 있고 3개를 더 사면 모두 몇 개입니까?", "ko", "math"),
        ("राम के पास 5 सेब हैं और वह 3 और खरीदता है। उसके पास कुल कितने सेब हैं?", "hi", "math"),
        ("ถ้ามีแอปเปิล 5 ผล ซื้อเพิ่ม 3 ผล จะมีทั้งหมดกี่ผล", "th", "math"),
        ("Rudi ana machungwa 5 na ananunua 3 zaidi. Ana machungwa mangapi kwa jumla?", "sw", "math"),
        ("Schreibe ein Gedicht über das Meer.", "de", "writing"),
        ("Напиши функцию на Python, которая сортирует список.", "ru", "code"),
    ],
)
def test_language_and_task_kind(text: str, language: str, kind: str) -> None:
    s = signals.read(text)
    assert (s.language, s.task_kind) == (language, kind)


def test_multiple_choice_scaffolding_is_not_read() -> None:
    question = "Which organ produces insulin?"
    scaffolded = "Question: " + question + "\nA. liver\nB. pancreas\nC. kidney\nD. heart\nAnswer:"
    assert signals.read(scaffolded).values == signals.read(question).values


def test_length_is_fair_across_scripts() -> None:
    english = signals.read("Tom has five apples and buys three more. How many apples does he have now?").named()
    chinese = signals.read("汤姆有五个苹果，又买了三个。他现在有多少个苹果？").named()
    assert abs(english["length"] - chinese["length"]) <= 1 / signals.LENGTH_STEPS  # one step at most
