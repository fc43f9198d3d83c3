"""The learned router: a logistic model over what kind of task a request is, interpretable signals,
and a bounded correction from its English content.

p_strong = sigmoid(a * (kind + bias + sum_i w_i * z_i + content) + b), where
- kind is the prior of the request's task kind (code and maths need the LLM most, role-play and small
  talk least; none for a multiple-choice question, whose answer is a pick whatever the subject),
- z_i is signal i (router.classify.signals) clipped to the range seen in training and standardised,
  w_i its learned weight (signs constrained to what each signal means),
- content is router.classify.content's clipped correction (English only),
- (a, b) a Platt fit so p_strong reads as P(only the LLM answers well).
Every term is shown by `explain`. In a conversation the request is judged as the harder of its latest
turn and the user's earlier turns (a bare "go on" after a hard request is as hard as the request).
Weights come from router.learn.train and ship in router/classify/weights/learned.npz.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from router.classify import signals
from router.classify.content import Content
from router.classify.scores import Judgement, Scores

WEIGHTS_PATH = Path(__file__).with_name("weights") / "learned.npz"
FORMAT_VERSION = 3
HISTORY_DISCOUNT = 0.25  # logit units: earlier turns count a little less than the latest one


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _squash(x: float) -> float:
    return 1.0 - math.exp(-max(x, 0.0))


def levels(named: dict[str, float]) -> tuple[float, float]:
    """(reasoning, knowledge) in 0..1 from the signals (log counts): how much multi-step work and how
    much specialised knowledge the request asks for. Fixed formulas, not learned: they describe."""
    reasoning = named["kw_math"] + named["kw_code"] + named["kw_reason"]
    reasoning += 0.5 * (named["operators"] + named["latex"] + named["code_syntax"]) + 0.3 * named["numbers"]
    knowledge = named["kw_stem"] + named["kw_humanities"] + 0.2 * max(named["length"] - 3.0, 0.0)
    return round(_squash(0.8 * reasoning), 4), round(_squash(0.9 * knowledge), 4)


@dataclass(frozen=True, slots=True, eq=False)
class LearnedScorer:
    """Scores requests with trained weights; immutable, so one instance serves all requests."""

    coef: tuple[float, ...]  # per signal, on standardised clipped values
    low: tuple[float, ...]
    high: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    bias: float
    platt_a: float
    platt_b: float
    kind_prior: dict[str, float] = field(default_factory=dict)  # task kind -> raw-score offset
    content: Content = field(default_factory=lambda: Content({}, 0.0), repr=False)
    source: str = "package"
    name: str = "learned"
    # per signal (low, high, weight / scale) and the constant, folded at load for a plain-float dot product
    _terms: tuple[tuple[float, float, float], ...] = field(init=False, repr=False)
    _const: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        per = [w / s for w, s in zip(self.coef, self.scale, strict=True)]
        object.__setattr__(self, "_terms", tuple(zip(self.low, self.high, per, strict=True)))
        object.__setattr__(self, "_const", self.bias - sum(m * p for m, p in zip(self.mean, per, strict=True)))

    @classmethod
    def from_file(cls, path: Path | str) -> LearnedScorer:
        """Load weights written by router.learn.train; ValueError if they do not fit this code."""
        with np.load(Path(path), allow_pickle=False) as z:
            version = int(z["format_version"][0])
            if version != FORMAT_VERSION:
                raise ValueError(f"{path}: weights format {version}, this code reads {FORMAT_VERSION}")
            if tuple(str(n) for n in z["signal_names"]) != signals.SIGNAL_NAMES:
                raise ValueError(f"{path}: weights were trained with different signals")
            arrays = {k: _floats(z[k]) for k in ("coef", "low", "high", "mean", "scale")}
            if any(len(v) != len(signals.SIGNAL_NAMES) for v in arrays.values()):
                raise ValueError(f"{path}: weights do not match the signals")
            platt = _floats(z["platt"])
            kinds = [str(n) for n in z["kind_names"]]
            words = bytes(z["content_keys"].astype(np.uint8)).decode("utf-8").split("\n") if z["content_keys"].size else []
            weights = _floats(z["content_weights"])
            if len(words) != len(weights) or len(kinds) != len(z["kind_prior"]):
                raise ValueError(f"{path}: content or kind weights do not match their names")
            return cls(
                coef=arrays["coef"],
                low=arrays["low"],
                high=arrays["high"],
                mean=arrays["mean"],
                scale=arrays["scale"],
                bias=float(z["bias"][0]),
                platt_a=platt[0],
                platt_b=platt[1],
                kind_prior=dict(zip(kinds, _floats(z["kind_prior"]), strict=True)),
                content=Content(dict(zip(words, weights, strict=True)), float(z["content_clip"][0])),
                source=str(path),
            )

    @classmethod
    def from_package(cls) -> LearnedScorer:
        """The weights shipped with the package."""
        scorer = cls.from_file(WEIGHTS_PATH)
        object.__setattr__(scorer, "source", "package")
        return scorer

    def raw(self, values: tuple[float, ...]) -> float:
        """The linear score (before Platt scaling) of one request's signal values."""
        total = self._const
        for x, (lo, hi, w) in zip(values, self._terms, strict=True):
            total += (lo if x < lo else hi if x > hi else x) * w
        return total

    def prior(self, sig: signals.Signals) -> float:
        """The raw-score offset of the request's task kind (none for a multiple-choice question)."""
        return 0.0 if sig.choice else self.kind_prior.get(sig.task_kind, 0.0)

    def total(self, text: str) -> tuple[signals.Signals, float, float, float]:
        """(signals, raw score, kind prior, content correction) of one text."""
        sig = signals.read(text)
        prior = self.prior(sig)
        content = self.content.correction(text, sig.language)
        return sig, self.raw(sig.values) + prior + content, prior, content

    def probability(self, raw: float) -> float:
        return _sigmoid(self.platt_a * raw + self.platt_b) if math.isfinite(raw) else 0.5

    def judge(self, prompt: str, context: str = "") -> Judgement:
        """The full judgement of a request: scores, language, task kind and each signal's contribution."""
        sig, raw, prior, content = self.total(prompt)
        judged_on = "prompt"
        if context:
            earlier, raw_earlier, prior_earlier, content_earlier = self.total(context)
            raw_earlier -= HISTORY_DISCOUNT / self.platt_a  # logit units -> raw
            if raw_earlier > raw:
                sig, raw, judged_on = earlier, raw_earlier, "conversation"
                prior, content = prior_earlier, content_earlier
        named = sig.named()
        reasoning, knowledge = levels(named)
        z = ((lo if x < lo else hi if x > hi else x) for x, (lo, hi, _) in zip(sig.values, self._terms, strict=True))
        contributions = {
            name: self.platt_a * (x - m) / s * w
            for name, x, m, s, w in zip(signals.SIGNAL_NAMES, z, self.mean, self.scale, self.coef, strict=True)
        }
        contributions["task_kind"] = self.platt_a * prior
        contributions["content"] = self.platt_a * content
        return Judgement(
            scores=Scores(p_strong=self.probability(raw), reasoning=reasoning, knowledge=knowledge),
            language=sig.language,
            task_kind=sig.task_kind,
            signals=named,
            contributions=contributions,
            judged_on=judged_on,
        )

    def score(self, prompt: str, context: str = "") -> Scores:
        """Scores of one request; never raises on text."""
        try:
            return self.judge(prompt, context).scores
        except Exception:  # a scorer must not fail a request; this is a safety net, not a code path
            return Scores(p_strong=0.5, reasoning=0.5, knowledge=0.5)

    def score_batch(self, requests: list[tuple[str, str]]) -> list[Scores]:
        """Scores of many (prompt, context) pairs."""
        return [self.score(p, c) for p, c in requests]


def _floats(arr: npt.NDArray[np.generic]) -> tuple[float, ...]:
    return tuple(float(x) for x in np.asarray(arr, dtype=np.float64).ravel())
