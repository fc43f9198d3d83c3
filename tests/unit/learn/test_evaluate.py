"""APGR / CPT of known orderings, and the plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from router.learn.evaluate import Outcome, by_benchmark, format_table, metrics, plot, quality_curve


def _outcomes(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random(n) < 0.65, rng.random(n) < 0.85


def test_oracle_ordering_is_near_perfect() -> None:
    weak, strong = _outcomes()
    gain = strong.astype(float) - weak
    m = metrics(gain, weak, strong)
    assert m.apgr >= 1.0  # sending gain -1 prompts last even lifts quality above the strong line
    assert m.cpt80 < 0.4


def test_reversed_ordering_is_low_and_random_is_half() -> None:
    weak, strong = _outcomes()
    gain = strong.astype(float) - weak
    assert metrics(-gain, weak, strong).apgr < 0.0
    rand = [metrics(np.random.default_rng(100 + s).random(len(weak)), weak, strong).apgr for s in range(20)]
    assert abs(float(np.mean(rand)) - 0.5) < 0.03


def test_constant_scores_give_the_straight_line() -> None:
    weak, strong = _outcomes()
    m = metrics(np.zeros(len(weak)), weak, strong)
    assert m.apgr == pytest.approx(0.5)
    assert m.cpt50 == pytest.approx(0.5)
    assert m.cpt80 == pytest.approx(0.8)


def test_curve_is_independent_of_order_within_ties() -> None:
    p = [0.9, 0.9, 0.1, 0.1]
    a = quality_curve(p, [True, False, True, False], [True, True, False, True])
    b = quality_curve(p, [False, True, False, True], [True, True, True, False])
    assert np.allclose(a[0], b[0]) and np.allclose(a[1], b[1])
    assert a[0].tolist() == [0.0, 0.5, 1.0]


def test_no_gap_and_empty_inputs_do_not_raise() -> None:
    assert np.isnan(metrics([0.1, 0.2], [True, True], [True, True]).apgr)
    assert metrics([], [], []).n == 0


def test_by_benchmark_table_and_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    weak, strong = _outcomes(400)
    outcomes = [
        Outcome("a" if i % 2 else "b", float(i), bool(w), bool(s)) for i, (w, s) in enumerate(zip(weak, strong, strict=True))
    ]
    results = by_benchmark(outcomes)
    assert list(results) == ["a", "b"] and results["a"].n == 200
    assert "APGR" in format_table(results)
    out = tmp_path / "curve.png"
    plot(outcomes, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
