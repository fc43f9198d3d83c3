"""Soak test, run by hand: mixed plain and streaming load against one gateway while faults rotate.

    python tests/bench/soak.py --minutes 10        # the full run
    python tests/bench/soak.py --minutes 1         # a quick run: every fault phase once, shorter

Everything runs on 127.0.0.1: a Redis (the gateway's store), two fake upstreams (slm, llm) and one
gateway (`router serve --redis-url ...`) with route `auto` (classify, each tier falling back to the
other), a `cascade` route and one tenant with generous limits. About 16 clients (asyncio + httpx) send
plain and streaming requests (some with `stream_options.include_usage`) through both routes while the
fault controller rotates, every ~30 s, through: none, slm answering 500 or 429 on a share of requests,
llm stalling mid-stream, slm killed and restarted on the same port, llm never answering, Redis stopped
and restarted (SHUTDOWN SAVE, so the ledger survives the restart as it would with persistence on).

Every request must end in a success or a clean OpenAI-shaped error; a stream either ends with
`data: [DONE]` (possibly after an error event) or it is counted as broken. The run is bounded in time
and in requests; a request that takes longer than the client timeout (60 s) counts as hung. At the end
the usage ledger (GET /router/usage, admin key) is compared with the answers the clients saw, and the
gateway's RSS, sampled every 10 s, is reported. Exit status 1 when anything was broken, hung or
unaccounted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.procs import Gateway, Upstream, start_gateway, start_upstream, stop, two_tier_policy  # noqa: E402
from tests.support.redis_server import REDIS_SERVER, RedisServer  # noqa: E402

TENANT, TENANT_KEY, ADMIN_KEY = "soak", "sk-soak-tenant", "sk-soak-admin"
REPLY = " ".join(f"word{i}" for i in range(24))  # long enough that a stall after 3 chunks is mid-stream
PROMPTS = [
    "hi",
    "what is the capital of France?",
    "translate 'good morning' into Spanish",
    "prove that the square root of 2 is irrational, step by step",
    "derive the closed form of the sum of the first n squares and prove it by induction",
    "write a Python function that merges two sorted lists, then analyse its complexity",
    "summarise the causes of the First World War in three sentences",
]
ERROR_KEYS = {"message", "type", "param", "code"}


# ---------------------------------------------------------------------------------------------- setup


def soak_policy(slm: Upstream, llm: Upstream) -> str:
    policy: dict[str, Any] = json.loads(two_tier_policy(slm.base_url, llm.base_url))
    policy["routes"]["auto"]["fallback"] = ["hosted-llm", "local-slm"]  # each tier falls back to the other
    policy["routes"]["cascade"] = {
        "strategy": "cascade",
        "tiers": {"slm": ["local-slm"], "llm": ["hosted-llm"]},
        "fallback": ["hosted-llm", "local-slm"],
        "cascade": {"hold_chunks": 4, "hold_ms": 400},
    }
    policy["tenants"] = {
        TENANT: {
            "api_keys": ["${SOAK_KEY}"],
            "routes": ["auto", "cascade"],
            "limits": {"requests_per_minute": 10_000_000, "tokens_per_minute": 1_000_000_000, "usd_per_day": 1_000_000.0},
        }
    }
    return json.dumps(policy, indent=2)


@dataclass
class Rig:
    """The processes under test; the fault controller swaps upstreams and Redis in place."""

    tmp: Path
    redis: RedisServer
    ups: dict[str, Upstream]
    gateway: Gateway

    def normal(self, name: str) -> None:
        self.ups[name].control(mode="ok", reply=REPLY, interval_ms=5)

    def restart(self, name: str) -> None:
        port = self.ups[name].port
        deadline = time.monotonic() + 10
        while True:  # the port may linger for a moment after the kill
            try:
                self.ups[name] = start_upstream(name, port)
                break
            except (RuntimeError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.normal(name)

    def redis_down(self) -> None:
        """SHUTDOWN SAVE: Redis writes its data to disk and exits; start() loads it again."""
        with socket.create_connection(("127.0.0.1", self.redis.port), timeout=5) as s:
            s.sendall(b"SHUTDOWN SAVE\r\n")
            s.recv(64)
        assert self.redis.proc is not None
        self.redis.proc.wait(10)
        self.redis.stop()

    def redis_up(self) -> None:
        if self.redis.proc is None:
            self.redis.start()

    def close(self) -> None:
        self.gateway.stop()
        for up in self.ups.values():
            up.stop()
        self.redis.stop()


def start_rig(tmp: Path) -> Rig:
    if REDIS_SERVER is None:
        raise SystemExit("redis-server is not installed")
    (tmp / "redis").mkdir()
    redis = RedisServer(tmp / "redis").start()
    ups = {name: start_upstream(name) for name in ("slm", "llm")}
    env = {"SOAK_KEY": TENANT_KEY, "ROUTER_ADMIN_KEY": ADMIN_KEY, "ROUTER_LOG_LEVEL": "warning"}
    gateway = start_gateway(soak_policy(ups["slm"], ups["llm"]), tmp / "gw", env=env, args=["--redis-url", redis.url])
    rig = Rig(tmp, redis, ups, gateway)
    for name in ups:
        rig.normal(name)
    return rig


# ---------------------------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class Phase:
    name: str
    start: Callable[[Rig], None]  # at the start of the phase
    heal: Callable[[Rig], None]  # half way through (restart what was killed) or at the end
    heal_midway: bool = False


def _noop(rig: Rig) -> None:
    pass


PHASES = [
    Phase("none", _noop, _noop),
    Phase("slm 500 x30%", lambda r: r.ups["slm"].control(mode="fail_rate", rate=0.3, status=500, reply=REPLY), lambda r: r.normal("slm")),
    Phase(
        "slm 429 x30%",
        lambda r: r.ups["slm"].control(mode="fail_rate", rate=0.3, status=429, retry_after=1, reply=REPLY),
        lambda r: r.normal("slm"),
    ),
    Phase("llm stalls mid-stream", lambda r: r.ups["llm"].control(mode="stall_after", chunks=3, reply=REPLY), lambda r: r.normal("llm")),
    Phase("slm killed, restarted", lambda r: stop(r.ups["slm"].proc, signal.SIGKILL), lambda r: r.restart("slm"), heal_midway=True),
    Phase("llm hangs", lambda r: r.ups["llm"].control(mode="hang"), lambda r: r.normal("llm")),
    Phase("redis stopped, restarted", lambda r: r.redis_down(), lambda r: r.redis_up(), heal_midway=True),
]  # fmt: skip


# ---------------------------------------------------------------------------------------------- load


@dataclass
class Stats:
    sent: int = 0
    ok: int = 0
    ok_stream: int = 0
    heads_200: int = 0  # answers that started with 200: each is one ledger entry (interrupted streams too)
    clean: Counter[str] = field(default_factory=Counter)  # clean errors by status ("200+event": error in a stream)
    broken: Counter[str] = field(default_factory=Counter)  # anything else, by kind
    broken_samples: list[str] = field(default_factory=list)
    hung: int = 0
    tiers: Counter[str] = field(default_factory=Counter)  # x-router-tier of the answers that started with 200
    fallbacks: int = 0  # answers served after at least one fallback (x-router-fallbacks > 0)
    latencies: list[float] = field(default_factory=list)
    by_phase: dict[str, Counter[str]] = field(default_factory=dict)
    rss_kib: list[int] = field(default_factory=list)

    def broke(self, kind: str, detail: str) -> str:
        self.broken[kind] += 1
        if len(self.broken_samples) < 12:
            self.broken_samples.append(f"{kind}: {detail[:300]}")
        return "broken"


def is_openai_error(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and set(body) == {"error"}
        and isinstance(body["error"], dict)
        and set(body["error"]) == ERROR_KEYS
        and isinstance(body["error"]["message"], str)
        and bool(body["error"]["message"])
    )


def error_outcome(stats: Stats, status: int, raw: bytes) -> str:
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if status in (500, 422) or status < 400 or not is_openai_error(body):
        return stats.broke(f"http {status}", raw.decode(errors="replace"))
    stats.clean[str(status)] += 1
    return "error"


def seen(stats: Stats, r: httpx.Response) -> None:
    stats.heads_200 += 1
    stats.tiers[r.headers.get("x-router-tier", "?")] += 1
    stats.fallbacks += r.headers.get("x-router-fallbacks", "0") not in ("0", "")


async def plain(client: httpx.AsyncClient, stats: Stats, body: dict[str, Any], headers: dict[str, str]) -> str:
    r = await client.post("/v1/chat/completions", json=body, headers=headers)
    if r.status_code != 200:
        return error_outcome(stats, r.status_code, r.content)
    seen(stats, r)
    try:
        choices = r.json().get("choices")
    except ValueError:
        choices = None
    if not isinstance(choices, list) or not choices:
        return stats.broke("200 without choices", r.text)
    stats.ok += 1
    return "ok"


async def streamed(client: httpx.AsyncClient, stats: Stats, body: dict[str, Any], headers: dict[str, str]) -> str:
    async with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as r:
        if r.status_code != 200:
            return error_outcome(stats, r.status_code, await r.aread())
        seen(stats, r)
        done, error, usage, chunks = False, False, False, 0
        try:
            async for line in r.aiter_lines():
                if not line.startswith("data: "):
                    continue
                if done:
                    return stats.broke("data after [DONE]", line)
                data = line[len("data: ") :]
                if data == "[DONE]":
                    done = True
                    continue
                event = json.loads(data)
                if "error" in event:
                    if not is_openai_error(event):
                        return stats.broke("malformed error event", data)
                    error = True
                else:
                    chunks += 1
                    usage = usage or bool(event.get("usage"))
        except httpx.HTTPError as exc:  # the connection died without [DONE]
            return stats.broke("stream cut", f"{type(exc).__name__} after {chunks} chunks")
        except ValueError:
            return stats.broke("non-JSON event", "")
    if not done:
        return stats.broke("stream ended without [DONE]", f"{chunks} chunks, error event: {error}")
    if error:
        stats.clean["200+event"] += 1
        return "error"
    if (body.get("stream_options") or {}).get("include_usage") and not usage:
        return stats.broke("include_usage without a usage chunk", "")
    stats.ok += 1
    stats.ok_stream += 1
    return "ok"


async def client_loop(
    client: httpx.AsyncClient, stats: Stats, rng: random.Random, until: float, budget: list[int], phase: list[str], timeout: float
) -> None:
    while time.monotonic() < until and budget[0] > 0:
        budget[0] -= 1
        stream = rng.random() < 0.4
        body: dict[str, Any] = {
            "model": "cascade" if rng.random() < 0.3 else "auto",
            "messages": [{"role": "user", "content": rng.choice(PROMPTS)}],
            "max_tokens": 64,
        }
        if stream:
            body["stream"] = True
            if rng.random() < 0.5:
                body["stream_options"] = {"include_usage": True}
        # the classifier sends most of these prompts to the SLM: a third of the requests ask for the LLM tier
        headers = {"x-router-tier": "llm"} if rng.random() < 0.33 else {}
        stats.sent += 1
        started = time.perf_counter()
        work: Awaitable[str] = streamed(client, stats, body, headers) if stream else plain(client, stats, body, headers)
        try:
            async with asyncio.timeout(timeout):
                outcome = await work
        except TimeoutError:
            stats.hung += 1
            outcome = "hung"
        except httpx.HTTPError as exc:
            outcome = stats.broke(f"transport {type(exc).__name__}", str(exc))
        else:
            stats.latencies.append(time.perf_counter() - started)
        stats.by_phase.setdefault(phase[0], Counter())[outcome] += 1


async def sample_rss(pid: int, stats: Stats, until: float, every: float = 10.0) -> None:
    while True:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    stats.rss_kib.append(int(line.split()[1]))
        except OSError:
            return
        if time.monotonic() + every > until:
            return
        await asyncio.sleep(every)


async def rotate_faults(rig: Rig, phase: list[str], until: float, seconds: float) -> None:
    i = 0
    while time.monotonic() < until:
        p = PHASES[i % len(PHASES)]
        phase[0] = p.name
        print(f"[{time.strftime('%H:%M:%S')}] phase: {p.name}", flush=True)
        await asyncio.to_thread(p.start, rig)
        end = min(until, time.monotonic() + seconds)
        if p.heal_midway:
            await asyncio.sleep(max(0.0, (end - time.monotonic()) / 2))
            await asyncio.to_thread(p.heal, rig)
            await asyncio.sleep(max(0.0, end - time.monotonic()))
        else:
            await asyncio.sleep(max(0.0, end - time.monotonic()))
            await asyncio.to_thread(p.heal, rig)
        i += 1


# ---------------------------------------------------------------------------------------------- report


def ledger_total(gw: Gateway, day_from: str) -> int:
    r = httpx.get(
        gw.url + "/router/usage",
        params={"tenant": TENANT, "day_from": day_from, "day_to": time.strftime("%Y-%m-%d", time.gmtime())},
        headers={"authorization": f"Bearer {ADMIN_KEY}"},
        timeout=10,
    )
    r.raise_for_status()
    return sum(int(row["requests"]) for row in r.json()["data"])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(stats: Stats, ledger: int, seconds: float) -> int:
    unaccounted = max(0, stats.heads_200 - ledger)
    rss = [kib / 1024 for kib in stats.rss_kib]
    rows = [
        ("duration", f"{seconds:.0f} s"),
        ("requests", f"{stats.sent}  ({stats.sent / max(seconds, 1e-9):.0f}/s)"),
        ("successes", f"{stats.ok}  (streams: {stats.ok_stream})"),
        ("clean errors", ", ".join(f"{k}: {v}" for k, v in sorted(stats.clean.items())) or "0"),
        ("broken", ", ".join(f"{k}: {v}" for k, v in sorted(stats.broken.items())) or "0"),
        ("hung (> client timeout)", str(stats.hung)),
        ("served by tier", ", ".join(f"{k}: {v}" for k, v in sorted(stats.tiers.items())) + f"  (after a fallback: {stats.fallbacks})"),
        ("answered 200 / ledger", f"{stats.heads_200} / {ledger}"),
        ("unaccounted", f"{unaccounted}  (sent - ledger = {stats.sent - ledger}: rejected requests are not in the ledger)"),
        ("latency p50 / p99", f"{statistics.median(stats.latencies) * 1000:.0f} ms / {percentile(stats.latencies, 0.99) * 1000:.0f} ms"),
        ("RSS first / last / max", f"{rss[0]:.0f} / {rss[-1]:.0f} / {max(rss):.0f} MiB ({len(rss)} samples)" if rss else "n/a"),
    ]  # fmt: skip
    width = max(len(k) for k, _ in rows)
    print("\n" + "=" * 100)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    print("-" * 100)
    print(f"{'phase':<26}{'requests':>10}{'ok':>10}{'error':>10}{'broken':>10}{'hung':>10}")
    for name in [p.name for p in PHASES]:
        c = stats.by_phase.get(name)
        if c:
            total = sum(c.values())
            print(f"{name:<26}{total:>10}{c['ok']:>10}{c['error']:>10}{c['broken']:>10}{c['hung']:>10}")
    if stats.broken_samples:
        print("-" * 100 + "\nbroken samples:")
        for line in stats.broken_samples:
            print("  " + line)
    print("=" * 100)
    return 1 if stats.broken or stats.hung or unaccounted else 0


async def soak(args: argparse.Namespace, rig: Rig) -> int:
    total = args.minutes * 60
    phase_s = args.phase_seconds or min(30.0, total / len(PHASES))
    stats, phase, budget = Stats(), ["none"], [args.max_requests]
    day_from = time.strftime("%Y-%m-%d", time.gmtime())
    started = time.monotonic()
    until = started + total
    limits = httpx.Limits(max_connections=args.clients * 2, max_keepalive_connections=args.clients)
    headers = {"authorization": f"Bearer {TENANT_KEY}"}
    async with httpx.AsyncClient(base_url=rig.gateway.url, headers=headers, limits=limits, timeout=None) as client:
        rng = random.Random(args.seed)
        tasks = [
            asyncio.create_task(client_loop(client, stats, random.Random(rng.random()), until, budget, phase, args.timeout))
            for _ in range(args.clients)
        ]
        rss = asyncio.create_task(sample_rss(rig.gateway.proc.pid, stats, until + args.timeout))
        faults = asyncio.create_task(rotate_faults(rig, phase, until, phase_s))
        await asyncio.gather(*tasks)
        faults.cancel()
        elapsed = time.monotonic() - started
    # heal everything, let the store flush what it buffered during the Redis outage, then read the ledger
    await asyncio.to_thread(rig.redis_up)
    for name in ("slm", "llm"):
        if rig.ups[name].proc.poll() is not None:
            await asyncio.to_thread(rig.restart, name)
        await asyncio.to_thread(rig.normal, name)
    await asyncio.sleep(3)
    ledger = await asyncio.to_thread(ledger_total, rig.gateway, day_from)
    rss.cancel()
    await sample_rss(rig.gateway.proc.pid, stats, 0)  # one last sample
    alive = rig.gateway.proc.poll() is None and httpx.get(rig.gateway.url + "/healthz", timeout=5).status_code == 200
    status = report(stats, ledger, elapsed)
    log = rig.gateway.logs()
    print(f"gateway alive and healthy afterwards: {alive}; tracebacks in its log: {log.count('Traceback')}")
    return status if alive else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the load runs")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--max-requests", type=int, default=1_000_000, help="stop after this many requests")
    parser.add_argument("--phase-seconds", type=float, default=None, help="fault rotation period (default 30, shorter runs less)")
    parser.add_argument("--timeout", type=float, default=60.0, help="client-side limit per request: longer counts as hung")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        rig = start_rig(Path(tmp))
        try:
            code = asyncio.run(soak(args, rig))
        finally:
            rig.close()
    sys.exit(code)


if __name__ == "__main__":
    main()
