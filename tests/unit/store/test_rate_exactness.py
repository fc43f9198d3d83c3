"""Two gateway processes sharing one Redis admit no more than the limit: each OS process runs its own
RedisStore with many concurrent callers on the same key, and every caller keeps calling until it is
refused, so demand always exceeds the limit however fast the machine is. The total admitted must be
within 1% of the limit (the Lua script makes it exact). Nothing here depends on speed: the processes
start together on a signal, and the only clock is a generous safety deadline.

Run as a script, this file is the worker: `python test_rate_exactness.py URL PREFIX LIMIT MAXCOST`; it
prints READY once connected, waits for a line on stdin, then runs and prints its counts as JSON.
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


SAFETY_S = 120.0  # only against a hang: a caller stops at its first refusal long before


async def worker(url: str, prefix: str, limit: int, max_cost: int) -> dict[str, int]:
    from router.store.redis import RedisStore

    store = RedisStore(url, prefix=prefix, timeout_s=5.0, fail_open=False)
    await store.ping()
    rng = random.Random(os.getpid())
    admitted = calls = refused = 0
    print("READY", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # GO: both are connected
    deadline = time.monotonic() + SAFETY_S

    async def caller() -> None:
        nonlocal admitted, calls, refused
        while time.monotonic() < deadline:
            cost = rng.randint(1, max_cost)
            decision = await store.hit("tenant-a:tpm", limit, 60.0, cost=cost)
            calls += 1
            if not decision.allowed:
                refused += 1
                return  # this caller met the limit: demand exceeded what was left
            admitted += cost

    await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
    await store.aclose()
    return {"admitted": admitted, "calls": calls, "refused": refused, "errors": store.stats.errors}


def run_pair(url: str, limit: int, max_cost: int) -> list[dict[str, int]]:
    prefix = f"exact{random.randrange(1 << 30)}:"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    args = [url, prefix, str(limit), str(max_cost)]
    procs = [
        subprocess.Popen([sys.executable, __file__, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "READY"
    results = []
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("GO\n")
        p.stdin.flush()
    for p in procs:
        out, _ = p.communicate(timeout=SAFETY_S + 60)
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
    assert all(r["refused"] == CONCURRENCY for r in results)  # every caller of both processes met the limit
    assert limit * 0.99 <= admitted <= limit * 1.01


if __name__ == "__main__":
    url, prefix, limit, max_cost = sys.argv[1:5]
    out = asyncio.run(worker(url, prefix, int(limit), int(max_cost)))
    print(json.dumps(out))
