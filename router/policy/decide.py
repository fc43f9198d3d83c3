"""decide(): the routing decision as a pure function of (policy, route, classification, hints, live stats).

No I/O and no clock, so it is table-tested and `router explain` shows exactly what serving would do.
Order of judgement: policy rules (what a model can take at all: images, context window, tools, JSON
mode), then a forced tier hint where the route allows it, then the learned threshold on p_strong, then
the caller's cost and latency limits. The result is the ordered candidate list plus the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from router.classify.classifier import Classification
from router.errors import UnsupportedContent
from router.policy.compiled import Policy
from router.policy.schema import ModelSpec, RouteSpec, Tier


@dataclass(frozen=True, slots=True)
class Hints:
    """What the caller asked for in x-router-* headers."""

    tier: Tier | None = None
    latency_budget_ms: float | None = None
    max_cost_usd: float | None = None
    forced_by: str | None = None  # set when the gateway itself forces `tier` (e.g. "budget"): routes cannot refuse it


@dataclass(frozen=True, slots=True)
class LiveLatency:
    """Observed from real traffic: time to first token and decode speed."""

    ttft_ms: float
    tokens_per_s: float


@dataclass(frozen=True, slots=True)
class Decision:
    route: str
    strategy: str
    tier: Tier
    candidates: tuple[str, ...]
    reason: str  # a short code: fixed, threshold, context_window, tools, json_mode, vision, tier_hint, cost, latency, cascade
    detail: str  # the same, for people
    estimates: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "strategy": self.strategy,
            "tier": self.tier,
            "model": self.candidates[0] if self.candidates else None,
            "candidates": list(self.candidates),
            "reason": self.reason,
            "detail": self.detail,
            "estimates": self.estimates,
        }


def expected_cost(model: ModelSpec, c: Classification) -> float:
    return (c.prompt_tokens * model.price.input_per_mtok + c.expected_output_tokens * model.price.output_per_mtok) / 1e6


def expected_latency_ms(live: LiveLatency | None, c: Classification) -> float | None:
    if live is None or live.tokens_per_s <= 0:
        return None
    if c.stream:
        return live.ttft_ms
    return live.ttft_ms + 1000.0 * c.expected_output_tokens / live.tokens_per_s


def _fits(model: ModelSpec, c: Classification) -> str | None:
    """Why a model cannot take this request at all, or None."""
    if c.has_images and not model.capabilities.vision:
        return "vision"
    if c.prompt_tokens + min(c.expected_output_tokens, 1) > model.context_window:
        return "context_window"
    if c.needs_tools and not model.capabilities.tools:
        return "tools"
    if c.needs_json and not model.capabilities.json_mode:
        return "json_mode"
    return None


_RULE_TEXT = {
    "vision": "the request has images and no {tier} model declares vision",
    "context_window": "{tokens} prompt tokens do not fit the {tier} model's context window",
    "tools": "the request uses tools and no {tier} model supports them",
    "json_mode": "the request asks for a JSON response_format no {tier} model supports",
}


def _dedupe(names: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


def decide(
    policy: Policy,
    route_name: str,
    route: RouteSpec,
    c: Classification,
    hints: Hints = Hints(),
    live: Mapping[str, LiveLatency] | None = None,
) -> Decision:
    live = live or {}
    models = policy.models
    names = _dedupe([*route.tiers.get("slm", []), *route.tiers.get("llm", []), *route.models, *route.fallback])
    fits = {name: _fits(models[name], c) for name in names}  # why each model cannot take it, or None
    estimates = {}
    for name in names:
        estimate = {"cost_usd": round(expected_cost(models[name], c), 8)}
        latency = expected_latency_ms(live.get(name), c)
        if latency is not None:
            estimate["latency_ms"] = round(latency, 1)
        estimates[name] = estimate
    if route.strategy == "fixed":
        usable = [n for n in _dedupe([*route.models, *route.fallback]) if fits[n] is None]
        if not usable:
            raise UnsupportedContent(_unfit_message(route_name, route.models, models, c), param="messages")
        return Decision(
            route_name,
            "fixed",
            models[usable[0]].tier,
            tuple(usable),
            "fixed",
            f"route {route_name!r} pins its models",
            estimates,
        )

    fitting = {tier: [n for n in route.tiers.get(tier, []) if fits[n] is None] for tier in ("slm", "llm")}
    unfit = next((fits[n] for n in route.tiers.get("slm", []) if fits[n]), None)
    tier: Tier
    if not fitting["slm"] and not fitting["llm"]:
        raise UnsupportedContent(_unfit_message(route_name, route.tiers["slm"] + route.tiers["llm"], models, c), param="messages")
    if not fitting["slm"]:
        tier, reason = "llm", unfit or "context_window"
        detail = _RULE_TEXT[reason].format(tier="slm", tokens=c.prompt_tokens)
    elif not fitting["llm"]:
        tier, reason, detail = "slm", "rules", "no llm model can take this request"
    elif route.strategy == "cascade":
        tier, reason, detail = "slm", "cascade", "cascade: the slm answers first, the llm if the answer looks weak"
    elif hints.tier is not None and hints.forced_by:
        tier, reason, detail = hints.tier, hints.forced_by, f"{hints.forced_by} forces tier {hints.tier}"
    elif hints.tier is not None and route.allow_tier_hint:
        tier, reason, detail = hints.tier, "tier_hint", f"the caller asked for tier {hints.tier}"
    elif c.scores.p_strong >= route.threshold:
        tier, reason = "llm", "threshold"
        detail = f"p_strong {c.scores.p_strong:.3f} >= threshold {route.threshold:.3f}"
    else:
        tier, reason = "slm", "threshold"
        detail = f"p_strong {c.scores.p_strong:.3f} < threshold {route.threshold:.3f}"

    if reason in ("threshold", "tier_hint"):
        tier, reason, detail = _apply_limits(tier, reason, detail, fitting, estimates, hints)
    other: Tier = "slm" if tier == "llm" else "llm"
    fallback = [n for n in route.fallback if fits[n] is None]
    cascading = reason == "cascade"  # a rule that forced a tier turns a cascade into a plain choice
    last_resort = fitting[other] if route.fallback_other_tier else []
    order = fitting[tier] + (fitting[other] if cascading else []) + fallback + last_resort
    return Decision(route_name, "cascade" if cascading else "classify", tier, _dedupe(order), reason, detail, estimates)


def _apply_limits(
    tier: Tier,
    reason: str,
    detail: str,
    fitting: dict[str, list[str]],
    estimates: dict[str, dict[str, float]],
    hints: Hints,
) -> tuple[Tier, str, str]:
    """Cost and latency limits move the choice to the other tier when only that one meets them."""
    if hints.max_cost_usd is None and hints.latency_budget_ms is None:
        return tier, reason, detail

    def meets(name: str) -> bool:
        est = estimates[name]
        if hints.max_cost_usd is not None and est["cost_usd"] > hints.max_cost_usd:
            return False
        return not (hints.latency_budget_ms is not None and est.get("latency_ms", 0.0) > hints.latency_budget_ms)

    other: Tier = "slm" if tier == "llm" else "llm"
    if any(meets(n) for n in fitting[tier]) or not any(meets(n) for n in fitting[other]):
        return tier, reason, detail
    limit = (
        "cost"
        if hints.max_cost_usd is not None and all(estimates[n]["cost_usd"] > hints.max_cost_usd for n in fitting[tier])
        else "latency"
    )
    what = f"max cost {hints.max_cost_usd} USD" if limit == "cost" else f"latency budget {hints.latency_budget_ms} ms"
    return other, limit, f"{detail}; no {tier} model meets the {what}, the {other} tier does"


def _unfit_message(route: str, names: list[str], models: Mapping[str, ModelSpec], c: Classification) -> str:
    reasons = {_fits(models[n], c) for n in names} - {None}
    if "vision" in reasons:
        return f"route {route!r} has no model that accepts images; send text only or use a route with a vision model"
    if "context_window" in reasons:
        return f"the request ({c.prompt_tokens} prompt tokens) exceeds the context window of every model of route {route!r}"
    return f"no model of route {route!r} supports this request ({', '.join(sorted(r for r in reasons if r))})"
