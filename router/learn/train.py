"""Fit the learned router's weights from labelled routing rows, and validate it the way it is used.

The raw score has three parts (router.classify.learned): a fixed prior per task kind (KIND_PRIOR), the
signal model below scaled by SIGNAL_SHARE, and the clipped content correction (router.classify.content),
a ridge regression of the gain on English words and word pairs of the benchmark rows (not the graded chat
rows: too few, too noisy) that orders requests within a kind. The signal model is one linear score over
the interpretable signals (router.classify.signals): a weighted
ridge regression of the per-prompt gain of the strong model (strong - weak quality: -1/0/1 on
benchmarks with right/wrong answers, the grade difference over 9 on graded chat), so prompts where
only the strong model does well rank first, which is the ordering APGR rewards. Signs are constrained
to what each signal means (maths, code, reasoning, specialised knowledge, constraints can only raise
the need for the LLM; writing, role-play, extraction, small talk only lower it), and each benchmark
carries the same total weight: the model cannot learn that one benchmark's maths is easy because its
answer format trips the strong model. A one-dimensional logistic fit (Platt scaling) then turns the
score into p_strong = P(only the LLM answers well) without changing the order.

`leave_one_out` trains without each benchmark in turn and measures APGR on it: the number that says
whether the router carries over to traffic it was not trained on. Training needs numpy and scipy.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from router.classify import content, signals
from router.classify.content import Content
from router.classify.learned import FORMAT_VERSION
from router.learn.evaluate import Metrics, Outcome, by_benchmark
from router.learn.jsonl import prompt_of, read_jsonl

ALPHA = 30.0  # ridge penalty on standardised signals, per unit of total row weight (see choose in README)
NEED_MARGIN = 3.0  # graded rows: the LLM "is needed" when its grade beats the SLM's by this much (of 10)
Array = npt.NDArray[np.float64]

# Raw-score offsets per task kind, in gain units (the share of the grade scale the LLM adds): on graded
# chat the LLM's lead is largest on code and maths, then multi-step reasoning, and smallest on writing,
# role-play and small talk, where a small model answers about as well (the scale, three times the gain
# those kinds differ by, keeps the kind ahead of the content correction across languages: the
# translations' agreement). Fixed, not learned: no benchmark
# here holds those kinds side by side (MMLU is all questions with options, GSM8K all maths).
KIND_PRIOR: dict[str, float] = {
    "code": 0.90,
    "math": 0.75,
    "reasoning": 0.75,
    "knowledge": 0.15,
    "general": 0.0,
    "extraction": -0.15,
    "writing": -0.30,
    "roleplay": -0.36,
    "chat": -0.60,
}
SIGNAL_SHARE = 0.25  # the signal model's weight beside the prior and the content correction
CONTENT_ALPHA = 20.0  # ridge penalty of the content correction (rows L2-normalised; 10, 20, 30, 50 tried)
CONTENT_CLIP = 0.15  # the most the content correction moves a raw score (a tenth of the code/chat gap)
CONTENT_MIN_ROWS = 3  # a key enters the vocabulary when this many training rows hold it

# sign of each signal's weight: +1 can only raise p_strong, -1 only lower it, 0 free
_SIGNS: dict[str, int] = {
    "numbers": 1,
    "operators": 1,
    "latex": 1,
    "code_syntax": 1,
    "kw_math": 1,
    "kw_code": 1,
    "kw_reason": 1,
    "kw_stem": 1,
    "kw_humanities": 1,
    "kw_constraint": 1,
    "kw_write": -1,
    "kw_roleplay": -1,
    "kw_extract": -1,
    "kw_chat": -1,
    "is_code": 1,
    "is_math": 1,
    "is_reasoning": 1,
    "is_knowledge": 1,
    "is_writing": -1,
    "is_roleplay": -1,
    "is_extraction": -1,
}
CAPS: dict[str, float] = {"length": 0.03, "lines": 0.02}
SIGNS: tuple[int, ...] = tuple(_SIGNS.get(name, 0) for name in signals.SIGNAL_NAMES)

# Handwritten anchors at the easy end, which no benchmark holds: small talk any model answers.
ANCHORS: tuple[str, ...] = (
    "hi, how are you",
    "Hello!",
    "Thanks, that's great.",
    "Good morning! How's your day going?",
    "ok",
    "Tell me a joke.",
    "What's your name?",
    "Write a haiku about spring.",
    "Write a short, friendly email inviting my team to lunch on Friday.",
    "Pretend you are a pirate and greet me.",
    "Summarise this in one sentence: the meeting moved to Tuesday.",
)
ANCHOR_WEIGHT = 0.05  # their share of the total weight


@dataclass(frozen=True, slots=True)
class Row:
    """One labelled prompt: the quality each model reached (1/0, or a grade 1..10)."""

    benchmark: str
    prompt: str
    weak: float
    strong: float
    graded: bool

    @property
    def gain(self) -> float:
        return (self.strong - self.weak) / (9.0 if self.graded else 1.0)

    @property
    def needs_llm(self) -> bool:
        return self.strong - self.weak >= NEED_MARGIN if self.graded else self.strong > self.weak


@dataclass(frozen=True, slots=True)
class Model:
    """A fitted linear score over standardised, clipped signals, and its Platt scaling."""

    coef: Array
    low: Array
    high: Array
    mean: Array
    scale: Array
    bias: float
    platt: tuple[float, float] = (1.0, 0.0)
    content: dict[str, float] | None = None  # the content correction's weight per vocabulary key
    kind_prior: dict[str, float] | None = None  # raw-score offset per task kind

    def score(self, x: Array) -> Array:
        """The signal part of the raw score."""
        z = (np.clip(x, self.low, self.high) - self.mean) / self.scale
        out: Array = z @ self.coef + self.bias
        return out

    def total(self, f: Features) -> Array:
        """The whole raw score: kind prior + signal part + clipped content correction."""
        table = self.kind_prior or {}
        prior = np.array([table.get(k, 0.0) if k else 0.0 for k in f.kinds], dtype=np.float64)
        return prior + self.score(f.x) + _correction(self.content or {}, f)


@dataclass(frozen=True, slots=True)
class Features:
    """What the fit reads of each row: the signals, the task kind (None for a multiple-choice question,
    which gets no kind prior), and the content keys (English only)."""

    x: Array
    kinds: list[str | None]
    keys: list[set[str]]

    def take(self, index: npt.NDArray[np.int64] | npt.NDArray[np.bool_]) -> Features:
        idx = np.flatnonzero(index) if index.dtype == np.bool_ else index
        return Features(self.x[idx], [self.kinds[int(i)] for i in idx], [self.keys[int(i)] for i in idx])


def features(texts: Sequence[str]) -> Features:
    """The features of `texts` (rows in order)."""
    sigs = [signals.read(t) for t in texts]
    x = np.array([s.values for s in sigs], dtype=np.float64).reshape(len(texts), len(signals.SIGNAL_NAMES))
    kinds = [None if s.choice else s.task_kind for s in sigs]
    keys = [content.keys(t) if s.language == content.LANGUAGE else set() for t, s in zip(texts, sigs, strict=True)]
    return Features(x, kinds, keys)


def _matrix(keys: Sequence[set[str]], vocab: dict[str, int]) -> object:
    """Rows of `keys` as an L2-normalised binary sparse matrix over `vocab`."""
    import scipy.sparse as sp

    ids = [sorted(vocab[k] for k in row if k in vocab) for row in keys]  # sorted: the same sums in every process
    counts = np.array([len(r) for r in ids], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    indices = np.array([i for r in ids for i in r], dtype=np.int64)
    values = np.repeat(1.0 / np.sqrt(np.maximum(counts, 1)), counts)
    return sp.csr_matrix((values, indices, indptr), shape=(len(keys), len(vocab)))


def _correction(weights: dict[str, float], f: Features) -> Array:
    """The clipped content correction of each row, computed by serving's own code."""
    correction = Content(weights, CONTENT_CLIP)
    return np.array([correction.of_keys(row) for row in f.keys], dtype=np.float64)


def fit_content(f: Features, rows: Sequence[Row]) -> dict[str, float]:
    """Ridge regression of the gain on the content keys of the benchmark (not graded) rows; each
    benchmark weighs in by the square root of its size, so a small one is not drowned by a large one."""
    from collections import Counter

    import scipy.sparse as sp
    from scipy.sparse.linalg import lsqr

    use = [i for i, r in enumerate(rows) if not r.graded and f.keys[i]]
    if not use:
        return {}
    counts = Counter(k for i in use for k in f.keys[i])
    vocab = {k: j for j, k in enumerate(sorted(k for k, n in counts.items() if n >= CONTENT_MIN_ROWS))}
    if not vocab:
        return {}
    sizes = Counter(rows[i].benchmark for i in use)
    largest = max(sizes.values())
    w = np.array([np.sqrt(largest / sizes[rows[i].benchmark]) for i in use])
    y = np.array([rows[i].gain for i in use])
    y = y - float(w @ y) / float(w.sum())
    a = _matrix([f.keys[i] for i in use], vocab)
    sw = np.sqrt(w)
    solution = lsqr(sp.diags(sw) @ a, y * sw, damp=float(np.sqrt(CONTENT_ALPHA)), atol=1e-8, btol=1e-8, iter_lim=2000)[0]
    # float32, as the weights file stores them: training scores what serving will
    return {k: float(np.float32(solution[j])) for k, j in vocab.items() if abs(solution[j]) > 1e-6}


@dataclass(frozen=True, slots=True)
class Report:
    """What `train` did: row count, held-out metrics per benchmark, where the weights went."""

    n_rows: int
    held_out: dict[str, Metrics]
    out_path: Path


def parse_row(obj: object) -> Row:
    """A labelled row from a decoded JSONL line; ValueError says what is wrong with it."""
    text = prompt_of(obj)
    if text is None or not isinstance(obj, dict):
        raise ValueError("expected an object with 'prompt' or 'messages'")
    benchmark = obj.get("benchmark")
    bench = benchmark if isinstance(benchmark, str) else "all"
    weak, strong = obj.get("weak_correct"), obj.get("strong_correct")
    if isinstance(weak, bool) and isinstance(strong, bool):
        return Row(bench, text[0], float(weak), float(strong), False)
    weak, strong = obj.get("weak_score"), obj.get("strong_score")
    if isinstance(weak, (int, float)) and isinstance(strong, (int, float)) and not isinstance(weak, bool):
        return Row(bench, text[0], float(weak), float(strong), True)
    raise ValueError("need 'weak_correct' and 'strong_correct' (true/false) or 'weak_score' and 'strong_score' (numbers)")


def load_rows(paths: Iterable[Path]) -> tuple[list[Row], list[str]]:
    """Labelled rows of JSONL files, and one `file:line: message` per line that could not be used."""
    return read_jsonl(paths, parse_row)


def design(texts: Sequence[str]) -> Array:
    """The signal matrix of `texts` (rows in order)."""
    return np.array([signals.read(t).values for t in texts], dtype=np.float64).reshape(len(texts), len(signals.SIGNAL_NAMES))


GRADED_WEIGHT = 2.0  # graded chat rows (arena) carry this much total weight against one benchmark's 1


def _row_weights(rows: Sequence[Row]) -> Array:
    """Each benchmark gets the same total weight (graded chat GRADED_WEIGHT), spread over its rows."""
    sizes: dict[str, int] = {}
    for r in rows:
        sizes[r.benchmark] = sizes.get(r.benchmark, 0) + 1
    return np.array([(GRADED_WEIGHT if r.graded else 1.0) / sizes[r.benchmark] for r in rows], dtype=np.float64)


def fit(f: Features, rows: Sequence[Row], alpha: float = ALPHA) -> Model:
    """The whole model: the signal fit (scaled by SIGNAL_SHARE), the content correction, then Platt."""
    base = fit_signals(f.x, rows, alpha)
    whole = replace(
        base,
        coef=base.coef * SIGNAL_SHARE,
        bias=base.bias * SIGNAL_SHARE,
        content=fit_content(f, rows),
        kind_prior=dict(KIND_PRIOR),
    )
    return replace(whole, platt=_platt(whole.total(f), rows))


def fit_signals(x: Array, rows: Sequence[Row], alpha: float = ALPHA) -> Model:
    """The sign-constrained weighted ridge fit of the gain on the signals, plus anchors."""
    from scipy.optimize import lsq_linear

    anchors = design(ANCHORS)
    low, high = x.min(axis=0), x.max(axis=0)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0  # a constant signal gets weight 0 anyway; avoid dividing by 0
    w = _row_weights(rows)
    w = np.concatenate([w, np.full(len(ANCHORS), ANCHOR_WEIGHT * w.sum() / len(ANCHORS))])
    z = (np.clip(np.vstack([x, anchors]), low, high) - mean) / scale
    y = np.concatenate([[r.gain for r in rows], np.full(len(ANCHORS), -0.5)])
    w = w / w.sum()
    zm, ym = w @ z, float(w @ y)  # the intercept is not penalised: centre, fit, put it back
    sw = np.sqrt(w)[:, None]
    a = np.vstack([(z - zm) * sw, np.sqrt(alpha / len(w)) * np.eye(z.shape[1])])
    b = np.concatenate([(y - ym) * sw[:, 0], np.zeros(z.shape[1])])
    lower = np.array([0.0 if s > 0 else -np.inf for s in SIGNS])
    upper = np.array([0.0 if s < 0 else np.inf for s in SIGNS])
    for name, cap in CAPS.items():  # size signals may only nudge: within a benchmark they stand for its format
        i = signals.SIGNAL_NAMES.index(name)
        lower[i], upper[i] = max(lower[i], -cap), min(upper[i], cap)
    coef = lsq_linear(a, b, bounds=(lower, upper), method="bvls").x
    return Model(coef, low, high, mean, scale, ym - float(zm @ coef))


def _platt(score: Array, rows: Sequence[Row]) -> tuple[float, float]:
    """(a, b) with sigmoid(a * score + b) ~ P(only the LLM answers well), each benchmark weighted equally."""
    from scipy.optimize import minimize

    y = np.array([r.needs_llm for r in rows], dtype=np.float64)
    w = _row_weights(rows)
    if y.min() == y.max():
        return 1.0, 0.0

    def loss(ab: Array) -> float:
        t = ab[0] * score + ab[1]
        return float(w @ (np.logaddexp(0.0, t) - y * t))

    result = minimize(loss, np.array([1.0, 0.0]), method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-10})
    a, b = (float(v) for v in result.x)
    return (a, b) if a > 0 else (1.0, 0.0)


def outcomes(rows: Sequence[Row], scores: Sequence[float] | Array) -> list[Outcome]:
    return [Outcome(r.benchmark, float(p), r.weak, r.strong) for r, p in zip(rows, scores, strict=True)]


def leave_one_out(rows: Sequence[Row], f: Features | None = None, alpha: float = ALPHA) -> dict[str, Metrics]:
    """For every benchmark B: fit on the other benchmarks, measure on B (needs two benchmarks or more)."""
    f = features([r.prompt for r in rows]) if f is None else f
    names = sorted({r.benchmark for r in rows})
    result: dict[str, Metrics] = {}
    for name in names:
        test = np.array([r.benchmark == name for r in rows])
        model = fit(f.take(~test), [r for r, t in zip(rows, test, strict=True) if not t], alpha)
        held = [r for r, t in zip(rows, test, strict=True) if t]
        result[name] = by_benchmark(outcomes(held, model.total(f.take(test))))[name]
    return result


def _folds(rows: Sequence[Row], k: int, seed: int) -> list[npt.NDArray[np.int64]]:
    """k disjoint test index sets, each benchmark spread evenly over them."""
    rng = np.random.default_rng(seed)
    fold_of = np.zeros(len(rows), dtype=np.int64)
    for bench in sorted({r.benchmark for r in rows}):
        idx = np.array([i for i, r in enumerate(rows) if r.benchmark == bench], dtype=np.int64)
        fold_of[rng.permutation(idx)] = np.arange(len(idx)) % k
    return [np.flatnonzero(fold_of == f) for f in range(k)]


def out_of_fold(rows: Sequence[Row], folds: int = 5, seed: int = 0, f: Features | None = None) -> Array:
    """Out-of-fold raw scores: each row scored by a model fitted on the other folds."""
    f = features([r.prompt for r in rows]) if f is None else f
    oof = np.zeros(len(rows))
    for test in _folds(rows, folds, seed):
        mask = np.ones(len(rows), dtype=bool)
        mask[test] = False
        model = fit(f.take(mask), [rows[int(i)] for i in np.flatnonzero(mask)])
        oof[test] = model.total(f.take(test))
    return oof


def cross_validate(rows: Sequence[Row], folds: int = 5, seed: int = 0) -> dict[str, Metrics]:
    """APGR / CPT per benchmark of out-of-fold scores (k-fold, stratified by benchmark)."""
    return by_benchmark(outcomes(rows, out_of_fold(rows, folds, seed)))


def train(data_paths: Iterable[Path], out_path: Path, seed: int = 0, folds: int = 5) -> Report:
    """Fit on all rows of `data_paths` and write the weights to `out_path` (byte-identical for the same
    data). The report holds leave-one-benchmark-out metrics when there are several benchmarks, else
    k-fold (folds >= 2) cross-validated ones, else none."""
    rows, errors = load_rows(data_paths)
    if errors:
        raise ValueError("\n".join(errors[:20]))
    if len(rows) < 10:
        raise ValueError(f"need at least 10 labelled rows, got {len(rows)}")
    f = features([r.prompt for r in rows])
    held_out: dict[str, Metrics] = {}
    if len({r.benchmark for r in rows}) > 1:
        held_out = leave_one_out(rows, f)
    elif folds >= 2:
        held_out = by_benchmark(outcomes(rows, out_of_fold(rows, folds, seed, f)))
    write_weights(out_path, fit(f, rows))
    return Report(len(rows), held_out, out_path)


def write_weights(path: Path, model: Model) -> None:
    """An .npz loadable with numpy.load, written with fixed zip timestamps so the bytes are reproducible."""
    weights = model.content or {}
    words = sorted(weights)
    prior = model.kind_prior or {}
    arrays: dict[str, npt.NDArray[np.generic]] = {
        "format_version": np.array([FORMAT_VERSION], dtype=np.int64),
        "signal_names": np.array(signals.SIGNAL_NAMES),
        "coef": model.coef.astype(np.float64),
        "low": model.low.astype(np.float64),
        "high": model.high.astype(np.float64),
        "mean": model.mean.astype(np.float64),
        "scale": model.scale.astype(np.float64),
        "bias": np.array([model.bias], dtype=np.float64),
        "platt": np.array(model.platt, dtype=np.float64),
        "kind_names": np.array(sorted(prior), dtype=np.str_),
        "kind_prior": np.array([prior[k] for k in sorted(prior)], dtype=np.float64),
        "content_keys": np.frombuffer("\n".join(words).encode("utf-8"), dtype=np.uint8),
        "content_weights": np.array([weights[k] for k in words], dtype=np.float32),
        "content_clip": np.array([CONTENT_CLIP], dtype=np.float64),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())
