"""The content correction's reading of text: tokens, keys, bounds, and the language it applies to."""

from __future__ import annotations

import re

from router.classify import content
from router.classify.content import Content


def test_tokens_drop_answer_letters_and_labels_but_keep_option_text() -> None:
    question = "Question: Which gas do plants absorb?\nA. oxygen\nB. carbon dioxide\nAnswer:"
    toks = content.tokens(question)
    assert toks[:5] == ["which", "gas", "do", "plants", "absorb"]
    assert "carbon" in toks and "dioxide" in toks
    assert "a" not in toks and "answer" not in toks and "question" not in toks


def test_numbers_are_read_by_shape() -> None:
    assert content.tokens("Pay 7 or 1250 or 3.5 dollars") == ["pay", "<n1>", "or", "<n4>", "or", "<n3.>", "dollars"]


def test_the_ascii_fast_path_finds_the_same_tokens() -> None:
    unicode = re.compile(content._TOKEN.pattern)
    for text in ["a b-c d_e f1 2.5,3 ??", "x=y^2; {code}()", "tabs\tand\nnewlines", "_under_ score__"]:
        assert content._TOKEN_ASCII.findall(text) == unicode.findall(text)


def test_keys_are_bounded_whatever_the_input_size() -> None:
    small = content.keys("word " * 10)
    big = content.keys(" ".join(f"w{i}x" for i in range(200_000)))
    assert small == {"word", "word word"}
    assert len(big) <= 3 * content.MAX_TOKENS


def test_the_correction_is_a_clipped_normalised_sum_for_english_only() -> None:
    c = Content({"statute": 2.0, "negligence": 2.0, "brochure": -0.01}, clip=0.15)
    assert c.correction("the statute on negligence", "en") == 0.15  # (2 + 2) / sqrt(2), clipped
    assert c.correction("a brochure", "en") == -0.01
    assert c.correction("the statute on negligence", "fr") == 0.0
    assert c.correction("nothing known here", "en") == 0.0
