"""Fixtures for the store tests: a real redis-server on a free 127.0.0.1 port, and both store kinds.

The Redis parameters are skipped only when /usr/bin/redis-server (or one on PATH) is absent.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from router.store import MemoryStore, Store
from router.store.redis import RedisStore
from tests.support.redis_server import REDIS_SERVER, RedisServer


def _server(tmp: Path) -> Iterator[RedisServer]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One server for the whole session; tests isolate themselves by key prefix."""
    yield from _server(tmp_path_factory.mktemp("redis"))


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of this test's own, which it may stop and start."""
    yield from _server(tmp_path)


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}:"


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        s: Store = MemoryStore()
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        s = RedisStore(server.url, prefix=unique_prefix())
    yield s
    await s.aclose()
