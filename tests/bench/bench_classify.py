"""Latency, throughput and memory of classification (run by hand: `python tests/bench/bench_classify.py`).

Prints, on one core with the shipped weights:
- p50/p99 of the learned scorer and of the whole classification (conversation view, scorer, token count)
  for prompts of about 100, 500 and 2,000 tokens, English and Chinese;
- p99 of the whole classification on hostile inputs as big as the 4 MiB body limit admits (backticks,
  unclosed tags, repeated <file> tags, long repeats, one character), and how cost grows with input size;
- prompts/s of `router classify` (the CLI, end to end, in one process);
- memory the scorer adds to a process.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

from router.classify.classifier import Classifier
from router.classify.learned import LearnedScorer
from router.classify.tokens import TokenCounter

ROOT = Path(__file__).resolve().parents[2]
_WORDS = " ".join(
    (
        "the a of to and in is that for it as with was on be by this are from or at an which have not but they",
        "theorem prove integral derivative probability history treaty court plaintiff molecule enzyme protein",
        "algorithm function return compute total each per how many what why explain describe suppose therefore",
    )
).split(" ")
_ZH = "小明有苹果又买了个他一共有多少计算证明函数代码历史法律分子的是在和了有人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处理府研质"


def make_prompt(tokens: int, rng: random.Random, chinese: bool = False) -> str:
    """About `tokens` tokens of text with some numbers and punctuation."""
    if chinese:
        return "".join(rng.choice(_ZH) for _ in range(int(tokens * 1.2))) + "？"
    out = []
    for i in range(int(tokens * 0.75)):
        out.append(str(rng.randint(1, 999)) if rng.random() < 0.06 else rng.choice(_WORDS))
        if i % 15 == 14:
            out[-1] += rng.choice([".", "?", ",", " ="])
    return " ".join(out)


HOSTILE: dict[str, Callable[[int], str]] = {
    "backticks": lambda n: "`" * n,
    "unclosed tags": lambda n: "<file>" * (n // 6),
    "repeated <file> tags": lambda n: "<file>x</file>" * (n // 14),
    "long repeats": lambda n: "ab(" * (n // 3),
    "one character": lambda n: "a" * n,
    "newlines": lambda n: "\n" * n,
    "tags and fences": lambda n: "<file>```\n" * (n // 10),
}
BODY_LIMIT = 4 * 1024 * 1024


def percentiles(fn: Callable[[], object], n: int) -> tuple[float, float]:
    """p50 and p99 in ms of the CPU time of this thread per call: on a shared, loaded machine wall-clock
    percentiles measure the scheduler (a preempted call looks like a 10 ms one); CPU time measures the code."""
    for _ in range(min(20, n)):
        fn()
    times = []
    for _ in range(n):
        t0 = time.thread_time_ns()
        fn()
        times.append(time.thread_time_ns() - t0)
    ms = np.array(times) / 1e6
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    rng = random.Random(0)
    t0 = time.perf_counter()
    tracemalloc.start()
    scorer = LearnedScorer.from_package()
    scorer.score("warm the lexicons up")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"weights loaded in {(time.perf_counter() - t0) * 1e3:.1f} ms; scorer memory {peak / 1e6:.2f} MB (tracemalloc peak)")
    classifier = Classifier(TokenCounter())
    for chinese in (False, True):
        for tokens in (100, 500, 2000):
            prompts = [make_prompt(tokens, rng, chinese) for _ in range(50)]
            cycle = itertools.cycle(prompts)
            s50, s99 = percentiles(lambda cycle=cycle: scorer.score(next(cycle)), 2000)
            bodies = itertools.cycle([{"model": "auto", "messages": [{"role": "user", "content": p}]} for p in prompts])
            c50, c99 = percentiles(lambda bodies=bodies: classifier.classify(next(bodies), scorer), 2000)
            lang = "zh" if chinese else "en"
            print(f"{lang} {tokens:>5} tokens: score p50 {s50:.3f} p99 {s99:.3f} ms | classify p50 {c50:.3f} p99 {c99:.3f} ms")
    print("hostile inputs at the body limit (whole classification):")
    for name, make in HOSTILE.items():
        sizes = {}
        for size in (BODY_LIMIT // 64, BODY_LIMIT - 300):
            body = {"model": "auto", "messages": [{"role": "user", "content": make(size)}]}
            sizes[size] = percentiles(lambda body=body: classifier.classify(body, scorer), 100)
        (s50, s99), (b50, b99) = sizes.values()
        print(f"  {name:<22} 4 MiB: p50 {b50:.3f} p99 {b99:.3f} ms | 64 KiB: p50 {s50:.3f} p99 {s99:.3f} ms")
    n = 5000
    lines = "\n".join(json.dumps({"prompt": make_prompt(rng.choice((30, 100, 300)), rng)}) for _ in range(n)) + "\n"
    rates = []
    for count in (1, n):  # the first measures start-up alone
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "router", "classify"],
            input="".join(lines.splitlines(keepends=True)[:count]),
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        )
        elapsed = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        assert len(out.stdout.splitlines()) == count
        rates.append((elapsed, cpu))
    (start_wall, start_cpu), (wall, cpu) = rates
    print(
        f"router classify: {n} prompts in {wall:.2f} s wall, {cpu:.2f} s CPU (start-up alone {start_wall:.2f} s wall, "
        f"{start_cpu:.2f} s CPU): {n / wall:,.0f} prompts/s wall with start-up, "
        f"{n / max(cpu - start_cpu, 1e-9):,.0f} prompts/s of CPU after start-up"
    )


if __name__ == "__main__":
    main()
