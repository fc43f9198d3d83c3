"""A fleet of upstream model servers (coder, maths, general, vision, LLM) and a policy with experts, a
delegate route and sessions over them, for the issue-15 integration tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.support.procs import Upstream, start_upstream

CODE_PROMPT = "Fix this Python code, it returns the wrong result:\n```python\ndef add(a, b):\n    return a - b\n```"
MATH_PROMPT = "Tom has 3 apples and buys 5 more apples. How many apples does he have now?"
CHAT_PROMPT = "hi, how are you?"
PROOF_PROMPT = (
    "Prove that there are infinitely many prime numbers. Give a rigorous proof: derive every step, explain why "
    "each step holds, state the theorem you use and prove it as well."
)
IMAGE = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
TIMEOUTS = {"connect": 2, "first_token": 10, "idle": 5, "total": 30}


@dataclass
class Fleet:
    coder: Upstream
    maths: Upstream
    general: Upstream
    vision: Upstream
    llm: Upstream

    def all(self) -> list[Upstream]:
        return [self.coder, self.maths, self.general, self.vision, self.llm]

    def reset(self) -> None:
        for up in self.all():
            up.reset()


@contextmanager
def fleet() -> Iterator[Fleet]:
    ups = [start_upstream(name) for name in ("coder", "maths", "general", "vision", "llm")]
    try:
        yield Fleet(*ups)
    finally:
        for up in ups:
            up.stop()


def _model(url: str, tier: str, model: str, **extra: Any) -> dict[str, Any]:
    return {"tier": tier, "endpoint": {"base_url": url, "model": model}, "timeouts": TIMEOUTS, **extra}


def experts_policy(f: Fleet, **extra: Any) -> dict[str, Any]:
    """Route `auto` (classify with experts and sessions) and `agent` (delegate) over the fleet."""
    policy: dict[str, Any] = {
        "version": 1,
        "models": {
            "local-phi3": _model(f.general.base_url, "slm", "phi-3", context_window=4096),
            "local-coder": _model(f.coder.base_url, "slm", "qwen-coder", skills=["code"], capabilities={"tools": False}),
            "local-math": _model(f.maths.base_url, "slm", "qwen-math", skills=["math"]),
            "local-vision": _model(f.vision.base_url, "slm", "llava", capabilities={"vision": True}),
            "hosted-llm": _model(
                f.llm.base_url,
                "llm",
                "gpt-4o",
                context_window=128000,
                capabilities={"vision": True},
                price={"input_per_mtok": 2.5, "output_per_mtok": 10.0},
            ),
        },
        "routes": {
            "auto": {
                "strategy": "classify",
                "tiers": {"slm": ["local-phi3"], "llm": ["hosted-llm"]},
                "threshold": 0.4,
                "experts": {
                    "code": {"slm": ["local-coder"]},
                    "math": {"slm": ["local-math"]},
                    "vision": {"slm": ["local-vision"]},
                },
                "session": {"ttl_s": 600},
            },
            "agent": {
                "strategy": "delegate",
                "core": "hosted-llm",
                "experts": {
                    "code": {"model": "local-coder", "description": "writes and fixes code"},
                    "math": {"model": "local-math", "description": "does arithmetic and algebra step by step"},
                },
                "max_steps": 4,
            },
        },
        "server": {
            "reload_interval_s": 0.2,
            "scorer": "heuristic",
            "breaker": {"consecutive_failures": 10_000, "min_requests": 10_000},
            "retries": {"attempts": 0},
        },
    }
    for key, value in extra.items():
        policy[key] = {**policy[key], **value} if isinstance(value, dict) and isinstance(policy.get(key), dict) else value
    return policy


def dumps(policy: dict[str, Any]) -> str:
    return json.dumps(policy, indent=2)  # JSON is YAML
