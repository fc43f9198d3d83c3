"""decide(): the routing decision as a pure function of (policy, route, classification, hints, live stats).

No I/O and no clock, so it is table-tested and `router explain` shows exactly what serving would do.
Order of judgement: policy rules (what a model can take at all: images, context window, tools, JSON
mode), then a forced tier hint where the route allows it, then the learned threshold on p_strong, then
the caller's cost and latency limits. Within the chosen tier the task kind's experts come first
(router.policy.experts). A session's pinned model then holds its place (never a lower tier within its
TTL; rules that say a model cannot take the request still win), and last, models reported saturated
move behind the others (spill on overload). The result is the ordered candidate list plus the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from router.classify.classifier import Classification
from router.errors import UnsupportedContent
from router.policy.compiled import Policy
from router.policy.experts import VISION, tier_models
from router.policy.schema import ModelSpec, RouteSpec, Tier

TIER_RANK: dict[str, int] = {"slm": 0, "llm": 1}


@dataclass(frozen=True, slots=True)
class SessionPin:
    """The model a session is pinned to (read from the store before deciding)."""

    model: str
    tier: Tier


@dataclass(frozen=True, slots=True)
class Hints:
    """What the caller asked for in x-router-* headers."""

    tier: Tier | None = None
    latency_budget_ms: float | None = None
    max_cost_usd: float | None = None
    forced_by: str | None = None  # set when the gateway itself forces `tier` (e.g. "budget"): routes cannot refuse it
    session: str | None = None  # the caller's session id (x-router-session, body user / metadata.session_id)
    pin: SessionPin | None = None  # that session's pinned model, when the store has one


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
    task_kind: str | None = None
    expert: str | None = None  # the expert model placed first for the task kind, if any
    session: str | None = None  # new, kept, up (moved up a tier), overridden (a rule won), or None: no session
    spilled: tuple[str, ...] = ()  # saturated models moved behind the others

    def as_dict(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "strategy": self.strategy,
            "tier": self.tier,
            "model": self.candidates[0] if self.candidates else None,
            "candidates": list(self.candidates),
            "reason": self.reason,
            "detail": self.detail,
            "task_kind": self.task_kind,
            "expert": self.expert,
            "session": self.session,
            "spilled": list(self.spilled),
            "estimates": self.estimates,
        }


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
    load: Mapping[str, int] | None = None,
) -> Decision:
    """`load`: per model, how many requests are queued beyond its limit (absent or 0: not saturated)."""
    live = live or {}
    models = policy.models
    kind = VISION if c.has_images else c.task_kind  # images go to the vision experts whatever the text asks
    slm_experts, slm_all = tier_models(route, kind, "slm")
    llm_experts, llm_all = tier_models(route, kind, "llm")
    core = [route.core] if route.core else []
    names = _dedupe([*slm_all, *llm_all, *core, *route.models, *route.fallback])
    fits = {name: _fits(models[name], c) for name in names}  # why each model cannot take it, or None
    estimates = {}
    for name in names:
        estimate = {"cost_usd": round(models[name].price.usd(c.prompt_tokens, c.expected_output_tokens), 8)}
        latency = expected_latency_ms(live.get(name), c)
        if latency is not None:
            estimate["latency_ms"] = round(latency, 1)
        estimates[name] = estimate
    if route.strategy in ("fixed", "delegate"):
        pinned = [*core, *route.models, *route.fallback]
        usable = [n for n in _dedupe(pinned) if fits[n] is None]
        if not usable:
            raise UnsupportedContent(_unfit_message(route_name, pinned, models, c), param="messages")
        if route.strategy == "delegate":
            tools = ", ".join(f"ask_{k} ({e.model})" for k, e in route.experts.items())
            reason, detail = "delegate", f"core {usable[0]!r} answers, with the experts as tools: {tools}"
        else:
            reason, detail = "fixed", f"route {route_name!r} pins its models"
        fixed = Decision(route_name, route.strategy, models[usable[0]].tier, tuple(usable), reason, detail, estimates, kind)
        return _spill(fixed, models, load, live, c, hints)

    fitting: dict[Tier, list[str]] = {
        "slm": [n for n in slm_all if fits[n] is None],
        "llm": [n for n in llm_all if fits[n] is None],
    }
    unfit = next((fits[n] for n in slm_all if fits[n]), None)
    tier: Tier
    if not fitting["slm"] and not fitting["llm"]:
        raise UnsupportedContent(_unfit_message(route_name, slm_all + llm_all, models, c), param="messages")
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
    session = None
    if route.session is not None and hints.session is not None and route.strategy == "classify":
        tier, reason, detail, session = _hold_session(route, models, c, hints, tier, reason, detail, fitting)
    other: Tier = "slm" if tier == "llm" else "llm"
    fallback = [n for n in route.fallback if fits[n] is None]
    cascading = reason == "cascade"  # a rule that forced a tier turns a cascade into a plain choice
    last_resort = fitting[other] if route.fallback_other_tier else []
    order = _dedupe(fitting[tier] + (fitting[other] if cascading else []) + fallback + last_resort)
    expert = order[0] if order[0] in (slm_experts if tier == "slm" else llm_experts) else None
    if expert is not None:
        detail = f"{detail}; task kind {kind}: expert {expert}"
        if reason == "threshold":
            reason = "expert"
    decision = Decision(
        route_name, "cascade" if cascading else "classify", tier, order, reason, detail, estimates, kind, expert, session
    )
    return _spill(decision, models, load, live, c, hints)


def _hold_session(
    route: RouteSpec,
    models: Mapping[str, ModelSpec],
    c: Classification,
    hints: Hints,
    tier: Tier,
    reason: str,
    detail: str,
    fitting: dict[Tier, list[str]],
) -> tuple[Tier, str, str, str]:
    """A pinned session keeps its model: up a tier when this turn needs it, never down; rules win."""
    pin = hints.pin
    if pin is None or not _in_route(route, pin.model) or models[pin.model].tier != pin.tier:
        return tier, reason, detail, "new"  # no pin, or the policy no longer offers that model here
    if _fits(models[pin.model], c) is not None or (hints.forced_by and pin.tier != tier):
        return tier, reason, detail, "overridden"
    if TIER_RANK[tier] > TIER_RANK[pin.tier]:
        return tier, reason, f"{detail}; session moves up from {pin.model}", "up"
    fitting[pin.tier] = [pin.model, *(n for n in fitting[pin.tier] if n != pin.model)]
    return pin.tier, "session", f"session pinned to {pin.model} ({pin.tier}); this turn alone: {detail}", "kept"


def _in_route(route: RouteSpec, model: str) -> bool:
    if model in route.tiers.get("slm", ()) or model in route.tiers.get("llm", ()):
        return True
    return any(model in e.slm or model in e.llm for e in route.experts.values())


def _spill(
    decision: Decision,
    models: Mapping[str, ModelSpec],
    load: Mapping[str, int] | None,
    live: Mapping[str, LiveLatency],
    c: Classification,
    hints: Hints,
) -> Decision:
    """Saturated models go behind the others, unless the caller's latency budget allows waiting for them."""
    if not load:
        return decision
    spilled = []
    for name in decision.candidates:
        queued = load.get(name, 0)
        if queued <= 0:
            continue
        latency = expected_latency_ms(live.get(name), c)
        waits = latency is not None and hints.latency_budget_ms is not None and latency * (queued + 1) <= hints.latency_budget_ms
        if not waits:
            spilled.append(name)
    if not spilled or len(spilled) == len(decision.candidates):
        return decision
    order = tuple(n for n in decision.candidates if n not in spilled) + tuple(spilled)
    if order[0] == decision.candidates[0]:
        return replace(decision, candidates=order, spilled=tuple(spilled))
    detail = f"{decision.detail}; {decision.candidates[0]} is saturated, spilled to {order[0]}"
    tier = models[order[0]].tier
    return replace(decision, candidates=order, reason="overload", detail=detail, spilled=tuple(spilled), tier=tier)


def _apply_limits(
    tier: Tier,
    reason: str,
    detail: str,
    fitting: dict[Tier, list[str]],
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
