"""The learned scorer: shipped weights, sane judgements by kind and language, explained, conversation-aware."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from router.classify import signals
from router.classify.learned import WEIGHTS_PATH, LearnedScorer
from router.classify.scores import Scorer


@pytest.fixture(scope="module")
def scorer() -> LearnedScorer:
    return LearnedScorer.from_package()


def test_is_a_scorer(scorer: LearnedScorer) -> None:
    s: Scorer = scorer
    assert s.name == "learned"


def test_maths_and_code_outrank_writing_roleplay_and_small_talk(scorer: LearnedScorer) -> None:
    hard = [
        "Prove that the square root of 2 is irrational.",
        "Write a Python function that finds the longest common subsequence of two strings.",
        "Solve for x: 3x^2 - 12x + 9 = 0, showing each step.",
    ]
    easy = [
        "hi, how are you",
        "Write a haiku about spring.",
        "Pretend you are a pirate and greet me.",
        "Summarize this in one sentence: the meeting moved to Tuesday.",
    ]
    assert min(scorer.score(t).p_strong for t in hard) > max(scorer.score(t).p_strong for t in easy)
    assert scorer.score(hard[0]).reasoning > scorer.score(easy[0]).reasoning
    history = scorer.score("Explain the causes of the Thirty Years' War and the terms of the Peace of Westphalia.")
    assert history.knowledge > scorer.score(hard[2]).knowledge


def test_a_bare_go_on_is_as_hard_as_the_request_it_continues(scorer: LearnedScorer) -> None:
    request = "Implement a lock-free concurrent queue in C++ and prove it is linearizable."
    alone = scorer.judge("yes, go on")
    after = scorer.judge("yes, go on", context=request)
    assert after.scores.p_strong > alone.scores.p_strong
    assert after.judged_on == "conversation" and after.task_kind == "code"
    assert after.scores.p_strong >= scorer.score(request).p_strong - 0.1


def test_explain_gives_every_signal_and_its_contribution(scorer: LearnedScorer) -> None:
    j = scorer.judge("Solve for x: 3x^2 - 12x + 9 = 0.")
    assert set(j.signals) == set(signals.SIGNAL_NAMES)
    assert set(j.contributions) == {*signals.SIGNAL_NAMES, "task_kind", "content"}
    assert j.language == "en" and j.task_kind == "math"
    assert j.contributions["task_kind"] > 0  # maths needs the LLM more than the average request
    logit = scorer.platt_a * scorer.total("Solve for x: 3x^2 - 12x + 9 = 0.")[1] + scorer.platt_b
    base = logit - sum(j.contributions.values())  # contributions explain the logit around the mean request
    assert abs(base - (scorer.platt_a * scorer.bias + scorer.platt_b)) < 1e-2


def test_never_raises_and_stays_in_range(scorer: LearnedScorer) -> None:
    for text in ["", "\ud800", "\x00" * 10, "ٱلْعَرَبِيَّة 🙂 ∑∫", "x" * 3_000_000, "9" * 100_000]:
        for s in (scorer.score(text), scorer.score(text, context=text)):
            for v in (s.p_strong, s.reasoning, s.knowledge):
                assert 0.0 <= v <= 1.0


def test_deterministic_and_batch_matches_single(scorer: LearnedScorer) -> None:
    reqs = [("hi", ""), ("Prove it.", ""), ("and now in French?", "Translate: good morning"), ("", "")]
    single = [scorer.score(p, c) for p, c in reqs]
    assert single == [scorer.score(p, c) for p, c in reqs] == scorer.score_batch(reqs)


def test_the_learned_part_is_bounded() -> None:
    assert WEIGHTS_PATH.stat().st_size < 2_000_000
    scorer = LearnedScorer.from_package()
    assert len(scorer.coef) == len(signals.SIGNAL_NAMES) < 40
    assert 0 < scorer.content.clip <= 0.2 and len(scorer.content.weights) < 300_000


def test_the_content_correction_reads_english_only_and_is_clipped(scorer: LearnedScorer) -> None:
    law = "Under the statute, was the defendant's conduct negligent? Consider the plaintiff's damages."
    assert abs(scorer.content.correction(law, "en")) <= scorer.content.clip
    assert scorer.content.correction(law, "de") == 0.0  # another language: no English vocabulary applies
    assert scorer.content.correction("", "en") == 0.0
    j = scorer.judge("Unter dem Gesetz: war das Verhalten des Beklagten fahrlässig?")
    assert j.contributions["content"] == 0.0


def test_a_question_with_answer_options_gets_no_kind_prior(scorer: LearnedScorer) -> None:
    question = "Which of these is a prime number?\nA. 4\nB. 6\nC. 7\nD. 9\nAnswer:"
    j = scorer.judge(question)
    assert signals.read(question).choice
    assert j.contributions["task_kind"] == 0.0
    assert scorer.judge("Which number is prime: 4, 6, 7 or 9?").contributions["task_kind"] != 0.0


PROBE = Path(__file__).resolve().parents[2] / "data" / "conversation_probe.jsonl"


def test_conversation_kinds_rank_as_chat_grading_shows(scorer: LearnedScorer) -> None:
    """On the handwritten conversation probe (both turns of each request), code, maths and reasoning
    rank above writing and role-play on average, and most of them go to the LLM at the shipped
    threshold while most writing and role-play stay on the SLM."""
    from router.learn.calibrate import read_prompts
    from router.learn.commands import default_threshold

    requests, errors = read_prompts(PROBE)
    assert not errors
    categories = [json.loads(line)["category"] for line in PROBE.read_text(encoding="utf-8").splitlines() if line.strip()]
    p = {c: [] for c in set(categories)}  # type: dict[str, list[float]]
    for (prompt, context), c in zip(requests, categories, strict=True):
        p[c].append(scorer.score(prompt, context).p_strong)
    mean = {c: sum(v) / len(v) for c, v in p.items()}
    assert min(mean[c] for c in ("coding", "math", "reasoning")) > max(mean[c] for c in ("writing", "roleplay"))
    threshold = default_threshold()
    share = {c: sum(x >= threshold for x in v) / len(v) for c, v in p.items()}
    assert min(share[c] for c in ("coding", "math")) > 0.5
    assert max(share[c] for c in ("writing", "roleplay")) < 0.2


def test_from_file_rejects_foreign_weights(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, format_version=np.array([99]))
    with pytest.raises(ValueError):
        LearnedScorer.from_file(bad)
