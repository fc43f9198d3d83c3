"""Admission: requests/min and tokens/min per tenant (atomic in the store) and USD budgets per day and month.

Tokens are reserved with the classifier's estimate (prompt plus expected output) and settled with the
real count afterwards. A spent budget refuses (429 budget_exceeded) or downgrades to the SLM tier, as
the tenant's policy says; the remaining budget also caps what routing may spend on this request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from router.errors import RateLimited
from router.policy.schema import Limits
from router.store.base import RateDecision, Store

WINDOW_S = 60.0


@dataclass(slots=True)
class Admission:
    headers: dict[str, str] = field(default_factory=dict)
    downgrade: bool = False  # budget spent and the policy says: send it to the SLM tier
    remaining_usd: float | None = None
    reserved_tokens: int = 0
    reserved_at: float | None = None


def _headers(kind: str, d: RateDecision) -> dict[str, str]:
    return {
        f"x-ratelimit-limit-{kind}": str(d.limit),
        f"x-ratelimit-remaining-{kind}": str(max(0, d.remaining)),
        f"x-ratelimit-reset-{kind}": f"{max(0.0, d.reset_s):.3f}s",
    }


def _refuse(kind: str, d: RateDecision, headers: dict[str, str]) -> RateLimited:
    retry = max(1, math.ceil(d.retry_after_s))
    return RateLimited(
        f"Rate limit reached for {kind} per minute (limit {d.limit}). Retry after {retry} s.",
        headers=headers | {"retry-after": str(retry)},
    )


async def admit(store: Store, tenant: str, limits: Limits, tokens: int, now: float) -> Admission:
    out = Admission()
    if limits.requests_per_minute:
        d = await store.hit(f"rpm:{tenant}", limits.requests_per_minute, WINDOW_S, 1, now)
        out.headers |= _headers("requests", d)
        if not d.allowed:
            raise _refuse("requests", d, out.headers)
    if limits.tokens_per_minute:
        cost = min(max(1, tokens), limits.tokens_per_minute)  # one huge request must still be admissible
        d = await store.hit(f"tpm:{tenant}", limits.tokens_per_minute, WINDOW_S, cost, now)
        out.headers |= _headers("tokens", d)
        if not d.allowed:
            raise _refuse("tokens", d, out.headers)
        out.reserved_tokens, out.reserved_at = cost, now
    if limits.usd_per_day or limits.usd_per_month:
        day, month = await store.spend(tenant, now)
        left = [cap - spent for cap, spent in ((limits.usd_per_day, day), (limits.usd_per_month, month)) if cap]
        out.remaining_usd = max(0.0, min(left))
        if out.remaining_usd <= 0:
            if limits.on_budget_exhausted == "refuse":
                error = RateLimited(
                    f"Budget exhausted for tenant {tenant!r}; it renews with the next period.", code="budget_exceeded"
                )
                error.headers = out.headers | {"retry-after": "3600"}
                raise error
            out.downgrade = True
    return out


async def settle(store: Store, tenant: str, admission: Admission, actual_tokens: int) -> None:
    """Correct the token reservation with what the request really used."""
    if admission.reserved_at is not None and actual_tokens != admission.reserved_tokens:
        await store.adjust(f"tpm:{tenant}", WINDOW_S, actual_tokens - admission.reserved_tokens, at=admission.reserved_at)
