"""Admission: a tenant's requests/min, tokens/min, concurrency and USD budgets, in one atomic store call
per request (one Redis round trip), made before any expensive work; settled off the response path.

`Admitter.admit` books the request (Store.admit) and answers with a Ticket, or raises 429: rate limits
and concurrency with Retry-After, a spent budget with code budget_exceeded (or, as the tenant's policy
says, admits it downgraded to the SLM tier). The remaining budget also caps what routing may spend.
`Admitter.release` ends a request: what it really used is queued and written by one background writer
in batches (Store.settle: one round trip per batch, whatever its size), so no request waits on it and
a burst of finishing requests costs one write. The writer starts at once when idle, so a sequential
client's next request normally sees its previous slot free.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import secrets
import time
from dataclasses import dataclass, field

from router.errors import RateLimited
from router.policy.schema import Limits
from router.store.base import AdmitRequest, RateDecision, Settlement, Store
from router.store.memory import MemoryStore
from router.tenancy.estimate import Estimate

log = logging.getLogger("router.limits")
WINDOW_S = 60.0
BUDGET_RETRY_S = 3600


@dataclass(slots=True)
class Ticket:
    """An admitted request's booking, until it is released."""

    tenant: str
    lease: str
    at: float
    reserved_tokens: int = 0
    reserved_usd: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    downgraded: bool = False
    remaining_usd: float | None = None
    released: bool = False


def _headers(kind: str, d: RateDecision) -> dict[str, str]:
    return {
        f"x-ratelimit-limit-{kind}": str(d.limit),
        f"x-ratelimit-remaining-{kind}": str(max(0, d.remaining)),
        f"x-ratelimit-reset-{kind}": f"{max(0.0, d.reset_s):.3f}s",
    }


def has_limits(limits: Limits) -> bool:
    return bool(
        limits.requests_per_minute
        or limits.tokens_per_minute
        or limits.max_concurrent
        or limits.usd_per_day
        or limits.usd_per_month
    )


class Admitter:
    """The gateway's one door for tenants' requests, and the writer of their settlements."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._local = store if isinstance(store, MemoryStore) else None  # settled in line: nothing to wait for
        self._pending: list[Settlement] = []
        self._writer: asyncio.Task[None] | None = None
        self._prefix = secrets.token_hex(6) + "-"  # lease ids: unique per process, then a counter
        self._count = itertools.count()

    async def admit(self, tenant: str, limits: Limits, est: Estimate, fail_open: bool, now: float | None = None) -> Ticket:
        now = time.time() if now is None else now
        ticket = Ticket(tenant, self._prefix + str(next(self._count)), now)
        if not has_limits(limits):
            return ticket  # nothing to check; the ticket still carries the spend to the budget
        req = AdmitRequest(
            tenant, ticket.lease, limits.requests_per_minute, limits.tokens_per_minute, est.tokens, limits.max_concurrent,
            est.lease_s, limits.usd_per_day, limits.usd_per_month, est.usd, limits.on_budget_exhausted == "downgrade",
            fail_open, WINDOW_S,
        )  # fmt: skip
        res = await self.store.admit(req, now)
        headers = ticket.headers
        if res.requests is not None:
            headers |= _headers("requests", res.requests)
        if res.tokens is not None:
            headers |= _headers("tokens", res.tokens)
        if not res.allowed:
            raise _refusal(tenant, res.refused, res.retry_after_s, res.requests, res.tokens, limits, headers)
        ticket.reserved_tokens, ticket.reserved_usd, ticket.downgraded = res.reserved_tokens, res.reserved_usd, res.downgraded
        if res.budget_left_usd is not None:
            ticket.remaining_usd = max(0.0, res.budget_left_usd)
        return ticket

    def release(self, ticket: Ticket | None, tokens: int, usd: float) -> None:
        """End the request: queue its settlement (once) and make sure the writer runs. Never blocks."""
        if ticket is None or ticket.released:
            return
        ticket.released = True
        settlement = Settlement(ticket.tenant, ticket.lease, ticket.at, ticket.reserved_tokens, tokens, ticket.reserved_usd, usd)
        if self._local is not None:
            self._local.settle_now([settlement])
            return
        self._pending.append(settlement)
        if self._writer is None:
            with contextlib.suppress(RuntimeError):  # no loop (shutdown): drain() writes what is left
                self._writer = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await self.store.settle(batch)
                except Exception:  # the store never raises by contract; this is the last line of defence
                    log.exception("%d settlements could not be written", len(batch))
        finally:
            self._writer = None

    async def drain(self) -> None:
        """Write every queued settlement now (shutdown, and before usage is read)."""
        if self._writer is not None:
            await asyncio.shield(self._writer)
        if self._pending:
            self._writer = asyncio.get_running_loop().create_task(self._write())
            await self._writer


def _refusal(
    tenant: str,
    kind: str | None,
    retry_s: float,
    rpm: RateDecision | None,
    tpm: RateDecision | None,
    limits: Limits,
    headers: dict[str, str],
) -> RateLimited:
    retry = max(1, math.ceil(retry_s))
    headers = headers | {"retry-after": str(retry)}
    if kind == "budget":
        error = RateLimited(f"Budget exhausted for tenant {tenant!r}; it renews with the next period.", code="budget_exceeded")
        error.headers = headers | {"retry-after": str(BUDGET_RETRY_S)}
        return error
    if kind == "concurrency":
        return RateLimited(
            f"Too many concurrent requests (limit {limits.max_concurrent}). Retry after {retry} s.",
            code="concurrency_limit_exceeded",
            headers=headers,
        )
    if kind == "store":
        return RateLimited(f"Limits cannot be checked right now. Retry after {retry} s.", headers=headers)
    name, d = ("tokens", tpm) if kind == "tokens" else ("requests", rpm)
    limit = d.limit if d is not None else 0
    return RateLimited(f"Rate limit reached for {name} per minute (limit {limit}). Retry after {retry} s.", headers=headers)
