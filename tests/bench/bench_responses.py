"""/v1/responses beside /v1/chat/completions (run by hand; never part of the test suite).

    python tests/bench/bench_responses.py [--seconds 5] [--runs 3] [--translator-only]

1. The translator alone (timeit on this process's CPU time): a Responses request to a chat body, a chat answer to a
   response object and its JSON, and a 10-chunk chat stream to Responses events. Budget: 0.1 ms a request.
2. The gateway (`router serve`, one worker pinned to CPU 0, route auto with classification) in front of
   the canned upstream of bench_gateway (CPU 1), driven by wrk (CPU 1) with the same four prompts as chat
   bodies and as Responses bodies: throughput at 16 clients and p50/p99 at 4 clients, plain answers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from router.protocol import openai_responses as rp  # noqa: E402
from router.protocol.openai_responses_stream import ChatToResponseEvents  # noqa: E402
from router.upstream.passing import dumps  # noqa: E402
from tests.bench.bench_gateway import PROMPTS, PY, WRK_SCRIPT, free_port, policy, proc, start_upstream, to_ms  # noqa: E402

REQUEST = {
    "model": "auto",
    "instructions": "You are a helpful assistant.",
    "input": [
        {"role": "user", "content": "What is the weather in Paris?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny, 24 C"},
    ],
    "tools": [
        {"type": "function", "name": "get_weather", "description": "weather in a city",
         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
    ],
    "max_output_tokens": 64,
}  # fmt: skip
ANSWER = {
    "id": "cmpl-1", "object": "chat.completion", "created": 1700000000, "model": "bench",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "It is sunny and 24 C in Paris."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 40, "completion_tokens": 9, "total_tokens": 49},
}  # fmt: skip


def _chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return (
        b"data: "
        + json.dumps({"id": "c", "object": "chat.completion.chunk", "model": "bench", "choices": [choice]}).encode()
        + b"\n\n"
    )


STREAM = [
    _chunk({"role": "assistant", "content": "word "}),
    *[_chunk({"content": f"w{i} "}) for i in range(9)],
    _chunk({}, "stop"),
]
STREAM += [
    b'data: {"choices": [], "usage": {"prompt_tokens": 40, "completion_tokens": 10, "total_tokens": 50}}\n\n',
    b"data: [DONE]\n\n",
]


def translate_plain() -> bytes:
    rp.check(REQUEST)
    rp.to_chat(REQUEST, [])
    return dumps(rp.from_chat(REQUEST, ANSWER, rp.new_id("resp"), "auto"))


def translate_stream() -> bytes:
    events = ChatToResponseEvents(REQUEST, rp.new_id("resp"), "auto")
    out = [events.start(), *(events.feed(c) for c in STREAM), events.close()]
    return b"".join(out)


def per_call_us(fn: object, n: int) -> float:
    """CPU time of this process per call (the machine may be shared: waiting for a core is not counted)."""
    return min(timeit.repeat(fn, number=n, repeat=5, timer=time.process_time)) / n * 1e6  # type: ignore[arg-type]


def wrk(url: str, bodies: list[str], connections: int, seconds: float) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT % (", ".join("[[" + b + "]]" for b in bodies), "none"))
    cmd = ["taskset", "-c", "1", "wrk", "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{int(seconds)}s"]
    out = subprocess.run([*cmd, "--latency", "-s", f.name, url], capture_output=True, text=True, timeout=seconds + 60).stdout
    os.unlink(f.name)
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {"rps": rps, "p50": to_ms(lat["50"]), "p99": to_ms(lat["99"]), "non2xx": int(bad.group(1)) if bad else 0}


def median_of(url: str, bodies: list[str], connections: int, seconds: float, runs: int) -> dict[str, float]:
    results = [wrk(url, bodies, connections, seconds) for _ in range(runs)]
    return {k: statistics.median(r[k] for r in results) for k in results[0]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--translator-only", action="store_true")
    a = ap.parse_args()
    plain_us, stream_us = per_call_us(translate_plain, 5000), per_call_us(translate_stream, 2000)
    print(f"translator, plain (check + request + answer + JSON):  {plain_us:6.1f} us per request")
    print(f"translator, 10-chunk stream to Responses events:      {stream_us:6.1f} us per request")
    if a.translator_only:
        return
    if not shutil.which("wrk"):
        sys.exit("needs wrk (apt-get install wrk)")
    tmp = Path(tempfile.mkdtemp())
    up, up_port = start_upstream()
    (tmp / "policy.yaml").write_text(policy(f"http://127.0.0.1:{up_port}/v1", "learned"))
    chat = [json.dumps({"model": "auto", "messages": [{"role": "user", "content": p}], "max_tokens": 64}) for p in PROMPTS]
    responses = [json.dumps({"model": "auto", "input": p, "max_output_tokens": 64, "store": False}) for p in PROMPTS]
    stored = [json.dumps({"model": "auto", "input": p, "max_output_tokens": 64}) for p in PROMPTS]
    try:
        port = free_port()
        cmd = [PY, "-m", "router", "serve", "--policy", str(tmp / "policy.yaml"), "--port", str(port)]
        with proc(cmd, 0, f"http://127.0.0.1:{port}/healthz"):
            base = f"http://127.0.0.1:{port}/v1"
            wrk(base + "/chat/completions", chat, 16, 2)
            wrk(base + "/responses", responses, 16, 2)
            rows = []
            for name, path, bodies in (
                ("chat/completions", "/chat/completions", chat),
                ("responses (store: false)", "/responses", responses),
                ("responses (stored, memory)", "/responses", stored),
            ):
                t = median_of(base + path, bodies, 16, a.seconds, a.runs)
                lat = median_of(base + path, bodies, 4, a.seconds, a.runs)
                rows.append((name, t["rps"], lat["p50"], lat["p99"], t["non2xx"] + lat["non2xx"]))
        print(f"{'endpoint':30} {'req/s @16':>10} {'p50 ms @4':>10} {'p99 ms @4':>10} {'non-2xx':>8}")
        for name, rps, p50, p99, bad in rows:
            print(f"{name:30} {rps:10.0f} {p50:10.2f} {p99:10.2f} {bad:8.0f}")
    finally:
        up.terminate()


if __name__ == "__main__":
    main()
