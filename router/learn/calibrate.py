"""Threshold calibration (as in RouteLLM): the p_strong threshold that sends a target share of traffic to
the LLM tier. Policies route to the LLM tier when p_strong >= threshold, so the threshold is picked from
a sample of representative prompts rather than guessed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from router.classify.scores import Scorer
from router.learn.jsonl import prompt_of, read_jsonl


def threshold_for_share(scores: Sequence[float], share: float) -> float:
    """The threshold t such that `p >= t` holds for about `share` (0..1) of `scores`.

    It is the smallest score among the top round(share * n) scores, so at least that share goes to the
    LLM tier (more when scores tie at the cut). Share 0 gives a threshold above every score (nothing
    goes to the LLM); share 1 gives the lowest score. With no scores: 1.0 - share, a neutral guess.
    """
    if not 0.0 <= share <= 1.0 or math.isnan(share):
        raise ValueError(f"share must be within 0..1, got {share}")
    values = np.sort(np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=0.0))[::-1]
    if len(values) == 0:
        return 1.0 - share
    k = round(share * len(values))
    if k == 0:
        return float(np.nextafter(values[0], np.inf))
    return float(values[k - 1])


def _prompt(obj: object) -> tuple[str, str]:
    text = prompt_of(obj)
    if text is None:
        raise ValueError("expected an object with 'prompt' or 'messages'")
    return text


def read_prompts(path: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """(prompt, context) of each JSONL line of `path` (`{"prompt"}` or `{"messages"}` rows), and one
    `file:line: message` per line that holds neither."""
    return read_jsonl([path], _prompt)


def calibrate(scorer: Scorer, requests: Iterable[tuple[str, str]], share: float) -> float:
    """The threshold sending `share` of `requests` to the LLM tier under `scorer`."""
    return threshold_for_share([scorer.score(p, c).p_strong for p, c in requests], share)


def calibrate_files(scorer: Scorer, paths: Iterable[Path], share: float) -> tuple[float, int, list[str]]:
    """(threshold, number of prompts used, input errors) for the prompts in JSONL files."""
    requests, errors = read_jsonl(paths, _prompt)
    return calibrate(scorer, requests, share), len(requests), errors
