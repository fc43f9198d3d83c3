"""The decision cost that experts add (run by hand: `python tests/bench/bench_decide_experts.py`).

timeit of `decide` for the same request on a two-tier classify route and on that route with five experts
(code, math, vision, writing, extraction; slm and llm lists), with a session pin and a load snapshot,
and for the task-kind labelling the interim classifier adds. Prints microseconds per call (best of 5).
"""

from __future__ import annotations

import json
import timeit
from typing import Any

from router.classify import signals
from router.classify.classifier import Classification
from router.classify.scores import Scores
from router.policy.decide import Hints, SessionPin, decide
from router.policy.loader import parse_policy

KINDS = ("code", "math", "vision", "writing", "extraction")


def _m(tier: str, **extra: Any) -> dict[str, Any]:
    return {"tier": tier, "endpoint": {"base_url": "http://x/v1", "model": "m"}, **extra}


def main() -> None:
    models = {"phi": _m("slm"), "gpt": _m("llm", capabilities={"vision": True})}
    for kind in KINDS:
        vision = {"capabilities": {"vision": True}} if kind == "vision" else {"skills": [kind]}
        models[f"s-{kind}"] = _m("slm", **vision)
        models[f"l-{kind}"] = _m("llm", **vision)
    plain = {"strategy": "classify", "tiers": {"slm": ["phi"], "llm": ["gpt"]}}
    experts = {k: {"slm": [f"s-{k}"], "llm": [f"l-{k}"]} for k in KINDS}
    data = {
        "version": 1,
        "models": models,
        "routes": {"plain": plain, "experts": {**plain, "experts": experts, "session": {"ttl_s": 60}}},
    }
    policy = parse_policy(json.dumps(data).encode(), "bench.yaml", {})
    flags = dict(needs_tools=False, needs_json=False, has_images=False, stream=False)
    c = Classification(Scores(0.2, 0.1, 0.1), "learned", 300, 256, elapsed_ms=0.0, task_kind="math", **flags)
    pinned = Hints(session="s", pin=SessionPin("s-math", "slm"))
    load = {"l-math": 1}
    cases = {
        "two tiers, no experts": lambda: decide(policy, "plain", policy.routes["plain"], c),
        "five experts": lambda: decide(policy, "experts", policy.routes["experts"], c),
        "five experts + session pin + load": lambda: decide(policy, "experts", policy.routes["experts"], c, pinned, None, load),
        "signals.read() (task kind) of a 60-word prompt": lambda: signals.read(
            "Tom has 3 apples and buys 5 more. How many now? " * 6
        ),
    }
    n = 20_000
    base = None
    for name, fn in cases.items():
        us = min(timeit.repeat(fn, number=n, repeat=5)) / n * 1e6
        base = us if base is None else base
        extra = "" if name.startswith(("two", "task")) else f"  (+{us - base:.2f} us over two tiers)"
        print(f"{name:38s} {us:7.2f} us/call{extra}")


if __name__ == "__main__":
    main()
