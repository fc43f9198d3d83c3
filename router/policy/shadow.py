"""Shadow a candidate policy: every request is also decided by a candidate policy (no model is called),
and the differences are tallied, so ops see what an edit would do before making it.

The candidate reuses the live request's classification (the scorer is not run twice) and the same hints,
live latencies and load; the comparison is of the first candidate model and of the estimated cost of
each choice. The tally is per process; `GET /router/shadow` and `router shadow report` read it, and the
metrics router_shadow_decisions_total / router_shadow_cost_usd_total carry it to dashboards.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from router.classify.classifier import Classification
from router.errors import RouterError
from router.policy.compiled import Policy
from router.policy.decide import Decision, Hints, LiveLatency, decide


@dataclass(frozen=True, slots=True)
class ShadowResult:
    route: str
    live_model: str
    live_reason: str
    live_cost_usd: float
    model: str  # the candidate's choice ("none" when it would refuse or lacks the route)
    reason: str
    cost_usd: float

    @property
    def changed(self) -> bool:
        return self.model != self.live_model


def shadow_decide(
    candidate: Policy,
    live: Decision,
    tenant: str | None,
    c: Classification,
    hints: Hints,
    latency: Mapping[str, LiveLatency],
    load: Mapping[str, int],
) -> ShadowResult:
    """The candidate policy's decision for a request the live policy decided as `live` (pure)."""
    routes = candidate.tenant_routes.get(tenant or "", candidate.routes) if candidate.multi_tenant else candidate.routes
    live_model = live.candidates[0]
    live_cost = live.estimates.get(live_model, {}).get("cost_usd", 0.0)
    route = routes.get(live.route)
    if route is None:
        return ShadowResult(live.route, live_model, live.reason, live_cost, "none", "route_missing", 0.0)
    try:
        other = decide(candidate, live.route, route, c, hints, latency, load)
    except RouterError as exc:
        return ShadowResult(live.route, live_model, live.reason, live_cost, "none", exc.code or exc.type, 0.0)
    model = other.candidates[0]
    return ShadowResult(live.route, live_model, live.reason, live_cost, model, other.reason, other.estimates[model]["cost_usd"])


@dataclass(slots=True)
class _RouteTally:
    requests: int = 0
    changed: int = 0
    live_cost_usd: float = 0.0
    cost_usd: float = 0.0
    reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # "live->candidate" reason pairs, changed only
    moves: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # "live model->candidate model", changed only


class ShadowTally:
    """Differences between the live and the candidate policy, per route, since the process started."""

    def __init__(self) -> None:
        self.routes: dict[str, _RouteTally] = defaultdict(_RouteTally)

    def add(self, r: ShadowResult) -> None:
        t = self.routes[r.route]
        t.requests += 1
        t.live_cost_usd += r.live_cost_usd
        t.cost_usd += r.cost_usd
        if r.changed:
            t.changed += 1
            t.reasons[f"{r.live_reason}->{r.reason}"] += 1
            t.moves[f"{r.live_model}->{r.model}"] += 1

    def report(self, candidate: Policy | None, error: str | None = None) -> dict[str, Any]:
        routes = {
            name: {
                "requests": t.requests,
                "changed": t.changed,
                "live_cost_usd": round(t.live_cost_usd, 8),
                "candidate_cost_usd": round(t.cost_usd, 8),
                "cost_change_usd": round(t.cost_usd - t.live_cost_usd, 8),
                "reasons": dict(t.reasons),
                "moves": dict(t.moves),
            }
            for name, t in sorted(self.routes.items())
        }
        return {
            "candidate": None if candidate is None else {"source": candidate.source, "version": candidate.digest},
            "last_reload_error": error,
            "requests": sum(t.requests for t in self.routes.values()),
            "changed": sum(t.changed for t in self.routes.values()),
            "cost_change_usd": round(sum(t.cost_usd - t.live_cost_usd for t in self.routes.values()), 8),
            "routes": routes,
        }
