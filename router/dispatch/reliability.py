"""What dispatch consults before and after each attempt: circuit breakers (in the store, so replicas share
them; read through the local BreakerBoard), the model's connection slots (ModelPools), the retry policy
with exponential backoff and full jitter, and a retry budget that keeps retries under a set share of
traffic so a failing upstream does not meet a retry storm.

Breakers with tenants: each report goes to the model's shared breaker, saying whose request it was, and
to the tenant's own breaker for that model ("model#tenant"). The shared breaker does not open on one
tenant's failures while another tenant's traffic in its window is healthy (store.base); the tenant's own
breaker opens instead, so that tenant's requests skip the model and the others' are untouched.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from router.dispatch.board import BreakerBoard
from router.dispatch.pool import ModelPools
from router.errors import UpstreamError, UpstreamTimeout
from router.policy.schema import BreakerSpec, RetrySpec
from router.store.base import BreakerConfig
from router.upstream.base import Target, UpstreamStatus

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


def tenant_breaker(model: str, tenant: str) -> str:
    return f"{model}#{tenant}"


@dataclass(slots=True)
class DispatchGuard:
    """Per policy version (and, with `for_tenant`, per request): breakers, connection slots, retries."""

    board: BreakerBoard
    breaker: BreakerConfig
    retry: RetrySpec
    budget: RetryBudget
    rng: random.Random  # the process's, shared: seeding one per request costs more than the rest of this
    pools: ModelPools
    connections: int = 512  # per model, per process
    share: float = 0.5  # of a model's connections, per tenant
    tenant: str | None = None

    def for_tenant(self, tenant: str | None) -> DispatchGuard:
        if tenant is None:
            return self
        return DispatchGuard(
            self.board, self.breaker, self.retry, self.budget, self.rng, self.pools, self.connections, self.share, tenant
        )

    async def admits(self, model: str) -> bool:
        if not await self.board.admits(model, self.breaker):
            return False
        return self.tenant is None or await self.board.admits(tenant_breaker(model, self.tenant), self.breaker)

    async def report(self, model: str, ok: bool) -> None:
        await self.board.report(model, ok, self.breaker, self.tenant)
        if self.tenant is not None:
            await self.board.report(tenant_breaker(model, self.tenant), ok, self.breaker)

    async def acquire(self, target: Target) -> None:
        """A connection slot for this request on the target's model (PoolBusy / ShareExceeded otherwise)."""
        await self.pools.acquire(target.name, self.tenant, self.connections, self.share, target.spec.timeouts.connect)

    def release(self, target: Target) -> None:
        self.pools.release(target.name, self.tenant)
