"""The caller's routing hints, read from request headers: a forced tier, a latency budget, a cost cap and
a session id. Pure parsing; a malformed hint is a 400 naming the header."""

from __future__ import annotations

from collections.abc import Mapping

from router.errors import BadRequest
from router.policy.decide import Hints
from router.tenancy import sessions


def parse_hints(headers: Mapping[str, str]) -> Hints:
    tier = headers.get("x-router-tier")
    if tier is not None and tier not in ("slm", "llm"):
        raise BadRequest("x-router-tier must be 'slm' or 'llm'", param="x-router-tier")
    return Hints(
        tier=tier,  # type: ignore[arg-type]
        latency_budget_ms=_positive(headers, "x-router-latency-budget-ms"),
        max_cost_usd=_positive(headers, "x-router-max-cost-usd"),
        session=sessions.header_session(headers),
    )


def _positive(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number >= 0 or number == float("inf"):
        raise BadRequest(f"{name} must be a non-negative number", param=name)
    return number
