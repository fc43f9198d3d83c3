"""Fit the learned router's weights from labelled routing rows, and cross-validate it.

The p_strong head is a ridge regression of the per-prompt gain `strong_correct - weak_correct` (-1, 0, 1)
on hashed word n-grams plus handcrafted counts: its prediction is the expected gain of sending the prompt
to the strong model, which is the ordering APGR rewards (prompts where only the strong model is right
first, those where only the weak one is right last). A one-dimensional logistic fit (Platt scaling on
out-of-fold predictions) turns it into P(weak wrong and strong right) without changing the order.
The reasoning and knowledge heads are ridge regressions of per-subject labels (SUBJECT_LABELS), so they
learn from text what kind of subject a prompt looks like.

Training needs numpy, scipy, scikit-learn and tqdm; inference (router.classify.learned) only numpy.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from router.classify import features
from router.classify.evaluate import Metrics, Outcome, by_benchmark
from router.classify.jsonl import read_jsonl

FORMAT_VERSION = 1
ALPHA = 10.0  # ridge penalty, chosen by 5-fold CV (5, 10, 20 tried)
DENSE_GAIN = 2.0  # dense features enter at twice unit scale so the penalty bites them less
# GSM8K is a tenth of the rows; weighting it up keeps the model from learning only MMLU's notion of
# difficulty (CV: MMLU/GSM8K APGR 0.681/0.622 at weight 1, 0.674/0.640 at 3, 0.663/0.641 at 6).
BENCHMARK_WEIGHT = {"gsm8k": 3.0}

# (reasoning, knowledge) per subject: how much multi-step reasoning vs broad world knowledge it tests.
_R_HI_K_LO = (
    "abstract_algebra college_mathematics elementary_mathematics high_school_mathematics "
    "high_school_statistics formal_logic grade_school_math"
)
_R_HI_K_MID = (
    "college_physics high_school_physics college_computer_science high_school_computer_science "
    "machine_learning econometrics electrical_engineering college_chemistry high_school_chemistry "
    "professional_accounting"
)
_R_MID_K_MID = (
    "conceptual_physics logical_fallacies high_school_microeconomics high_school_macroeconomics "
    "computer_security moral_scenarios astronomy"
)
_R_MID_K_HI = (
    "professional_law jurisprudence international_law college_biology high_school_biology "
    "medical_genetics professional_medicine college_medicine"
)
SUBJECT_LABELS: dict[str, tuple[float, float]] = {
    **{s: (0.9, 0.1) for s in _R_HI_K_LO.split()},
    **{s: (0.8, 0.5) for s in _R_HI_K_MID.split()},
    **{s: (0.5, 0.5) for s in _R_MID_K_MID.split()},
    **{s: (0.4, 0.9) for s in _R_MID_K_HI.split()},
}
DEFAULT_LABEL = (0.15, 0.9)  # the other MMLU subjects: history, geography, medicine, religions, ...

# The benchmarks hold no open chat, so without help every non-multiple-choice prompt would look like a
# grade-school maths problem to the reasoning/knowledge heads. A few handwritten anchors (gain, reasoning,
# knowledge) fix the ends of those scales; gain is None where we do not claim to know it, and only the
# chit-chat anchors (plainly within a small model's reach) teach the p_strong head anything.
ANCHOR_WEIGHT = 20.0
_CHAT = (
    "hi, how are you|Hello!|Thanks, that's great.|Good morning! How's your day going?|ok|"
    "Can you say that again more briefly?|Tell me a joke.|What's your name?|Translate 'good night' into Spanish."
)
_WRITING = (
    "Write a haiku about spring.|Write a short, friendly email inviting my team to lunch on Friday.|"
    "Compose a birthday message for my grandmother.|Draft a tweet announcing our new bakery opening."
)
_KNOWING = (
    "Explain the causes of the French Revolution.|What were the main provisions of the Treaty of "
    "Versailles?|Describe how the immune system responds to a viral infection.|Summarise the doctrine of "
    "promissory estoppel in contract law.|What is the role of the Federal Reserve in the US economy?"
)
_REASONING = (
    "Prove that the square root of 2 is irrational.|Write a Python function that merges overlapping "
    "intervals and explain its time complexity.|If all bloops are razzies and all razzies are lazzies, are "
    "all bloops lazzies? Explain step by step.|Solve for x: 3x^2 - 12x + 9 = 0, showing each step.|"
    "Implement binary search in C and prove that it terminates."
)
ANCHORS: tuple[tuple[str, float | None, float, float], ...] = (
    *((t, 0.0, 0.0, 0.0) for t in _CHAT.split("|")),
    *((t, None, 0.1, 0.2) for t in _WRITING.split("|")),
    *((t, None, 0.2, 0.9) for t in _KNOWING.split("|")),
    *((t, None, 0.9, 0.2) for t in _REASONING.split("|")),
)


@dataclass(frozen=True, slots=True)
class Row:
    """One labelled prompt."""

    benchmark: str
    subject: str
    prompt: str
    context: str
    weak_correct: bool
    strong_correct: bool


@dataclass(frozen=True, slots=True)
class Report:
    """What `train` did: row count, cross-validated metrics per benchmark, where the weights went."""

    n_rows: int
    cv: dict[str, Metrics]
    out_path: Path


def parse_row(obj: object) -> Row:
    """A labelled row from a decoded JSONL line; ValueError says what is wrong with it."""
    text = features.prompt_of(obj)
    if text is None or not isinstance(obj, dict):
        raise ValueError("expected an object with 'prompt' or 'messages'")
    weak, strong = obj.get("weak_correct"), obj.get("strong_correct")
    if not isinstance(weak, bool) or not isinstance(strong, bool):
        raise ValueError("'weak_correct' and 'strong_correct' must be true or false")
    benchmark = obj.get("benchmark")
    subject = obj.get("subject")
    return Row(
        benchmark=benchmark if isinstance(benchmark, str) else "all",
        subject=subject if isinstance(subject, str) else "",
        prompt=text[0],
        context=text[1],
        weak_correct=weak,
        strong_correct=strong,
    )


def load_rows(paths: Iterable[Path]) -> tuple[list[Row], list[str]]:
    """Labelled rows of JSONL files, and one `file:line: message` per line that could not be used."""
    return read_jsonl(paths, parse_row)


def design(rows: Sequence[Row], progress: bool = True) -> tuple[sp.csr_matrix, npt.NDArray[np.float64]]:
    """Hashed features (rows L2-normalised binary) and raw dense features of `rows`."""
    from tqdm import tqdm

    feats = [features.featurise(r.prompt, r.context) for r in tqdm(rows, desc="features", unit="row", disable=not progress)]
    indptr = np.cumsum([0] + [len(f.buckets) for f in feats])
    indices = np.concatenate([f.buckets for f in feats]) if feats else np.zeros(0, np.int64)
    values = (
        np.concatenate([np.full(len(f.buckets), 1.0 / np.sqrt(max(len(f.buckets), 1))) for f in feats]) if feats else np.zeros(0)
    )
    hashed = sp.csr_matrix((values, indices, indptr), shape=(len(rows), features.N_BUCKETS))
    dense = np.array([f.dense for f in feats]).reshape(len(rows), len(features.DENSE_NAMES))
    return hashed, dense


def _targets(rows: Sequence[Row]) -> npt.NDArray[np.float64]:
    """Columns: gain (strong - weak), reasoning label, knowledge label."""
    labels = [SUBJECT_LABELS.get(r.subject, DEFAULT_LABEL) for r in rows]
    return np.array(
        [[float(r.strong_correct) - float(r.weak_correct), rk[0], rk[1]] for r, rk in zip(rows, labels, strict=True)]
    ).reshape(len(rows), 3)


def _weights(rows: Sequence[Row]) -> npt.NDArray[np.float64]:
    return np.array([BENCHMARK_WEIGHT.get(r.benchmark, 1.0) for r in rows], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class _Linear:
    low: npt.NDArray[np.float64]  # dense features are clipped to the range seen in training,
    high: npt.NDArray[np.float64]  # so a megabyte of odd text cannot extrapolate to an extreme score
    mean: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]
    hashed: npt.NDArray[np.float64]  # (N_BUCKETS, heads)
    dense: npt.NDArray[np.float64]  # (n_dense, heads), on standardised clipped features
    bias: npt.NDArray[np.float64]  # (heads,)

    def predict(self, hashed: sp.csr_matrix, dense: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        z = (np.clip(dense, self.low, self.high) - self.mean) / self.scale
        out: npt.NDArray[np.float64] = np.asarray(hashed @ self.hashed) + z @ self.dense + self.bias
        return out


def _ridge(
    x: sp.csr_matrix, y: npt.NDArray[np.float64], weight: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    from sklearn.linear_model import Ridge

    model = Ridge(alpha=ALPHA, solver="sparse_cg", tol=1e-6, max_iter=2000)
    model.fit(x, y, sample_weight=weight)
    return np.atleast_2d(model.coef_).T, np.atleast_1d(model.intercept_)  # (features, heads), (heads,)


def _fit(hashed: sp.csr_matrix, dense: npt.NDArray[np.float64], rows: Sequence[Row], all_heads: bool = True) -> _Linear:
    """Fit the gain head (and, with all_heads, the reasoning and knowledge heads) on rows plus ANCHORS."""
    low, high = dense.min(axis=0), dense.max(axis=0)
    mean = dense.mean(axis=0)
    scale = dense.std(axis=0)
    scale[scale < 1e-9] = 1.0  # a constant feature gets weight 0 anyway; avoid dividing by 0
    anchors = [Row("anchor", "", text, "", False, False) for text, *_ in ANCHORS]
    a_hashed, a_dense = design(anchors, progress=False)
    z = (np.clip(np.vstack([dense, a_dense]), low, high) - mean) / scale
    x = sp.vstack(
        [
            sp.hstack([hashed, sp.csr_matrix(z[: len(rows)] * DENSE_GAIN)]),
            sp.hstack([a_hashed, sp.csr_matrix(z[len(rows) :] * DENSE_GAIN)]),
        ],
        format="csr",
    )
    y = np.vstack([_targets(rows), np.array([[g if g is not None else np.nan, r, k] for _, g, r, k in ANCHORS])])
    w = np.concatenate([_weights(rows), np.full(len(ANCHORS), ANCHOR_WEIGHT)])
    has_gain = ~np.isnan(y[:, 0])
    coef, bias = _ridge(x[has_gain], y[has_gain, :1], w[has_gain])
    if all_heads:
        coef_rk, bias_rk = _ridge(x, y[:, 1:], w)
        coef, bias = np.hstack([coef, coef_rk]), np.concatenate([bias, bias_rk])
    n = hashed.shape[1]
    return _Linear(low, high, mean, scale, coef[:n], coef[n:] * DENSE_GAIN, bias)


def _platt(score: npt.NDArray[np.float64], rows: Sequence[Row]) -> tuple[float, float]:
    """(a, b) with sigmoid(a * score + b) ~ P(weak wrong and strong right)."""
    from sklearn.linear_model import LogisticRegression

    y = np.array([r.strong_correct and not r.weak_correct for r in rows], dtype=np.int64)
    if y.min() == y.max():
        return 1.0, 0.0
    lr = LogisticRegression(C=1e4, max_iter=1000).fit(score.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def _folds(rows: Sequence[Row], k: int, seed: int) -> list[npt.NDArray[np.int64]]:
    """k disjoint test index sets, each benchmark spread evenly over them."""
    rng = np.random.default_rng(seed)
    fold_of = np.zeros(len(rows), dtype=np.int64)
    for bench in sorted({r.benchmark for r in rows}):
        idx = np.array([i for i, r in enumerate(rows) if r.benchmark == bench], dtype=np.int64)
        fold_of[rng.permutation(idx)] = np.arange(len(idx)) % k
    return [np.flatnonzero(fold_of == f) for f in range(k)]


def out_of_fold(
    rows: Sequence[Row],
    folds: int = 5,
    seed: int = 0,
    progress: bool = True,
    design_: tuple[sp.csr_matrix, npt.NDArray[np.float64]] | None = None,
) -> npt.NDArray[np.float64]:
    """Out-of-fold gain predictions: each row scored by a model fitted on the other folds."""
    from tqdm import tqdm

    hashed, dense = design_ if design_ is not None else design(rows, progress)
    oof = np.zeros(len(rows))
    for test in tqdm(_folds(rows, folds, seed), desc="cv folds", unit="fold", disable=not progress):
        train_mask = np.ones(len(rows), dtype=bool)
        train_mask[test] = False
        model = _fit(hashed[train_mask], dense[train_mask], [rows[int(i)] for i in np.flatnonzero(train_mask)], False)
        oof[test] = model.predict(hashed[test], dense[test])[:, 0]
    return oof


def cross_validate(rows: Sequence[Row], folds: int = 5, seed: int = 0, progress: bool = True) -> dict[str, Metrics]:
    """APGR / CPT per benchmark of out-of-fold predictions (k-fold, stratified by benchmark)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        oof = out_of_fold(rows, folds, seed, progress)
    return by_benchmark(Outcome(r.benchmark, float(p), r.weak_correct, r.strong_correct) for r, p in zip(rows, oof, strict=True))


def train(data_paths: Iterable[Path], out_path: Path, seed: int = 0, folds: int = 5, progress: bool = True) -> Report:
    """Fit on all rows of `data_paths` and write the weights to `out_path` (byte-identical for the same
    data and seed). With folds >= 2 it cross-validates first, reports that, and calibrates p_strong on
    the out-of-fold predictions; with fewer it calibrates on the fit itself."""
    from threadpoolctl import threadpool_limits

    # multi-threaded BLAS sums in a varying order, which moved weights in the 7th digit between runs
    with threadpool_limits(limits=1):
        return _train(data_paths, out_path, seed, folds, progress)


def _train(data_paths: Iterable[Path], out_path: Path, seed: int, folds: int, progress: bool) -> Report:
    rows, errors = load_rows(data_paths)
    if errors:
        raise ValueError("\n".join(errors[:20]))
    if len(rows) < 10:
        raise ValueError(f"need at least 10 labelled rows, got {len(rows)}")
    mats = design(rows, progress)
    cv: dict[str, Metrics] = {}
    model = _fit(*mats, rows)
    if folds >= 2:
        score = out_of_fold(rows, folds, seed, progress, mats)
        cv = by_benchmark(
            Outcome(r.benchmark, float(p), r.weak_correct, r.strong_correct) for r, p in zip(rows, score, strict=True)
        )
    else:
        score = model.predict(*mats)[:, 0]
    a, b = _platt(score, rows)
    write_weights(out_path, model, (a, b))
    return Report(len(rows), cv, out_path)


def write_weights(path: Path, model: _Linear, platt: tuple[float, float]) -> None:
    """An .npz loadable with numpy.load, written with fixed zip timestamps so the bytes are reproducible."""
    arrays: dict[str, npt.NDArray[np.generic]] = {
        "format_version": np.array([FORMAT_VERSION], dtype=np.int64),
        "n_buckets": np.array([features.N_BUCKETS], dtype=np.int64),
        "dense_names": np.array(features.DENSE_NAMES),
        "hashed": model.hashed.astype(np.float32),
        "dense": model.dense.astype(np.float32),
        "low": model.low.astype(np.float32),
        "high": model.high.astype(np.float32),
        "mean": model.mean.astype(np.float32),
        "scale": model.scale.astype(np.float32),
        "bias": model.bias.astype(np.float32),
        "platt": np.array(platt, dtype=np.float32),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())
