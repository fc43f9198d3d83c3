"""Router quality as in the RouteLLM paper: APGR and CPT from per-prompt outcomes, and the curve plot.

Sort prompts by p_strong (highest first) and send the top share to the strong model; the quality at a
share is the mean over prompts of strong_correct for those sent strong and weak_correct for the rest.
APGR is the area between that curve and the weak-only line over the area between the strong-only and
weak-only lines; CPT(x) is the smallest strong share whose quality recovers x of the gap.
Prompts with equal p_strong cannot be split by any threshold, so the curve only has points at the
boundaries between tied groups (linear in between), which makes the result independent of input order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One scored prompt with the known quality of both models' answers: right (1) or wrong (0) on
    benchmarks, the grade (e.g. 1..10) on graded chat, where quality is the mean grade of the chosen model."""

    benchmark: str
    p_strong: float
    weak_correct: float
    strong_correct: float


@dataclass(frozen=True, slots=True)
class Metrics:
    """A router's quality on one set of prompts."""

    n: int
    weak_accuracy: float
    strong_accuracy: float
    apgr: float
    cpt50: float
    cpt80: float


def quality_curve(
    p_strong: Sequence[float] | FloatArray,
    weak_correct: Sequence[float] | npt.NDArray[np.generic],
    strong_correct: Sequence[float] | npt.NDArray[np.generic],
) -> tuple[FloatArray, FloatArray]:
    """(strong share, quality) at every threshold, from share 0 to 1."""
    p = np.asarray(p_strong, dtype=np.float64)
    weak = np.asarray(weak_correct, dtype=np.float64)
    strong = np.asarray(strong_correct, dtype=np.float64)
    n = len(p)
    if n == 0:
        return np.array([0.0, 1.0]), np.array([0.0, 0.0])
    p = np.nan_to_num(p, nan=0.0)
    order = np.argsort(-p, kind="stable")
    p, weak, strong = p[order], weak[order], strong[order]
    gain = np.concatenate([[0.0], np.cumsum(strong - weak)])
    # keep only k where a threshold can cut: after the last of each group of equal scores
    cuts = np.concatenate([[0], np.flatnonzero(np.diff(p) != 0) + 1, [n]])
    quality = (weak.sum() + gain[cuts]) / n
    return cuts / n, quality


def metrics(
    p_strong: Sequence[float] | FloatArray,
    weak_correct: Sequence[float] | npt.NDArray[np.generic],
    strong_correct: Sequence[float] | npt.NDArray[np.generic],
) -> Metrics:
    """APGR, CPT(50%) and CPT(80%) of ordering the prompts by `p_strong`."""
    share, quality = quality_curve(p_strong, weak_correct, strong_correct)
    n = len(np.asarray(p_strong))
    weak_acc = float(np.mean(np.asarray(weak_correct, dtype=np.float64))) if n else 0.0
    strong_acc = float(np.mean(np.asarray(strong_correct, dtype=np.float64))) if n else 0.0
    gap = strong_acc - weak_acc
    if n == 0 or gap <= 0:
        return Metrics(n, weak_acc, strong_acc, float("nan"), float("nan"), float("nan"))
    area = float(np.sum((share[1:] - share[:-1]) * ((quality[1:] + quality[:-1]) / 2 - weak_acc)))
    return Metrics(
        n=n,
        weak_accuracy=weak_acc,
        strong_accuracy=strong_acc,
        apgr=area / gap,
        cpt50=_cpt(share, quality, weak_acc + 0.5 * gap),
        cpt80=_cpt(share, quality, weak_acc + 0.8 * gap),
    )


def _cpt(share: FloatArray, quality: FloatArray, target: float) -> float:
    """Smallest share where the (piecewise-linear) curve first reaches `target`."""
    above = np.flatnonzero(quality >= target - 1e-12)
    i = int(above[0])
    if i == 0:
        return 0.0
    x0, x1, y0, y1 = share[i - 1], share[i], quality[i - 1], quality[i]
    return float(x0 + (x1 - x0) * (target - y0) / (y1 - y0))


def by_benchmark(outcomes: Iterable[Outcome]) -> dict[str, Metrics]:
    """Metrics per benchmark (sorted by name), each computed within its own prompts."""
    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault(o.benchmark, []).append(o)
    return {
        name: metrics([o.p_strong for o in rows], [o.weak_correct for o in rows], [o.strong_correct for o in rows])
        for name, rows in sorted(groups.items())
    }


def format_table(results: Mapping[str, Metrics]) -> str:
    """A plain-text table of the metrics, one benchmark per line."""
    lines = [f"{'benchmark':<12} {'n':>6} {'weak':>6} {'strong':>6} {'APGR':>6} {'CPT50':>6} {'CPT80':>6}"]
    for name, m in results.items():
        lines.append(
            f"{name:<12} {m.n:>6} {m.weak_accuracy:>6.3f} {m.strong_accuracy:>6.3f} "
            f"{m.apgr:>6.3f} {m.cpt50:>6.1%} {m.cpt80:>6.1%}"
        )
    return "\n".join(lines)


def plot(outcomes: Iterable[Outcome], path: Path) -> None:
    """Write a PNG of quality against strong-model share, one line per benchmark plus the random line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault(o.benchmark, []).append(o)
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    try:
        for name, rows in sorted(groups.items()):
            weak = [o.weak_correct for o in rows]
            strong = [o.strong_correct for o in rows]
            share, quality = quality_curve([o.p_strong for o in rows], weak, strong)
            m = metrics([o.p_strong for o in rows], weak, strong)
            line = ax.plot(share, quality, label=f"{name} (APGR {m.apgr:.3f})")[0]
            ax.plot([0, 1], [m.weak_accuracy, m.strong_accuracy], ls=":", color=line.get_color())
        ax.set_xlabel("share of requests sent to the strong model")
        ax.set_ylabel("quality (accuracy)")
        ax.set_title("Router quality vs strong-model share (dotted: random)")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
        fig.savefig(path, dpi=120, bbox_inches="tight")
    finally:
        plt.close(fig)
