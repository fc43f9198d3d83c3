"""Threshold calibration to a target LLM share."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from router.classify.scores import Scores
from router.learn.calibrate import calibrate_files, read_prompts, threshold_for_share


@pytest.mark.parametrize("share", [0.0, 0.1, 0.3, 0.5, 0.9, 1.0])
def test_threshold_sends_the_target_share(share: float) -> None:
    scores = np.random.default_rng(1).random(1000)
    t = threshold_for_share(list(scores), share)
    assert float(np.mean(scores >= t)) == pytest.approx(share, abs=1e-9)


def test_edge_cases() -> None:
    assert threshold_for_share([], 0.3) == pytest.approx(0.7)
    assert threshold_for_share([0.5, 0.5], 0.0) > 0.5
    with pytest.raises(ValueError):
        threshold_for_share([0.1], 1.5)


class _LengthScorer:
    name = "length"

    def score(self, prompt: str, context: str = "") -> Scores:
        return Scores(p_strong=min(len(prompt) / 100, 1.0), reasoning=0.0, knowledge=0.0)


def test_files_with_prompts_chat_requests_and_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    chat = {"messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "x" * 40}]}
    path.write_text(
        "\n".join([json.dumps({"prompt": "x" * 10}), "{broken", json.dumps(chat), json.dumps({"q": 1}), ""]),
        encoding="utf-8",
    )
    requests, errors = read_prompts(path)
    assert requests == [("x" * 10, ""), ("x" * 40, "sys")]
    assert [e.split(": ")[0] for e in errors] == [f"{path}:2", f"{path}:4"]
    threshold, n, errors = calibrate_files(_LengthScorer(), [path, tmp_path / "missing.jsonl"], 0.5)
    assert n == 2 and threshold == pytest.approx(0.4) and len(errors) == 3
