"""Feature extraction: stable, bounded, total."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from router.classify import features


def test_hashing_is_stable_across_processes() -> None:
    code = "from router.classify.features import featurise; print(featurise('How many apples are left?').buckets.tolist())"
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout for _ in range(2)}
    assert len(runs) == 1
    assert runs.pop().strip() == str(features.featurise("How many apples are left?").buckets.tolist())


def test_featurise_never_raises_and_is_bounded() -> None:
    for text in ["", " ", "\ud800\udfff\x00", "٣٤٥ ² ⅔", "🙂" * 1000, "a" * 2_000_000, "1" * 100_000, "\n" * 50_000]:
        f = features.featurise(text, context=text)
        assert f.dense.shape == (len(features.DENSE_NAMES),)
        assert np.all(np.isfinite(f.dense))
        assert len(f.buckets) <= 4 * features.MAX_TOKENS
        assert np.all((f.buckets >= 0) & (f.buckets < features.N_BUCKETS))
    assert features.featurise(None).buckets.size == 0  # type: ignore[arg-type]


def test_numbers_become_shapes_and_math_is_counted() -> None:
    assert features.tokenize("costs 12.50 or 7") == ["costs", "<n4.>", "or", "<n1>"]
    plain = features.featurise("tell me about dogs").dense
    maths = features.featurise("Solve 3x + 4 = 19 and compute 2^5 * 7 / 3.").dense
    i = features.DENSE_NAMES.index("log_math_ops")
    assert maths[i] > plain[i] == 0.0


def test_prompt_of_reads_prompts_and_chat() -> None:
    assert features.prompt_of({"prompt": "p"}) == ("p", "")
    chat = {
        "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": [{"type": "text", "text": "u1"}]},
            {"role": "assistant", "content": "a1"},
            {"role": "user", "content": "u2"},
        ]
    }
    assert features.prompt_of(chat) == ("u2", "s\nu1\na1")
    assert features.prompt_of({"messages": [{"role": "assistant", "content": "x"}]}) is None
    assert features.prompt_of([1, 2]) is None
