"""The admission estimate: validation of n and the output maximums, and a cost bound that never falls
below what the request can really cost."""

from __future__ import annotations

import json
import time

import pytest

from router.errors import BadRequest
from router.policy.compiled import Policy
from router.policy.loader import parse_policy
from router.tenancy.estimate import MAX_N, estimate, route_models

POLICY = {
    "version": 1,
    "models": {
        "small": {"tier": "slm", "endpoint": {"base_url": "http://x/v1", "model": "s"}, "context_window": 4096},
        "big": {
            "tier": "llm",
            "endpoint": {"base_url": "http://x/v1", "model": "b"},
            "context_window": 128000,
            "price": {"input_per_mtok": 2.5, "output_per_mtok": 10.0},
        },
    },
    "routes": {"auto": {"strategy": "classify", "tiers": {"slm": ["small"], "llm": ["big"]}}},
}


@pytest.fixture(scope="module")
def policy() -> Policy:
    return parse_policy(json.dumps(POLICY).encode(), "test", {})


def body(**kw: object) -> dict[str, object]:
    return {"model": "auto", "messages": [{"role": "user", "content": "hello there"}], **kw}


@pytest.mark.parametrize(
    ("field", "value"),
    [("n", 0), ("n", MAX_N + 1), ("n", 10**9), ("n", 1.5), ("n", True), ("max_tokens", 0), ("max_tokens", 2**63 - 1),
     ("max_completion_tokens", "10"), ("max_tokens", 1e9)],
)  # fmt: skip
def test_refuses_absurd_values(policy: Policy, field: str, value: object) -> None:
    with pytest.raises(BadRequest) as err:
        estimate(policy, ["small"], body(**{field: value}))
    assert err.value.param == field


def test_the_budget_bound_covers_the_worst_candidate(policy: Policy) -> None:
    models = route_models(policy, policy.routes["auto"])
    assert set(models) == {"small", "big"}
    capped = estimate(policy, models, body(max_tokens=100, n=3))
    assert capped.usd >= 3 * 100 * 10.0 / 1e6  # n x max_tokens at the dearest output price
    assert capped.tokens >= 300
    uncapped = estimate(policy, models, body())
    assert uncapped.usd >= (128000 - 100) * 10.0 / 1e6  # no max_tokens: the context window
    assert estimate(policy, ["small"], body()).usd == 0.0


def test_size_walk_is_bounded(policy: Policy) -> None:
    deep: object = "x"
    for _ in range(10_000):
        deep = [deep]
    many = [{"role": "user", "content": [{"type": "text", "text": "y"}] * 50_000}]
    started = time.perf_counter()
    estimate(policy, ["small"], body(messages=many))
    estimate(policy, ["small"], {"model": "auto", "messages": [{"role": "user", "content": deep}]})
    assert time.perf_counter() - started < 5  # generous: linear and bounded
