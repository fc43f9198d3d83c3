"""The learned router: a linear model over hashed n-grams and handcrafted counts, numpy only.

Three heads share the features: the expected gain of the strong model (squashed by a fitted sigmoid into
p_strong = P(weak model wrong and strong model right)), and the reasoning and knowledge levels. Weights
come from router.classify.train and ship in router/classify/weights/learned.npz.
"""

from __future__ import annotations

import array
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

import numpy as np
import numpy.typing as npt

from router.classify import features
from router.classify.scores import Scores

WEIGHTS_PATH = Path(__file__).with_name("weights") / "learned.npz"
FORMAT_VERSION = 1


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _unit(x: float) -> float:
    return 0.0 if not x > 0.0 else 1.0 if x > 1.0 else x  # NaN -> 0


@dataclass(frozen=True, slots=True, eq=False)
class LearnedScorer:
    """Scores prompts with shipped weights; immutable, so one instance serves all requests."""

    hashed: npt.NDArray[np.float32]  # (n_buckets, 3): gain, reasoning, knowledge
    dense: npt.NDArray[np.float64]  # (n_dense, 3)
    low: npt.NDArray[np.float64]  # dense features are clipped to the range seen in training
    high: npt.NDArray[np.float64]
    mean: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]
    bias: npt.NDArray[np.float64]  # (3,)
    platt_a: float
    platt_b: float
    name: str = "learned"
    # the dense algebra folded into plain floats at load: per feature (low, high, weight per head / scale),
    # and per head the bias minus the means' share. 15 features x 3 heads is cheaper in Python than in
    # numpy, whose per-call overhead dominates arrays this small.
    _terms: tuple[tuple[float, float, float, float, float], ...] = field(init=False, repr=False)
    _const: tuple[float, float, float] = field(init=False, repr=False)
    # the hashed weights per head as plain float32 arrays, gathered with itemgetter (numpy's fancy indexing
    # and reduce cost several times more on one short prompt once their code is out of the CPU's caches)
    _heads: tuple[array.array[float], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        per_feature = self.dense / self.scale[:, None]
        const = self.bias - self.mean @ per_feature
        terms = tuple(
            (float(lo), float(hi), float(w[0]), float(w[1]), float(w[2]))
            for lo, hi, w in zip(self.low, self.high, per_feature, strict=True)
        )
        object.__setattr__(self, "_terms", terms)
        object.__setattr__(self, "_const", (float(const[0]), float(const[1]), float(const[2])))
        heads = np.ascontiguousarray(self.hashed.T, dtype=np.float32)
        object.__setattr__(self, "_heads", tuple(array.array("f", row.tobytes()) for row in heads))

    @classmethod
    def from_file(cls, path: Path | str) -> LearnedScorer:
        """Load weights written by router.classify.train; ValueError if they do not fit this code."""
        with np.load(Path(path), allow_pickle=False) as z:
            version = int(z["format_version"][0])
            if version != FORMAT_VERSION:
                raise ValueError(f"{path}: weights format {version}, this code reads {FORMAT_VERSION}")
            if int(z["n_buckets"][0]) != features.N_BUCKETS or tuple(z["dense_names"]) != features.DENSE_NAMES:
                raise ValueError(f"{path}: weights were trained with different features")
            platt = z["platt"].astype(np.float64)
            scorer = cls(
                hashed=np.ascontiguousarray(z["hashed"], dtype=np.float32),
                dense=z["dense"].astype(np.float64),
                low=z["low"].astype(np.float64),
                high=z["high"].astype(np.float64),
                mean=z["mean"].astype(np.float64),
                scale=z["scale"].astype(np.float64),
                bias=z["bias"].astype(np.float64),
                platt_a=float(platt[0]),
                platt_b=float(platt[1]),
            )
        scorer.hashed.setflags(write=False)
        return scorer

    @classmethod
    def from_package(cls) -> LearnedScorer:
        """The weights shipped with the package."""
        return cls.from_file(WEIGHTS_PATH)

    def raw(self, prompt: str, context: str = "") -> tuple[float, float, float]:
        """The three linear outputs (expected gain, reasoning, knowledge) before squashing."""
        ids, dense = features.read(prompt, context, len(self.hashed))
        a, b, c = self._const
        for x, (lo, hi, w0, w1, w2) in zip(dense, self._terms, strict=True):
            x = lo if x < lo else hi if x > hi else x  # clipped to the training range
            a += x * w0
            b += x * w1
            c += x * w2
        if ids:
            pick = itemgetter(*ids) if len(ids) > 1 else lambda head: (head[ids[0]],)
            h0, h1, h2 = (sum(pick(head), 0.0) for head in self._heads)
            norm = math.sqrt(len(ids))
            a, b, c = a + h0 / norm, b + h1 / norm, c + h2 / norm
        return a, b, c

    def _scores(self, raw: Sequence[float]) -> Scores:
        gain, reasoning, knowledge = (float(v) for v in raw)
        p = _sigmoid(self.platt_a * gain + self.platt_b) if math.isfinite(gain) else 0.5
        return Scores(p_strong=p, reasoning=_unit(reasoning), knowledge=_unit(knowledge))

    def score(self, prompt: str, context: str = "") -> Scores:
        """Scores of one request; never raises on text."""
        try:
            return self._scores(self.raw(prompt, context))
        except Exception:  # a scorer must not fail a request; this is a safety net, not a code path
            return Scores(p_strong=0.5, reasoning=0.5, knowledge=0.5)

    def score_batch(self, requests: Sequence[tuple[str, str]]) -> list[Scores]:
        """Scores of many (prompt, context) pairs: the same numbers as `score`, with the dense algebra
        done once for the batch."""
        feats = [features.featurise(p, c, len(self.hashed)) for p, c in requests]
        if not feats:
            return []
        dense = np.array([f.dense for f in feats])
        z = (np.clip(dense, self.low, self.high) - self.mean) / self.scale
        out = self.bias + z @ self.dense
        sizes = np.array([len(f.buckets) for f in feats])
        if sizes.sum():
            all_buckets = np.concatenate([f.buckets for f in feats])
            rows = np.repeat(np.arange(len(feats)), sizes)
            picked = self.hashed[all_buckets]
            summed = np.stack(
                [np.bincount(rows, weights=picked[:, h], minlength=len(feats)) for h in range(picked.shape[1])],
                axis=1,
            )
            out = out + summed / np.sqrt(np.maximum(sizes, 1))[:, None]
        return [self._scores(r) for r in out]
