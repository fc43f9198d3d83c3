"""Training: signs as designed, leave-one-benchmark-out, reproducible bytes (synthetic rows; the real data
is exercised by tests/integration/test_learned_cli.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from router.classify import signals
from router.classify.learned import LearnedScorer
from router.learn.train import CONTENT_CLIP, SIGNS, Row, design, features, fit, leave_one_out, train

HARD = ["Write a Python function that parses {n} JSON files and merges them.", "Solve 3x^2 + {n}x - 7 = 0 step by step."]
EASY = ["Write a poem about autumn number {n}.", "hi there, thanks for item {n}!"]


def _rows(bench: str, n: int, graded: bool = False) -> list[Row]:
    rows = []
    for i in range(n):
        for t in HARD:
            rows.append(Row(bench, t.format(n=i), 3.0 if graded else 0.0, 9.0 if graded else float(i % 3 != 0), graded))
        for t in EASY:
            rows.append(Row(bench, t.format(n=i), 8.0 if graded else 1.0, 8.0 if graded else 1.0, graded))
    return rows


def test_fit_respects_the_designed_signs_and_ranks_hard_first() -> None:
    rows = _rows("a", 30) + _rows("b", 30, graded=True)
    f = features([r.prompt for r in rows])
    model = fit(f, rows)
    for name, sign, w in zip(signals.SIGNAL_NAMES, SIGNS, model.coef, strict=True):
        assert sign * w >= -1e-12, name
    scores = model.total(f)
    hard = [s for r, s in zip(rows, scores, strict=True) if r.gain > 0]
    easy = [s for r, s in zip(rows, scores, strict=True) if r.gain == 0 and "poem" in r.prompt]
    assert min(hard) > max(easy)
    assert model.platt[0] > 0


def test_the_content_correction_learns_words_and_stays_within_its_clip() -> None:
    # two prompts of one kind and shape; only the topic word tells which one the small model fails
    rows = [
        Row("a", f"What does the {topic} say about case {i}?", 1.0, 1.0 if topic == "statute" else 0.0, False)
        for i in range(40)
        for topic in ("statute", "brochure")
    ]
    f = features([r.prompt for r in rows])
    model = fit(f, rows)
    assert model.content and model.content["statute"] > 0 > model.content["brochure"]
    prior = np.array([(model.kind_prior or {}).get(k, 0.0) if k else 0.0 for k in f.kinds])
    scores = model.total(f) - model.score(f.x) - prior
    assert np.abs(scores).max() <= CONTENT_CLIP + 1e-12
    hard = [s for r, s in zip(rows, scores, strict=True) if "statute" in r.prompt]
    easy = [s for r, s in zip(rows, scores, strict=True) if "brochure" in r.prompt]
    assert min(hard) > max(easy)


def test_leave_one_out_reports_every_benchmark() -> None:
    rows = _rows("a", 20) + _rows("b", 20) + _rows("c", 20, graded=True)
    result = leave_one_out(rows)
    assert sorted(result) == ["a", "b", "c"]
    assert all(m.apgr > 0.5 for m in result.values())


def test_train_writes_reproducible_loadable_weights(tmp_path: Path) -> None:
    data = tmp_path / "rows.jsonl"
    lines = [
        {"benchmark": r.benchmark, "prompt": r.prompt, "weak_correct": bool(r.weak), "strong_correct": bool(r.strong)}
        for r in _rows("a", 10) + _rows("b", 10)
    ]
    data.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    report = train([data], a)
    train([data], b)
    assert a.read_bytes() == b.read_bytes()
    assert sorted(report.held_out) == ["a", "b"]
    scorer = LearnedScorer.from_file(a)
    assert scorer.score(HARD[0].format(n=1)).p_strong > scorer.score(EASY[1].format(n=1)).p_strong


def test_graded_rows_and_bad_rows(tmp_path: Path) -> None:
    from router.learn.train import load_rows

    data = tmp_path / "rows.jsonl"
    data.write_text(
        '{"benchmark": "arena", "prompt": "p", "weak_score": 4, "strong_score": 9}\n{"prompt": "q", "weak_correct": 1}\n',
        encoding="utf-8",
    )
    rows, errors = load_rows([data])
    assert rows == [Row("arena", "p", 4.0, 9.0, True)] and rows[0].needs_llm and rows[0].gain == pytest.approx(5 / 9)
    assert len(errors) == 1 and errors[0].startswith(f"{data}:2:")
    assert np.isfinite(design(["", "x" * 10_000])).all()


DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "routing"
needs_data = pytest.mark.skipif(
    not (DATA / "mmlu_train.jsonl").exists(),
    reason="../shared/data/routing is absent: the training data is not part of the project",
)


@needs_data
def test_held_out_benchmarks_beat_random_and_shipped_weights_rank_gains() -> None:
    from router.learn.train import load_rows

    rows, errors = load_rows([DATA / "mmlu_train.jsonl", DATA / "gsm8k_train.jsonl", DATA / "arena_train.jsonl"])
    assert not errors
    rows = [r for i, r in enumerate(rows) if r.benchmark != "mmlu" or i % 3 == 0]
    held_out = leave_one_out(rows)
    assert sorted(held_out) == ["arena", "gsm8k", "mmlu"]
    for name, m in held_out.items():
        assert m.apgr > 0.5, f"{name}: held-out APGR {m.apgr:.3f} is no better than random"
    scorer = LearnedScorer.from_package()
    gsm8k = [r for r in rows if r.benchmark == "gsm8k"]
    p = np.array([scorer.score(r.prompt).p_strong for r in gsm8k])
    gain = np.array([r.strong - r.weak for r in gsm8k])
    assert p[gain == 1].mean() > p[gain == -1].mean()
