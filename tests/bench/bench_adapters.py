"""Benchmark of the adapter registry (run by hand, not a test):

    python -m tests.bench.bench_adapters [--redis-url redis://127.0.0.1:6379/0] [--lookups 5000]

Registers 10,000 adapters across 1,000 tenants in each store (MemoryStore, RedisStore with one pipelined
put_adapters) and times it (target: under 1 s), then times get_adapter at 100, 1,000 and 10,000
registered adapters to show that a lookup does not get slower as the registry grows (a hash lookup).
Without --redis-url it starts a throwaway redis-server on a free port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator

from router.store import Adapter, MemoryStore, Store
from router.store.redis import RedisStore

TENANTS = 1_000


def adapters(n: int) -> list[Adapter]:
    return [Adapter(f"tenant-{i % TENANTS}", f"adapter-{i}", "local-phi3", f"lora-{i}") for i in range(n)]


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp],
            stdout=subprocess.DEVNULL,
        )
        try:
            for _ in range(200):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.1):
                    break
                time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait()


async def time_load(store: Store, batch: list[Adapter]) -> float:
    start = time.perf_counter()
    assert await store.put_adapters(batch) == len(batch)
    return time.perf_counter() - start


async def time_lookups(store: Store, batch: list[Adapter], lookups: int) -> float:
    """Mean seconds per get_adapter of a random registered adapter (sequential: latency, not throughput)."""
    rng = random.Random(1)
    picks = [rng.choice(batch) for _ in range(lookups)]
    for a in picks[:100]:  # warm up connections and caches
        await store.get_adapter(a.tenant, a.name)
    start = time.perf_counter()
    for a in picks:
        found = await store.get_adapter(a.tenant, a.name)
        assert found is not None and found.adapter_module == a.adapter_module
    return (time.perf_counter() - start) / lookups


async def close(store: Store) -> None:
    if isinstance(store, RedisStore):  # leave an existing Redis as it was
        keys = [k async for k in store._r.scan_iter(match=store.prefix + "*", count=1000)]
        for i in range(0, len(keys), 1000):
            await store._r.delete(*keys[i : i + 1000])
    await store.aclose()


async def bench(redis_url: str, lookups: int) -> None:
    kinds: dict[str, object] = {
        "memory": MemoryStore,
        "redis": lambda: RedisStore(redis_url, prefix=f"bench{uuid.uuid4().hex[:6]}:"),
    }
    full = adapters(10_000)
    print(f"load: 10,000 adapters across {TENANTS:,} tenants (one put_adapters call; pipelined on Redis)")
    print(f"{'store':<8} {'seconds':>9} {'adapters/s':>12}  target < 1 s")
    for kind, make in kinds.items():
        store: Store = make()  # type: ignore[operator]
        took = await time_load(store, full)
        print(f"{kind:<8} {took:>9.3f} {len(full) / took:>12,.0f}  {'ok' if took < 1 else 'SLOW'}")
        await close(store)

    print(f"\nget_adapter latency, mean of {lookups:,} sequential lookups")
    print(f"{'store':<8} {'adapters':>9} {'us/lookup':>10}")
    for kind, make in kinds.items():
        for n in (100, 1_000, 10_000):
            store = make()  # type: ignore[operator]
            batch = adapters(n)
            await store.put_adapters(batch)
            per = await time_lookups(store, batch, lookups)
            print(f"{kind:<8} {n:>9,} {per * 1e6:>10.2f}")
            await close(store)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url", help="an existing Redis (keys under a random bench prefix are deleted after)")
    parser.add_argument("--lookups", type=int, default=5_000)
    args = parser.parse_args()
    if args.redis_url:
        asyncio.run(bench(args.redis_url, args.lookups))
    else:
        with redis_server() as url:
            asyncio.run(bench(url, args.lookups))


if __name__ == "__main__":
    main()
