"""What dispatch consults before and after each attempt: circuit breakers (in the store, so replicas share
them), the retry policy with exponential backoff and full jitter, and a retry budget that keeps retries
under a set share of traffic so a failing upstream does not meet a retry storm.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from router.errors import UpstreamError, UpstreamTimeout
from router.policy.schema import BreakerSpec, RetrySpec
from router.store.base import BreakerConfig, Store
from router.upstream.base import UpstreamStatus

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
BUDGET_CAP = 20.0  # retries that may be saved up in quiet times


@dataclass(slots=True)
class RetryBudget:
    """A token bucket: each request earns `ratio` retries, each retry spends one (per process)."""

    tokens: float = 5.0

    def earn(self, ratio: float) -> None:
        self.tokens = min(BUDGET_CAP, self.tokens + ratio)

    def spend(self) -> bool:
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def breaker_config(spec: BreakerSpec) -> BreakerConfig:
    return BreakerConfig(
        spec.consecutive_failures, spec.error_rate, spec.min_requests, spec.window_s, spec.open_s, spec.half_open_probes
    )


def retry_delay(spec: RetrySpec, tries: int, error: UpstreamError, rng: random.Random) -> float | None:
    """Seconds to wait before trying the same model again, or None when it should not be retried."""
    if isinstance(error, UpstreamTimeout):
        return None  # a slow model is better left for the next candidate than waited on twice
    if isinstance(error, UpstreamStatus):
        if error.upstream_status not in RETRYABLE_STATUS:
            return None
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= spec.max_delay_s else None
    elif error.code not in ("bad_gateway",):
        return None
    return rng.uniform(0, min(spec.max_delay_s, spec.base_delay_s * 2**tries))


@dataclass(slots=True)
class Guard:
    """Per request: the store for breakers, the policy's settings, the process's retry budget."""

    store: Store
    breaker: BreakerConfig
    retry: RetrySpec
    budget: RetryBudget
    states: dict[str, str]  # breaker state per model as last seen, for /readyz and metrics
    rng: random.Random  # the process's, shared: seeding one per request costs more than the rest of this

    async def admits(self, model: str) -> bool:
        state = await self.store.breaker_state(model, self.breaker)
        self.states[model] = state.state
        if state.state == "closed":
            return True
        return state.state == "half_open" and await self.store.breaker_try_probe(model, self.breaker)

    async def report(self, model: str, ok: bool) -> None:
        state = await self.store.breaker_report(model, ok, self.breaker)
        self.states[model] = state.state
