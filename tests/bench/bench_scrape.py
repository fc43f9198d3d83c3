"""What scrapes of /metrics cost everyone else (run by hand; never part of the test suite).

    python tests/bench/bench_scrape.py [--seconds 5] [--tenants 300] [--scrapers 8]

Starts a canned upstream and the gateway on 127.0.0.1 with many tenants, sends one request per tenant so
the exposition is large, then measures chat latency from 4 sequential clients twice: alone, and with
`--scrapers` clients scraping /metrics (with the admin key) as fast as they can. Prints p50/p99 of both,
the exposition size and the scrapes answered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.procs import start_gateway, start_upstream, two_tier_policy

ADMIN = "bench-admin"


async def clients(url: str, keys: list[str], seconds: float, n: int = 4) -> list[float]:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def one(i: int) -> None:
        async with httpx.AsyncClient(timeout=30) as c:
            k = i
            while time.monotonic() < deadline:
                body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
                started = time.perf_counter()
                r = await c.post(
                    f"{url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {keys[k % len(keys)]}"}
                )
                latencies.append((time.perf_counter() - started) * 1000)
                r.raise_for_status()
                k += n

    await asyncio.gather(*(one(i) for i in range(n)))
    return latencies


async def scrapers(url: str, seconds: float, n: int) -> tuple[int, int]:
    deadline = time.monotonic() + seconds
    counts, size = [0], [0]

    async def one() -> None:
        async with httpx.AsyncClient(timeout=30) as c:
            while time.monotonic() < deadline:
                r = await c.get(f"{url}/metrics", headers={"authorization": f"Bearer {ADMIN}"})
                r.raise_for_status()
                counts[0] += 1
                size[0] = len(r.content)

    await asyncio.gather(*(one() for _ in range(n)))
    return counts[0], size[0]


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 2 else float("nan")


async def measure(url: str, keys: list[str], seconds: float, n_scrapers: int) -> None:
    alone = await clients(url, keys, seconds)
    (both, (scrapes, size)) = await asyncio.gather(clients(url, keys, seconds), scrapers(url, seconds, n_scrapers))
    print(f"exposition {size / 1024:.0f} KB, {scrapes} scrapes by {n_scrapers} scrapers in {seconds:.0f} s")
    print(f"chat p50 / p99 alone:         {pct(alone, 50):7.2f} / {pct(alone, 99):7.2f} ms  ({len(alone)} requests)")
    print(f"chat p50 / p99 with scrapers: {pct(both, 50):7.2f} / {pct(both, 99):7.2f} ms  ({len(both)} requests)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--tenants", type=int, default=300)
    ap.add_argument("--scrapers", type=int, default=8)
    args = ap.parse_args()
    up = start_upstream("slm")
    policy = json.loads(two_tier_policy(up.base_url, up.base_url))
    keys = [f"sk-bench-{i}" for i in range(args.tenants)]
    policy["tenants"] = {
        f"tenant-{i}": {"api_keys": [key], "routes": ["auto"], "limits": {"usd_per_day": 100.0}} for i, key in enumerate(keys)
    }
    gw = start_gateway(json.dumps(policy), Path(tempfile.mkdtemp()), env={"ROUTER_ADMIN_KEY": ADMIN, "ROUTER_ACCESS_LOG": "off"})
    try:
        for key in keys:  # one series set per tenant
            body = {"model": "auto", "messages": [{"role": "user", "content": "warm up"}]}
            httpx.post(
                f"{gw.base_url}/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}
            ).raise_for_status()
        asyncio.run(measure(gw.url, keys, args.seconds, args.scrapers))
    finally:
        gw.stop()
        up.stop()


if __name__ == "__main__":
    main()
