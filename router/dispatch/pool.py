"""Slots per model in this process: requests in flight to one model are bounded, and one tenant may hold
only its share of them, so a tenant's flood of slow requests cannot starve the others.

A request over its tenant's share is refused at once (ShareExceeded, 429: the tenant's own doing). A
request that finds the model full waits for a slot, first come first served, up to the model's connect
timeout, then gives up with PoolBusy (503). Neither is a failure of the model: dispatch does not report
them to the circuit breaker and moves on to the next candidate.
"""

from __future__ import annotations

import asyncio
from collections import deque

from router.errors import RateLimited, Unavailable


class PoolBusy(Unavailable):
    code = "model_busy"


class ShareExceeded(RateLimited):
    code = "concurrency_limit_exceeded"


class ModelPools:
    def __init__(self) -> None:
        self._total: dict[str, int] = {}
        self._tenant: dict[tuple[str, str], int] = {}
        self._waiters: dict[str, deque[asyncio.Future[None]]] = {}

    def in_flight(self, model: str, tenant: str | None = None) -> int:
        return self._total.get(model, 0) if tenant is None else self._tenant.get((model, tenant), 0)

    async def acquire(self, model: str, tenant: str | None, limit: int, share: float, wait_s: float) -> None:
        if tenant is not None:
            cap = max(1, int(limit * share))
            if self._tenant.get((model, tenant), 0) >= cap:
                raise ShareExceeded(
                    f"too many requests of yours in flight to model {model!r} (limit {cap}); retry shortly",
                    headers={"retry-after": "1"},
                )
        if self._total.get(model, 0) >= limit:
            await self._wait(model, limit, wait_s)
        self._total[model] = self._total.get(model, 0) + 1
        if tenant is not None:
            self._tenant[model, tenant] = self._tenant.get((model, tenant), 0) + 1

    async def _wait(self, model: str, limit: int, wait_s: float) -> None:
        queue = self._waiters.setdefault(model, deque())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while self._total.get(model, 0) >= limit:
            waiter: asyncio.Future[None] = loop.create_future()
            queue.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    await waiter
            except TimeoutError:
                raise PoolBusy(f"model {model!r} has no free connection; retry shortly", headers={"retry-after": "1"}) from None
            finally:
                if waiter in queue:
                    queue.remove(waiter)
        if not queue:
            self._waiters.pop(model, None)

    def release(self, model: str, tenant: str | None) -> None:
        self._total[model] = self._total.get(model, 1) - 1
        if tenant is not None:
            key = (model, tenant)
            left = self._tenant.get(key, 1) - 1
            if left > 0:
                self._tenant[key] = left
            else:
                self._tenant.pop(key, None)
        queue = self._waiters.get(model)
        while queue:
            waiter = queue.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break
