"""decide() with experts, sessions and load, as a table: pure, no I/O."""

from __future__ import annotations

import json
from typing import Any

import pytest

from router.classify.classifier import Classification
from router.classify.scores import Scores
from router.policy.compiled import Policy
from router.policy.decide import Hints, LiveLatency, SessionPin, decide
from router.policy.loader import PolicyInvalid, parse_policy


def _m(tier: str, **extra: Any) -> dict[str, Any]:
    return {"tier": tier, "endpoint": {"base_url": f"http://{tier}/v1", "model": "m"}, **extra}


POLICY: dict[str, Any] = {
    "version": 1,
    "models": {
        "phi": _m("slm", context_window=4096),
        "coder": _m("slm", skills=["code"], capabilities={"tools": False}),
        "math": _m("slm", skills=["math"]),
        "eye": _m("slm", capabilities={"vision": True}),
        "bigcoder": _m("llm", skills=["code"], price={"input_per_mtok": 1.0, "output_per_mtok": 1.0}),
        "gpt": _m("llm", capabilities={"vision": True}, price={"input_per_mtok": 2.5, "output_per_mtok": 10}),
    },
    "routes": {
        "auto": {
            "strategy": "classify",
            "tiers": {"slm": ["phi"], "llm": ["gpt"]},
            "experts": {
                "code": {"slm": ["coder"], "llm": ["bigcoder"]},
                "math": {"slm": ["math"]},
                "vision": {"slm": ["eye"]},
            },
            "session": {"ttl_s": 60},
        },
        "agent": {
            "strategy": "delegate",
            "core": "gpt",
            "experts": {"code": {"model": "coder", "description": "code"}},
        },
    },
}


def policy(data: dict[str, Any] = POLICY) -> Policy:
    return parse_policy(json.dumps(data).encode(), "t.yaml", {})


def cls(kind: str, p: float = 0.1, tokens: int = 100, task_kind_as: str | None = None, **kw: Any) -> Classification:
    """`kind` is the decision's expected task kind; `task_kind_as` what the classifier said, when it differs."""
    base: dict[str, Any] = dict(needs_tools=False, needs_json=False, has_images=False, stream=False)
    base.update(kw)
    return Classification(Scores(p, 0.0, 0.0), "test", tokens, 100, elapsed_ms=0.0, task_kind=task_kind_as or kind, **base)


@pytest.mark.parametrize(
    ("c", "hints", "model", "reason", "expert"),
    [
        (cls("code"), Hints(), "coder", "expert", "coder"),
        (cls("math"), Hints(), "math", "expert", "math"),
        (cls("chat"), Hints(), "phi", "threshold", None),
        (cls("code", 0.9), Hints(), "bigcoder", "expert", "bigcoder"),  # the llm tier's code expert
        (cls("math", 0.9), Hints(), "gpt", "threshold", None),  # no llm math expert: the tier's model
        (cls("vision", has_images=True), Hints(), "eye", "expert", "eye"),
        (cls("vision", has_images=True, task_kind_as="chat"), Hints(), "eye", "expert", "eye"),  # images decide the kind
        (cls("code", needs_tools=True), Hints(), "phi", "threshold", None),  # the coder takes no tools
        (cls("code"), Hints(tier="llm"), "bigcoder", "tier_hint", "bigcoder"),
        (cls("chat", tokens=6000), Hints(), "gpt", "context_window", None),
    ],
)
def test_experts_table(c: Classification, hints: Hints, model: str, reason: str, expert: str | None) -> None:
    p = policy()
    d = decide(p, "auto", p.routes["auto"], c, hints)
    kind = "vision" if c.has_images else c.task_kind
    assert (d.candidates[0], d.reason, d.expert, d.task_kind) == (model, reason, expert, kind), d.detail


def test_expert_candidates_fall_back_within_the_tier_first() -> None:
    p = policy()
    assert decide(p, "auto", p.routes["auto"], cls("code")).candidates == ("coder", "phi", "bigcoder", "gpt")


S = "session-1"


@pytest.mark.parametrize(
    ("c", "pin", "model", "session", "reason"),
    [
        (cls("chat"), None, "phi", "new", "threshold"),
        (cls("chat"), SessionPin("gpt", "llm"), "gpt", "kept", "session"),  # never down
        (cls("chat"), SessionPin("coder", "slm"), "coder", "kept", "session"),  # an expert of another kind
        (cls("code", 0.9), SessionPin("phi", "slm"), "bigcoder", "up", "expert"),  # up a tier when needed
        (cls("vision", has_images=True), SessionPin("coder", "slm"), "eye", "overridden", "expert"),  # rules win
        (cls("chat"), SessionPin("gone", "slm"), "phi", "new", "threshold"),  # no longer in the route
        (cls("chat"), SessionPin("gpt", "slm"), "phi", "new", "threshold"),  # a pin whose tier is wrong
    ],
)
def test_session_table(c: Classification, pin: SessionPin | None, model: str, session: str, reason: str) -> None:
    p = policy()
    d = decide(p, "auto", p.routes["auto"], c, Hints(session=S, pin=pin))
    assert (d.candidates[0], d.session, d.reason) == (model, session, reason), d.detail


def test_a_budget_downgrade_overrides_a_pin() -> None:
    p = policy()
    d = decide(
        p,
        "auto",
        p.routes["auto"],
        cls("chat", 0.9),
        Hints(tier="slm", forced_by="budget", session=S, pin=SessionPin("gpt", "llm")),
    )
    assert (d.candidates[0], d.session) == ("phi", "overridden")


def test_spill_on_overload() -> None:
    p = policy()
    route = p.routes["auto"]
    d = decide(p, "auto", route, cls("code"), load={"coder": 1})
    assert (d.candidates, d.reason, d.spilled) == (("phi", "bigcoder", "gpt", "coder"), "overload", ("coder",))
    assert decide(p, "auto", route, cls("code"), load={"phi": 3}).reason == "expert"  # not first: order only
    # a latency budget that covers waiting keeps the saturated model first
    live = {"coder": LiveLatency(100, 1000)}
    kept = decide(p, "auto", route, cls("code"), Hints(latency_budget_ms=10_000), live=live, load={"coder": 2})
    assert kept.candidates[0] == "coder"
    short = decide(p, "auto", route, cls("code"), Hints(latency_budget_ms=300), live=live, load={"coder": 2})
    assert short.candidates[0] == "phi"
    # everything saturated: nothing to spill to, order unchanged
    everything = {n: 1 for n in ("coder", "phi", "bigcoder", "gpt")}
    assert decide(p, "auto", route, cls("code"), load=everything).candidates[0] == "coder"


def test_delegate_decides_the_core() -> None:
    p = policy()
    d = decide(p, "agent", p.routes["agent"], cls("code"))
    assert (d.strategy, d.candidates, d.reason) == ("delegate", ("gpt",), "delegate")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["routes"]["auto"]["experts"].update(code={"slm": ["math"]}), "does not declare skill 'code'"),
        (lambda d: d["routes"]["auto"]["experts"].update(vision={"slm": ["phi"]}), "lacks capabilities.vision"),
        (lambda d: d["routes"]["auto"]["experts"].update(code={"llm": ["coder"]}), "is tier slm, listed under llm"),
        (lambda d: d["routes"]["auto"]["experts"].update(code={"model": "coder"}), "lists models per tier"),
        (lambda d: d["routes"]["agent"]["experts"].update(code={"slm": ["coder"]}), "names one 'model'"),
        (lambda d: d["routes"]["agent"].update(core="nope"), "unknown chat model 'nope'"),
        (lambda d: d["routes"]["auto"]["experts"].update({"Bad Kind!": {"slm": ["phi"]}}), "should match pattern"),
    ],
)
def test_expert_references_are_checked(edit: Any, message: str) -> None:
    data = json.loads(json.dumps(POLICY))
    edit(data)
    with pytest.raises(PolicyInvalid, match=message):
        policy(data)
