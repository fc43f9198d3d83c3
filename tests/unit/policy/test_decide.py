"""decide() as a table: policy rules, hints, threshold, cost and latency limits."""

from __future__ import annotations

import json
from typing import Any

import pytest

from router.classify.classifier import Classification
from router.classify.scores import Scores
from router.errors import UnsupportedContent
from router.policy.compiled import Policy
from router.policy.decide import Hints, LiveLatency, decide
from router.policy.loader import parse_policy

POLICY: dict[str, Any] = {
    "version": 1,
    "models": {
        "slm": {
            "tier": "slm",
            "endpoint": {"base_url": "http://s/v1", "model": "phi"},
            "context_window": 4096,
            "capabilities": {"tools": False, "json_mode": False},
        },
        "llm": {
            "tier": "llm",
            "endpoint": {"base_url": "http://l/v1", "model": "gpt"},
            "context_window": 128000,
            "price": {"input_per_mtok": 2.5, "output_per_mtok": 10},
            "capabilities": {"vision": True},
        },
        "llm2": {"tier": "llm", "endpoint": {"base_url": "http://l2/v1", "model": "claude"}, "context_window": 200000},
    },
    "routes": {
        "auto": {"strategy": "classify", "tiers": {"slm": ["slm"], "llm": ["llm"]}, "threshold": 0.5, "fallback": ["llm2"]},
        "nohint": {
            "strategy": "classify",
            "tiers": {"slm": ["slm"], "llm": ["llm"]},
            "allow_tier_hint": False,
            "fallback_other_tier": False,
        },
        "casc": {"strategy": "cascade", "tiers": {"slm": ["slm"], "llm": ["llm"]}},
        "pinned": {"strategy": "fixed", "models": ["slm"], "fallback": ["llm"]},
        "local": {"strategy": "fixed", "models": ["slm"]},
    },
}


def policy() -> Policy:
    return parse_policy(json.dumps(POLICY).encode(), "t.yaml", {})


def cls(p: float = 0.2, tokens: int = 100, out: int = 256, **kw: Any) -> Classification:
    base: dict[str, Any] = dict(needs_tools=False, needs_json=False, has_images=False, stream=False)
    base.update(kw)
    return Classification(Scores(p, 0.0, 0.0), "test", tokens, out, elapsed_ms=0.0, **base)


CASES = [
    # (route, classification, hints, live, tier, first model, reason)
    ("auto", cls(0.2), Hints(), None, "slm", "slm", "threshold"),
    ("auto", cls(0.5), Hints(), None, "llm", "llm", "threshold"),
    ("auto", cls(0.9), Hints(tier="slm"), None, "slm", "slm", "tier_hint"),
    ("nohint", cls(0.9), Hints(tier="slm"), None, "llm", "llm", "threshold"),
    ("auto", cls(0.1, tokens=5000), Hints(tier="slm"), None, "llm", "llm", "context_window"),
    ("auto", cls(0.1, needs_tools=True), Hints(), None, "llm", "llm", "tools"),
    ("auto", cls(0.1, needs_json=True), Hints(), None, "llm", "llm", "json_mode"),
    ("auto", cls(0.1, has_images=True), Hints(), None, "llm", "llm", "vision"),
    ("auto", cls(0.9, tokens=3000, out=1000), Hints(max_cost_usd=0.001), None, "slm", "slm", "cost"),
    ("auto", cls(0.9), Hints(max_cost_usd=1.0), None, "llm", "llm", "threshold"),
    (
        "auto",
        cls(0.9, out=500),
        Hints(latency_budget_ms=2000),
        {"llm": LiveLatency(800, 50), "slm": LiveLatency(50, 1000)},
        "slm",
        "slm",
        "latency",
    ),
    (
        "auto",
        cls(0.9, out=500),
        Hints(latency_budget_ms=20000),
        {"llm": LiveLatency(800, 50), "slm": LiveLatency(50, 200)},
        "llm",
        "llm",
        "threshold",
    ),
    (
        "auto",
        cls(0.9, out=500, stream=True),
        Hints(latency_budget_ms=1000),
        {"llm": LiveLatency(800, 50)},
        "llm",
        "llm",
        "threshold",
    ),  # streaming: only time to first token counts
    ("casc", cls(0.9), Hints(), None, "slm", "slm", "cascade"),
    ("casc", cls(0.1, needs_tools=True), Hints(), None, "llm", "llm", "tools"),  # a rule ends the cascade
    ("pinned", cls(0.9), Hints(tier="llm"), None, "slm", "slm", "fixed"),
    ("pinned", cls(0.1, tokens=5000), Hints(), None, "llm", "llm", "fixed"),
]


@pytest.mark.parametrize(("route", "c", "hints", "live", "tier", "model", "reason"), CASES)
def test_decision_table(route: str, c: Classification, hints: Hints, live: Any, tier: str, model: str, reason: str) -> None:
    p = policy()
    d = decide(p, route, p.routes[route], c, hints, live)
    assert (d.tier, d.candidates[0], d.reason) == (tier, model, reason), d.detail
    assert d.detail


def test_candidates_keep_order_and_dedupe_fallback() -> None:
    p = policy()
    assert decide(p, "auto", p.routes["auto"], cls(0.1)).candidates == ("slm", "llm2", "llm")  # then the other tier
    assert decide(p, "auto", p.routes["auto"], cls(0.9)).candidates == ("llm", "llm2", "slm")
    assert decide(p, "casc", p.routes["casc"], cls(0.1)).candidates == ("slm", "llm")
    assert decide(p, "casc", p.routes["casc"], cls(0.1, needs_tools=True)).strategy == "classify"
    assert decide(p, "nohint", p.routes["nohint"], cls(0.1)).candidates == ("slm",)


def test_estimates_are_reported() -> None:
    p = policy()
    d = decide(p, "auto", p.routes["auto"], cls(0.9, tokens=100_000, out=0), live={"llm": LiveLatency(100, 10)})
    assert d.estimates["llm"]["cost_usd"] == pytest.approx(0.25)
    assert d.estimates["llm"]["latency_ms"] == pytest.approx(100)
    assert d.estimates["slm"]["cost_usd"] == 0.0


def test_nothing_fits_is_a_clear_400() -> None:
    p = policy()
    with pytest.raises(UnsupportedContent, match="context window"):
        decide(p, "auto", p.routes["auto"], cls(0.1, tokens=500_000))
    with pytest.raises(UnsupportedContent, match="images"):
        decide(p, "local", p.routes["local"], cls(0.1, has_images=True))
