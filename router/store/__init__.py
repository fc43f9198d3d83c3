"""Shared state behind one interface (base.Store): in process (MemoryStore) or on Redis (RedisStore).

`open_store(None)` gives the embedded default; `open_store("redis://...", **options)` the shared one,
where options are RedisStore's keyword arguments (prefix, timeout_s, fail_open, breaker_cache_s, ...).
"""

from __future__ import annotations

from typing import Any

from router.store.base import (
    Adapter,
    BreakerConfig,
    BreakerState,
    RateDecision,
    Store,
    StoreStats,
    UsageRecord,
    UsageRow,
)
from router.store.memory import MemoryStore

__all__ = [
    "Adapter",
    "BreakerConfig",
    "BreakerState",
    "MemoryStore",
    "RateDecision",
    "Store",
    "StoreStats",
    "UsageRecord",
    "UsageRow",
    "open_store",
]


def open_store(redis_url: str | None, **options: Any) -> Store:
    """The memory store when redis_url is None (or empty), else a RedisStore on that URL.

    No connection is made here: redis-py connects on the first command, and an unreachable Redis is an
    outage the store rides out (see router.store.guard), not a start-up failure.
    """
    if not redis_url:
        if options:
            raise TypeError(f"options {sorted(options)} only apply to the Redis store")
        return MemoryStore()
    from router.store.redis import RedisStore

    return RedisStore(redis_url, **options)
