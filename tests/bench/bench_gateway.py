"""Gateway benchmark (run by hand; never part of the test suite).

    python tests/bench/bench_gateway.py [--seconds 10] [--memory-requests 100000]
    python tests/bench/bench_gateway.py --tenants [--seconds 5] [--runs 3] [--before /work/main]

Starts, on 127.0.0.1: a fast canned upstream, the gateway (`router serve`, one worker, route `auto`
with classification and policy on), a bare pass-through proxy (the floor) with three client transports,
and LiteLLM's proxy when it is installed (`pip install 'litellm[proxy]'`). The server under test is
pinned to CPU 0, the load generator (wrk) and the upstream to CPU 1, so each server gets one core.
Prints one table: throughput at 16 clients, added latency at 4 clients, streaming time to first byte
and chunk cadence, and resident memory after 10k and 100k requests.

`--tenants` runs only the scale-out comparison (issue 16), every configuration in one run against the
same fast upstream: no tenant on in-memory state, one tenant with limits (set high enough never to refuse)
on in-memory state, the same tenant on a local Redis, and each of those with `--workers 2`. It reports
throughput and p50 at 16 clients, the Redis-backed / in-memory ratios, and Redis commands per request from
`INFO commandstats` (reset before each Redis run). `--before TREE` runs the Redis configurations from
another checkout too (e.g. /work/main), for a before/after in the same run. `--rounds N` runs the whole
list N times over, one configuration after another, and reports each configuration's median over the
rounds (and each ratio's median over the rounds): on a shared machine a burst of someone else's load
then lands on one round of every configuration rather than on every run of one. One worker is pinned to CPU 0
and the client, upstream and Redis to CPU 1; with two workers the gateway gets both CPUs and shares CPU 1
with the client, so that figure says what two workers do on a 2-core box *with the client on it*.

Added latency is measured twice. Against the instant upstream, 4 clients that never pause keep the
gateway's one core busy, so p50 is mostly queueing behind the other three requests (about 4 x the
CPU time of one request). Against an upstream that takes 20 ms per answer (closer to any real model),
the same 4 clients leave the core mostly idle, and the difference is what one request pays.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
PROMPTS = [
    "hi, how are you today?",
    "Write a haiku about autumn leaves falling on a quiet lake.",
    "Prove that there are infinitely many primes, step by step, and explain why the argument works.",
    "Which treaty ended the Thirty Years' War, and what did it change in European law and diplomacy?",
]
WRK_SCRIPT = """
local bodies = {%s}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
request = function()
  i = i %% #bodies + 1
  return wrk.format(nil, wrk.path, nil, bodies[i])
end
"""


def lua_bodies(model: str) -> str:
    bodies = [json.dumps({"model": model, "messages": [{"role": "user", "content": p}], "max_tokens": 64}) for p in PROMPTS]
    return ", ".join("[[" + b + "]]" for b in bodies)


SLOW_MS = 20.0  # the upstream's answer time for the unsaturated latency figure
LITELLM_KEY = "sk-" + "5f" * 32  # LiteLLM's proxy refuses to start without a master key


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT)
    e["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    return e


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def proc(
    args: list[str],
    cpu: int | None,
    ready_url: str | None = None,
    extra_env: dict[str, str] | None = None,
    cwd: Path = ROOT,
) -> Iterator[subprocess.Popen[bytes]]:
    cmd = (["taskset", "-c", str(cpu)] if cpu is not None and shutil.which("taskset") else []) + args
    p = subprocess.Popen(cmd, cwd=cwd, env={**env(), **(extra_env or {})}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        if ready_url:
            wait_http(ready_url)
        yield p
    finally:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


def start_upstream(interval_ms: float = 0, chunks: int = 10, delay_ms: float = 0) -> tuple[subprocess.Popen[bytes], int]:
    cmd = ["taskset", "-c", "1", PY, "tests/bench/fast_upstream.py", "--interval-ms", str(interval_ms), "--chunks", str(chunks)]
    cmd += ["--delay-ms", str(delay_ms)]
    p = subprocess.Popen(cmd, cwd=ROOT, env=env(), stdout=subprocess.PIPE)
    assert p.stdout is not None
    return p, int(p.stdout.readline().split()[1])


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def to_ms(value: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)", value)
    assert m, value
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[m.group(2)]


def wrk(url: str, model: str, connections: int, seconds: float) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT % (lua_bodies(model), LITELLM_KEY))
    threads = min(2, connections)
    out = subprocess.run(
        [
            "taskset",
            "-c",
            "1",
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{int(seconds)}s",
            "--latency",
            "-s",
            f.name,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    ).stdout
    os.unlink(f.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "requests": total,
        "p50": to_ms(lat["50"]),
        "p99": to_ms(lat["99"]),
        "non2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": 1 if errors else 0,
    }


def load(url: str, count: int, concurrency: int = 16) -> None:
    """Send exactly `count` requests, `concurrency` at a time, from a process pinned to CPU 1."""
    code = f"""
import asyncio, aiohttp, json, itertools
bodies = {[json.dumps({"model": "auto", "messages": [{"role": "user", "content": p}], "max_tokens": 64}) for p in PROMPTS]!r}
async def main():
    left = itertools.count()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit={concurrency})) as s:
        async def worker():
            while (i := next(left)) < {count}:
                async with s.post({url!r}, data=bodies[i % len(bodies)], headers={{"content-type": "application/json"}}) as r:
                    await r.read()
                    assert r.status == 200, r.status
        await asyncio.gather(*[worker() for _ in range({concurrency})])
asyncio.run(main())
"""
    subprocess.run(["taskset", "-c", "1", PY, "-c", code], check=True, timeout=count / 50 + 60)


def best_of(url: str, model: str, connections: int, seconds: float, runs: int) -> dict[str, float]:
    results = [wrk(url, model, connections, seconds) for _ in range(runs)]
    return {k: statistics.median(r[k] for r in results) for k in results[0]}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def stream_probe(url: str, model: str, n: int) -> tuple[list[float], list[float]]:
    """Time to first byte per request, and gaps between content chunks, seen by a client."""
    ttfb, gaps = [], []
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}], "stream": True}
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(n):
            start = time.perf_counter()
            async with client.stream("POST", url, json=body) as r:
                first = None
                last = None
                async for line in r.aiter_lines():
                    now = time.perf_counter()
                    if not line.startswith("data: {"):
                        continue
                    if first is None:
                        first = now
                        ttfb.append((now - start) * 1000)
                    elif last is not None:
                        gaps.append((now - last) * 1000)
                    last = now
    return ttfb, gaps


def policy(upstream: str, scorer: str) -> str:
    models = {
        name: {"tier": tier, "endpoint": {"base_url": upstream, "model": "bench"}, "context_window": 8192}
        for name, tier in (("slm", "slm"), ("llm", "llm"))
    }
    models["llm"]["price"] = {"input_per_mtok": 2.5, "output_per_mtok": 10}
    return json.dumps(
        {
            "version": 1,
            "models": models,
            "routes": {
                "auto": {"strategy": "classify", "tiers": {"slm": ["slm"], "llm": ["llm"]}, "threshold": 0.5, "fallback": ["llm"]}
            },
            "server": {"scorer": scorer},
        }
    )


def tenant_policy(upstream: str, scorer: str, tenant: bool) -> str:
    p = json.loads(policy(upstream, scorer))
    if tenant:
        limits = {"requests_per_minute": 10_000_000, "tokens_per_minute": 1_000_000_000, "usd_per_day": 1_000_000.0}
        p["tenants"] = {"bench": {"api_keys": [LITELLM_KEY], "limits": limits}}
    return json.dumps(p)


def command_stats(port: int) -> dict[str, int]:
    import redis

    info = redis.Redis(port=port).info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in info.items()}


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (uvicorn's workers), from /proc."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            pids += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except OSError:
            continue
    return total


def tenants_bench(a: argparse.Namespace) -> None:
    """Issue 16: the same tenant on in-memory state and on Redis, 1 and 2 workers, in one run."""
    import redis

    tmp = Path(tempfile.mkdtemp())
    up, up_port = start_upstream()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    rport = free_port()
    rproc = subprocess.Popen(
        ["taskset", "-c", "1", "redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    configs = [
        ("no tenant, in-memory", False, False, 1, ROOT),
        ("tenant, in-memory", True, False, 1, ROOT),
        ("tenant, Redis", True, True, 1, ROOT),
        ("no tenant, in-memory, 2 workers", False, False, 2, ROOT),
        ("tenant, in-memory, 2 workers", True, False, 2, ROOT),
        ("tenant, Redis, 2 workers", True, True, 2, ROOT),
    ]
    if a.before:
        before = Path(a.before)
        configs += [("BEFORE tenant, in-memory", True, False, 1, before), ("BEFORE tenant, Redis", True, True, 1, before)]
    per_round: dict[str, list[dict[str, float]]] = {name: [] for name, *_ in configs}
    try:
        time.sleep(0.3)
        client = redis.Redis(port=rport)
        for name, tenant, on_redis, workers, tree in [c for _ in range(a.rounds) for c in configs]:
            path = tmp / f"{sum(map(len, per_round.values()))}.yaml"
            path.write_text(tenant_policy(upstream, a.scorer, tenant))
            port = free_port()
            cmd = [PY, "-m", "router", "serve", "--policy", str(path), "--port", str(port), "--workers", str(workers)]
            if on_redis:
                client.flushall()
                cmd += ["--redis-url", f"redis://127.0.0.1:{rport}/0"]
            extra = {"PYTHONPATH": str(tree), "ROUTER_ACCESS_LOG": "off", "ROUTER_DRAIN_SECONDS": "0"}
            with proc(cmd, 0 if workers == 1 else None, f"http://127.0.0.1:{port}/healthz", extra, tree) as gw:
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                wrk(url, "auto", 16, 2)  # warm up
                client.config_resetstat()
                cpu = cpu_seconds(gw.pid)
                runs = [wrk(url, "auto", 16, a.seconds) for _ in range(a.runs)]
                cpu = cpu_seconds(gw.pid) - cpu
                stats = command_stats(rport)
                total = sum(r["requests"] for r in runs)
                r = {k: statistics.median(x[k] for x in runs) for k in runs[0]}
                r["cpu_ms"] = cpu / total * 1000
                r["commands"] = sum(stats.values()) / total if on_redis else float("nan")
                r["evalsha"] = stats.get("evalsha", 0) / total if on_redis else float("nan")
                per_round[name].append(r)
    finally:
        up.terminate()
        rproc.terminate()
    results = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in per_round.items()}

    def ratio(a_name: str, b_name: str, key: str) -> str:
        """b / a: from the medians, and per round (a and b ran minutes apart at most)."""
        rounds = [b[key] / x[key] for x, b in zip(per_round[a_name], per_round[b_name], strict=True)]
        each = " ".join(f"{v:.2f}" for v in rounds)
        return f"{results[b_name][key] / results[a_name][key]:.2f}x" + (f" (rounds: {each})" if len(rounds) > 1 else "")

    print(f"\n16 clients, wrk runs: {a.runs} x {a.seconds}s, {a.rounds} round(s), medians; client, upstream and Redis on CPU 1\n")
    print(
        f"{'configuration':36s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'non-2xx':>8s} {'CPU ms/req':>11s}"
        f" {'redis cmd/req':>14s} {'evalsha/req':>12s}"
    )
    for name, r in results.items():
        print(
            f"{name:36s} {r['rps']:8.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['non2xx']:8.0f} {r['cpu_ms']:11.3f}"
            f" {r['commands']:14.1f} {r['evalsha']:12.2f}"
        )
    mem, red = "tenant, in-memory", "tenant, Redis"
    print(f"\nRedis / in-memory throughput, same tenant: {ratio(mem, red, 'rps')} (target >= 0.8)")
    print(f"Redis / in-memory p50, same tenant: {ratio(mem, red, 'p50')} (target <= 1.25)")
    print(f"in-memory / Redis gateway CPU per request, same tenant: {ratio(red, mem, 'cpu_ms')} (capacity ratio)")
    for kind in ("no tenant, in-memory", "tenant, in-memory", "tenant, Redis"):
        print(f"2 workers / 1 worker, {kind}: {ratio(kind, f'{kind}, 2 workers', 'rps')} (client on the same 2 cores)")
    if a.before:
        b_mem, b_red = "BEFORE tenant, in-memory", "BEFORE tenant, Redis"
        print(f"BEFORE: Redis / in-memory throughput {ratio(b_mem, b_red, 'rps')}, p50 {ratio(b_mem, b_red, 'p50')}, "
              f"CPU capacity {ratio(b_red, b_mem, 'cpu_ms')}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--runs", type=int, default=3, help="wrk runs per target; medians are reported")
    ap.add_argument("--memory-requests", type=int, default=100_000)
    ap.add_argument("--scorer", default="learned")
    ap.add_argument("--skip-litellm", action="store_true")
    ap.add_argument("--tenants", action="store_true", help="only the tenant / Redis / workers comparison (issue 16)")
    ap.add_argument("--before", help="with --tenants: also run the Redis configurations from this checkout")
    ap.add_argument("--rounds", type=int, default=1, help="with --tenants: run every configuration this many times, interleaved")
    a = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("needs wrk (apt-get install wrk)")
    if a.tenants:
        tenants_bench(a)
        return
    tmp = Path(tempfile.mkdtemp())
    rows: list[tuple[str, str]] = []
    up, up_port = start_upstream()
    upstream = f"http://127.0.0.1:{up_port}/v1"
    (tmp / "policy.yaml").write_text(policy(upstream, a.scorer))
    results: dict[str, dict[str, float]] = {}
    try:
        results["upstream direct"] = best_of(f"{upstream}/chat/completions", "auto", 16, a.seconds, a.runs)
        gw_port = free_port()
        gw_cmd = [PY, "-m", "router", "serve", "--policy", str(tmp / "policy.yaml"), "--port", str(gw_port)]
        with proc(gw_cmd, 0, f"http://127.0.0.1:{gw_port}/healthz") as gw:
            gw_url = f"http://127.0.0.1:{gw_port}/v1/chat/completions"
            wrk(gw_url, "auto", 16, 3)  # warm up
            results["gateway (auto, classify+policy)"] = best_of(gw_url, "auto", 16, a.seconds, a.runs)
            # the same bodies are valid Messages requests: what Anthropic's API costs beside chat
            messages_url = f"http://127.0.0.1:{gw_port}/v1/messages"
            wrk(messages_url, "auto", 16, 2)
            results["gateway /v1/messages (auto, translated)"] = best_of(messages_url, "auto", 16, a.seconds, a.runs)
            lat_gw = best_of(gw_url, "auto", 4, a.seconds, a.runs)
            lat_direct = best_of(f"{upstream}/chat/completions", "auto", 4, a.seconds, a.runs)
            # memory: RSS after 10k requests, then after 100k in all (exact counts: a client of our own)
            load(gw_url, 10_000)
            rss_10k = rss_mb(gw.pid)
            load(gw_url, a.memory_requests - 10_000)
            rss_100k = rss_mb(gw.pid)
            explain = httpx.post(
                f"http://127.0.0.1:{gw_port}/router/explain",
                json={"model": "auto", "messages": [{"role": "user", "content": PROMPTS[2]}]},
            ).json()
        for transport in ("router", "aiohttp", "httpx", "raw-aiohttp"):
            port = free_port()
            cmd = [
                PY,
                "-m",
                "uvicorn",
                "tests.bench.passthrough:app",
                "--port",
                str(port),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ]
            with proc(
                cmd, 0, f"http://127.0.0.1:{port}/", {"ROUTER_BENCH_UPSTREAM": upstream, "ROUTER_BENCH_TRANSPORT": transport}
            ):
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                wrk(url, "auto", 16, 2)
                results[f"bare pass-through ({transport})"] = best_of(url, "auto", 16, a.seconds, a.runs)
        if not a.skip_litellm and shutil.which("litellm"):
            cfg = tmp / "litellm.yaml"
            cfg.write_text(
                json.dumps(
                    {
                        "model_list": [
                            {
                                "model_name": "auto",
                                "litellm_params": {"model": "openai/bench", "api_base": upstream, "api_key": "sk-bench"},
                            }
                        ]
                    }
                )
            )
            port = free_port()
            with proc(
                ["litellm", "--config", str(cfg), "--port", str(port), "--num_workers", "1"],
                0,
                f"http://127.0.0.1:{port}/health/liveliness",
                {"LITELLM_MASTER_KEY": LITELLM_KEY},
            ):
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                # its first seconds under load are its best: here it stopped completing requests after them
                results["LiteLLM proxy (first 5 s)"] = wrk(url, "auto", 16, 5)
                results["LiteLLM proxy (after)"] = best_of(url, "auto", 16, a.seconds, a.runs)
    finally:
        up.terminate()

    # streaming: time to first byte and cadence, direct vs through the gateway
    sup, s_port = start_upstream(interval_ms=0, chunks=5)
    cup, c_port = start_upstream(interval_ms=50, chunks=20)
    try:
        (tmp / "s.yaml").write_text(policy(f"http://127.0.0.1:{s_port}/v1", a.scorer))
        (tmp / "c.yaml").write_text(policy(f"http://127.0.0.1:{c_port}/v1", a.scorer))
        p1, p2 = free_port(), free_port()
        with (
            proc(
                [PY, "-m", "router", "serve", "--policy", str(tmp / "s.yaml"), "--port", str(p1)],
                0,
                f"http://127.0.0.1:{p1}/healthz",
            ),
            proc(
                [PY, "-m", "router", "serve", "--policy", str(tmp / "c.yaml"), "--port", str(p2)],
                0,
                f"http://127.0.0.1:{p2}/healthz",
            ),
        ):
            asyncio.run(stream_probe(f"http://127.0.0.1:{p1}/v1/chat/completions", "auto", 20))
            ttfb_direct, _ = asyncio.run(stream_probe(f"http://127.0.0.1:{s_port}/v1/chat/completions", "auto", 200))
            ttfb_gw, _ = asyncio.run(stream_probe(f"http://127.0.0.1:{p1}/v1/chat/completions", "auto", 200))
            _, gaps_direct = asyncio.run(stream_probe(f"http://127.0.0.1:{c_port}/v1/chat/completions", "auto", 5))
            _, gaps_gw = asyncio.run(stream_probe(f"http://127.0.0.1:{p2}/v1/chat/completions", "auto", 5))
    finally:
        sup.terminate()
        cup.terminate()

    # added latency when the gateway is not saturated: an upstream that takes 20 ms per answer
    slow, slow_port = start_upstream(delay_ms=SLOW_MS)
    try:
        (tmp / "slow.yaml").write_text(policy(f"http://127.0.0.1:{slow_port}/v1", a.scorer))
        p3 = free_port()
        with proc(
            [PY, "-m", "router", "serve", "--policy", str(tmp / "slow.yaml"), "--port", str(p3)],
            0,
            f"http://127.0.0.1:{p3}/healthz",
        ):
            slow_url = f"http://127.0.0.1:{p3}/v1/chat/completions"
            wrk(slow_url, "auto", 4, 2)
            lat_slow_gw = best_of(slow_url, "auto", 4, a.seconds, a.runs)
            lat_slow_direct = best_of(f"http://127.0.0.1:{slow_port}/v1/chat/completions", "auto", 4, a.seconds, a.runs)
    finally:
        slow.terminate()

    gw = results["gateway (auto, classify+policy)"]
    floor = results["bare pass-through (router)"]
    print(
        f"\nscorer: {explain['classification']['scorer']}   clients: 16 (throughput), 4 (latency)   wrk runs: {a.runs} x {a.seconds}s, medians\n"
    )
    print(f"{'target':40s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'non-2xx':>8s}")
    for name, r in results.items():
        print(f"{name:40s} {r['rps']:9.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['non2xx']:8.0f}")
    rows.append(("gateway req/s at 16 clients", f"{gw['rps']:.0f}  (target >= 2000)"))
    litellm = max((r["rps"] for k, r in results.items() if k.startswith("LiteLLM")), default=0.0)
    if litellm > 0:
        rows.append(("gateway / LiteLLM proxy (its best)", f"{gw['rps'] / litellm:.1f}x  (target >= 15x)"))
    rows.append(("gateway / bare pass-through (same transport)", f"{gw['rps'] / floor['rps']:.2f}  (target >= 0.5)"))
    rows.append(
        ("gateway / bare pass-through (httpx-aiohttp)", f"{gw['rps'] / results['bare pass-through (aiohttp)']['rps']:.2f}")
    )
    rows.append(
        ("gateway / bare pass-through (raw aiohttp)", f"{gw['rps'] / results['bare pass-through (raw-aiohttp)']['rps']:.2f}")
    )
    rows.append(("added latency p50 at 4 clients", f"{lat_gw['p50'] - lat_direct['p50']:.2f} ms  (target < 1.5)"))
    rows.append(("added latency p99 at 4 clients", f"{lat_gw['p99'] - lat_direct['p99']:.2f} ms  (target < 5)"))
    rows.append(
        (
            f"added latency p50 / p99, 4 clients, {SLOW_MS:.0f} ms upstream",
            f"{lat_slow_gw['p50'] - lat_slow_direct['p50']:.2f} / {lat_slow_gw['p99'] - lat_slow_direct['p99']:.2f} ms"
            f"  (direct {lat_slow_direct['p50']:.2f} / {lat_slow_direct['p99']:.2f})",
        )
    )
    rows.append(
        (
            "stream TTFB median direct / gateway",
            f"{statistics.median(ttfb_direct):.2f} / {statistics.median(ttfb_gw):.2f} ms  (added {statistics.median(ttfb_gw) - statistics.median(ttfb_direct):.2f}, target <= 1)",
        )
    )
    rows.append(
        (
            "stream chunk gap median direct / gateway",
            f"{statistics.median(gaps_direct):.1f} / {statistics.median(gaps_gw):.1f} ms  (max via gateway {max(gaps_gw):.1f})",
        )
    )
    rows.append(
        (
            "RSS after 10k / 100k requests",
            f"{rss_10k:.1f} / {rss_100k:.1f} MB  ({(rss_100k / rss_10k - 1) * 100:+.1f}%, target within 10%)",
        )
    )
    print()
    for k, v in rows:
        print(f"{k:52s} {v}")


if __name__ == "__main__":
    main()
