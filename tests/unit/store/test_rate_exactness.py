"""Two gateway processes sharing one Redis admit no more than the limit: each OS process runs its own
RedisStore with many concurrent callers on the same key, demand far above the limit, and the total
admitted over the window must be within 1% of the limit (the Lua script makes it exact).

Run as a script, this file is the worker: `python test_rate_exactness.py URL PREFIX LIMIT MAXCOST START DURATION`.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.unit.store.conftest import RedisServer

ROOT = Path(__file__).resolve().parents[3]
CONCURRENCY = 32


async def worker(url: str, prefix: str, limit: int, max_cost: int, start: float, duration: float) -> dict[str, int]:
    from router.store.redis import RedisStore

    store = RedisStore(url, prefix=prefix, timeout_s=1.0, fail_open=False)
    await store.ping()
    rng = random.Random(os.getpid())
    admitted = calls = 0

    async def caller() -> None:
        nonlocal admitted, calls
        while time.time() < start + duration:
            cost = rng.randint(1, max_cost)
            decision = await store.hit("tenant-a:tpm", limit, 60.0, cost=cost)
            calls += 1
            if decision.allowed:
                admitted += cost

    await asyncio.sleep(max(start - time.time(), 0))
    await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
    await store.aclose()
    return {"admitted": admitted, "calls": calls, "errors": store.stats.errors}


def run_pair(url: str, limit: int, max_cost: int, duration: float = 1.5) -> list[dict[str, int]]:
    prefix = f"exact{random.randrange(1 << 30)}:"
    start = time.time() + 1.0  # both processes imported and connected by then
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    args = [url, prefix, str(limit), str(max_cost), repr(start), str(duration)]
    procs = [subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    results = []
    for p in procs:
        out, _ = p.communicate(timeout=30)
        assert p.returncode == 0
        results.append(json.loads(out))
    return results


@pytest.mark.parametrize(("limit", "max_cost"), [(2000, 1), (50_000, 40)], ids=["requests", "tokens"])
def test_two_processes_admit_the_limit(redis_server: RedisServer, limit: int, max_cost: int) -> None:
    results = run_pair(redis_server.url, limit, max_cost)
    admitted = sum(r["admitted"] for r in results)
    demand_calls = sum(r["calls"] for r in results)
    print(f"limit={limit} admitted={admitted} ({admitted / limit:.4f}) calls={demand_calls} per-process={results}")
    assert all(r["errors"] == 0 for r in results)
    assert all(r["admitted"] > 0 for r in results)  # both processes competed
    assert demand_calls * (max_cost + 1) / 2 > 1.5 * limit  # demand exceeded the limit
    assert limit * 0.99 <= admitted <= limit * 1.01


if __name__ == "__main__":
    url, prefix, limit, max_cost, start, duration = sys.argv[1:7]
    out = asyncio.run(worker(url, prefix, int(limit), int(max_cost), float(start), float(duration)))
    print(json.dumps(out))
