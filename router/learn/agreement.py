"""Language independence, measured: does the same request get the same tier in every language?

Input: JSONL rows holding one request in several languages (`{"id", "kind", "en": ..., "de": ..., ...}`).
For each language, the share of rows whose tier (p_strong >= threshold) equals the English one's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from router.classify.scores import Scorer

REFERENCE = "en"


@dataclass(frozen=True, slots=True)
class Agreement:
    language: str
    n: int
    agree: float  # share of rows with the reference language's tier
    llm_share: float  # share of rows sent to the LLM tier in this language


def read_translations(path: Path) -> list[dict[str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            obj = json.loads(line)
            rows.append({k: v for k, v in obj.items() if isinstance(v, str)})
    return rows


def agreement(scorer: Scorer, rows: list[dict[str, str]], threshold: float) -> list[Agreement]:
    """Agreement with the reference language per language (sorted by name); the reference itself first."""
    languages = sorted({k for r in rows for k in r if k not in ("id", "kind")} - {REFERENCE})
    tiers = {lang: [scorer.score(r[lang]).p_strong >= threshold for r in rows if lang in r] for lang in [REFERENCE, *languages]}
    out = [Agreement(REFERENCE, len(tiers[REFERENCE]), 1.0, _share(tiers[REFERENCE]))]
    for lang in languages:
        pairs = [
            (scorer.score(r[REFERENCE]).p_strong >= threshold, scorer.score(r[lang]).p_strong >= threshold)
            for r in rows
            if lang in r
        ]
        agree = sum(a == b for a, b in pairs) / len(pairs) if pairs else 0.0
        out.append(Agreement(lang, len(pairs), agree, _share(tiers[lang])))
    return out


def _share(tiers: list[bool]) -> float:
    return sum(tiers) / len(tiers) if tiers else 0.0


def format_agreement(results: list[Agreement]) -> str:
    lines = [f"{'language':<9} {'n':>4} {'agree':>6} {'LLM':>6}"]
    lines += [f"{a.language:<9} {a.n:>4} {a.agree:>6.1%} {a.llm_share:>6.1%}" for a in results]
    return "\n".join(lines)
