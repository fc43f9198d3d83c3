"""The usage ledger as an observer: every finished request's tokens, cost and counterfactual LLM cost go
to the store per (tenant, model, route, day). (Spend against budgets and the tokens/min correction are
settled by router.tenancy.limits, atomically with the request's reservation.)

A request never waits on the ledger: records are summed in memory and written in one batch every
FLUSH_S (one store round trip for many requests, which matters on Redis), and on shutdown `drain()`
writes what is left, so a graceful restart loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass

from router.store.base import Store, UsageRecord, utc_day
from router.telemetry.record import RequestRecord
from router.tenancy.auth import SINGLE_TENANT

log = logging.getLogger("router.usage")
FLUSH_S = 0.1
Key = tuple[str, str, str, str, str]  # tenant, model, route, tier, day


@dataclass(slots=True)
class _Sum:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    llm_cost_usd: float = 0.0


class UsageLedger:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._usage: dict[Key, _Sum] = defaultdict(_Sum)
        self._flush: asyncio.Task[None] | None = None

    def observe(self, record: RequestRecord) -> None:
        r = record
        if r.model is None or r.tier is None or (r.status >= 400 and not r.interrupted):
            return
        tenant = r.tenant or SINGLE_TENANT
        row = self._usage[(tenant, r.model, r.route, r.tier, utc_day(time.time()))]
        row.requests += 1
        row.prompt_tokens += r.prompt_tokens
        row.completion_tokens += r.completion_tokens
        row.cost_usd += r.cost_usd
        row.llm_cost_usd += r.llm_cost_usd
        if self._flush is None:
            self._flush = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        try:
            await asyncio.sleep(FLUSH_S)
        finally:
            self._flush = None
            await self._write()

    async def _write(self) -> None:
        usage, self._usage = self._usage, defaultdict(_Sum)
        try:
            for (tenant, model, route, tier, day), s in usage.items():
                await self.store.record_usage(
                    UsageRecord(
                        tenant,
                        model,
                        route,
                        tier,
                        day,
                        s.requests,
                        s.prompt_tokens,
                        s.completion_tokens,
                        s.cost_usd,
                        s.llm_cost_usd,
                    )
                )
        except Exception:  # the store never raises by contract; this is the last line of defence
            log.exception("usage of %d ledger rows could not be recorded", len(usage))

    async def drain(self) -> None:
        """Write everything now (graceful shutdown, and before GET /router/usage reads the store)."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        await self._write()
