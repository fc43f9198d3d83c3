"""Latency and throughput of the learned scorer (run by hand: `python tests/bench/bench_classify.py`).

Prints p50/p99 per-request latency for prompts of about 100, 500 and 2,000 tokens (one core, shipped
weights) and prompts/s of batch classification.
"""

from __future__ import annotations

import random
import time

import numpy as np

from router.classify.learned import LearnedScorer

_WORDS = [
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "with",
    "was",
    "on",
    "be",
    "by",
    "this",
    "are",
    "from",
    "or",
    "at",
    "an",
    "which",
    "have",
    "not",
    "but",
    "they",
    "theorem",
    "prove",
    "integral",
    "derivative",
    "probability",
    "history",
    "treaty",
    "court",
    "plaintiff",
    "molecule",
    "enzyme",
    "protein",
    "algorithm",
    "function",
    "return",
    "compute",
    "total",
    "each",
    "per",
    "how",
    "many",
    "what",
    "why",
    "explain",
    "describe",
    "suppose",
    "therefore",
]


def make_prompt(tokens: int, rng: random.Random) -> str:
    """About `tokens` tokens of text (~0.75 words per token) with some numbers and punctuation."""
    out = []
    for i in range(int(tokens * 0.75)):
        out.append(str(rng.randint(1, 999)) if rng.random() < 0.06 else rng.choice(_WORDS))
        if i % 15 == 14:
            out[-1] += rng.choice([".", "?", ",", " ="])
    return " ".join(out)


def latency(scorer: LearnedScorer, tokens: int, n: int, rng: random.Random) -> tuple[float, float]:
    prompts = [make_prompt(tokens, rng) for _ in range(200)]
    for p in prompts[:20]:
        scorer.score(p)
    times = []
    for i in range(n):
        p = prompts[i % len(prompts)]
        t0 = time.perf_counter_ns()
        scorer.score(p)
        times.append(time.perf_counter_ns() - t0)
    ms = np.array(times) / 1e6
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def throughput(scorer: LearnedScorer, tokens: int, n: int, rng: random.Random) -> float:
    batch = [(make_prompt(tokens, rng), "") for _ in range(n)]
    t0 = time.perf_counter()
    scorer.score_batch(batch)
    return n / (time.perf_counter() - t0)


def main() -> None:
    rng = random.Random(0)
    t0 = time.perf_counter()
    scorer = LearnedScorer.from_package()
    print(f"weights loaded in {(time.perf_counter() - t0) * 1e3:.1f} ms")
    for tokens in (100, 500, 2000):
        p50, p99 = latency(scorer, tokens, 3000, rng)
        print(f"score() {tokens:>5} tokens: p50 {p50:.3f} ms  p99 {p99:.3f} ms")
    for tokens in (100, 500):
        print(f"score_batch() {tokens:>4} tokens: {throughput(scorer, tokens, 5000, rng):,.0f} prompts/s")


if __name__ == "__main__":
    main()
