"""The usage ledger as an observer: every finished request's tokens, cost and counterfactual LLM cost go
to the store per (tenant, model, day), spend goes to the tenant's budget, and the tokens/min reservation
is settled with the real count. Writes happen in the background: a request never waits on the ledger.
"""

from __future__ import annotations

import asyncio
import logging
import time

from router.store.base import Store, UsageRecord
from router.telemetry.record import RequestRecord
from router.tenancy.auth import SINGLE_TENANT
from router.tenancy.limits import WINDOW_S

log = logging.getLogger("router.usage")


def utc_day(ts: float | None = None) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


class UsageLedger:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._tasks: set[asyncio.Task[None]] = set()

    def observe(self, record: RequestRecord) -> None:
        if record.model is None or record.tier is None or (record.status >= 400 and not record.interrupted):
            return
        task = asyncio.get_running_loop().create_task(self._write(record))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, r: RequestRecord) -> None:
        tenant = r.tenant or SINGLE_TENANT
        assert r.model is not None and r.tier is not None
        try:
            await self.store.record_usage(
                UsageRecord(
                    tenant,
                    r.model,
                    r.route,
                    r.tier,
                    utc_day(),
                    1,
                    r.prompt_tokens,
                    r.completion_tokens,
                    r.cost_usd,
                    r.llm_cost_usd,
                )
            )
            if r.cost_usd > 0:
                await self.store.add_spend(tenant, r.cost_usd)
            if r.reserved_at is not None:
                used = r.prompt_tokens + r.completion_tokens
                if used != r.reserved_tokens:
                    await self.store.adjust(f"tpm:{tenant}", WINDOW_S, used - r.reserved_tokens, at=r.reserved_at)
        except Exception:  # the store never raises by contract; this is the last line of defence
            log.exception("usage for request %s could not be recorded", r.request_id)

    async def drain(self) -> None:
        """Wait for writes in flight (graceful shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
