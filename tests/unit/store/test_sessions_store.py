"""The Store's session pins, on MemoryStore and RedisStore alike: per tenant, expiring after their TTL."""

from __future__ import annotations

import asyncio

from router.store import Store


async def test_a_pin_is_read_back_by_its_tenant_only(store: Store) -> None:
    await store.put_session("a", "s1", "llm:gpt", 60)
    assert await store.get_session("a", "s1") == "llm:gpt"
    assert await store.get_session("b", "s1") is None  # the same id under another tenant is another session
    assert await store.get_session("a", "s2") is None
    await store.put_session("a", "s1", "slm:phi", 60)  # a put replaces (and restarts the TTL)
    assert await store.get_session("a", "s1") == "slm:phi"


async def test_a_pin_expires_after_its_ttl(store: Store) -> None:
    await store.put_session("a", "short", "slm:phi", 0.3)
    await store.put_session("a", "long", "slm:phi", 60)
    await asyncio.sleep(0.6)
    assert await store.get_session("a", "short") is None
    assert await store.get_session("a", "long") == "slm:phi"
