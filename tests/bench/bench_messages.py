"""What the Anthropic Messages API costs on top of chat (run by hand; never part of the test suite).

    python tests/bench/bench_messages.py [--http] [--seconds 5]

1. The translation alone, timed with timeit over a typical agent request (system prompt, a tool, a
   tool_use / tool_result turn) and its answer: checks + request -> chat body, chat reply -> message,
   and a 60-chunk chat stream -> Messages events. The budget is 0.1 ms per request.
2. With --http: the same gateway process (route `auto`, classify + policy) under wrk with 16 clients,
   /v1/chat/completions against /v1/messages, same prompts, short runs (CPU pinned as in bench_gateway).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import timeit
from pathlib import Path
from typing import Any

import orjson

from router.protocol.anthropic_checks import check_messages
from router.protocol.anthropic_messages import to_chat, to_message
from router.protocol.anthropic_stream import EventTranslator
from router.telemetry.meter import StreamMeter

REQUEST: dict[str, Any] = {
    "model": "auto",
    "max_tokens": 1024,
    "system": [
        {"type": "text", "text": "You are a careful coding assistant. Answer briefly.", "cache_control": {"type": "ephemeral"}}
    ],
    "tools": [
        {
            "name": "read_file",
            "description": "Read a file of the repository",
            "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
        }
    ],
    "messages": [
        {"role": "user", "content": "What does router/pipeline.py do?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me read it."},
                {"type": "tool_use", "id": "toolu_01", "name": "read_file", "input": {"path": "router/pipeline.py"}},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "def generate(...): ...\n" * 20}],
        },
    ],
}
REPLY = {
    "id": "cmpl-1",
    "object": "chat.completion",
    "model": "phi",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "It runs the stages in order. " * 8}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 420, "completion_tokens": 56, "total_tokens": 476},
}


def _stream(chunks: int = 60) -> bytes:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        data = {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return b"data: " + orjson.dumps(data) + b"\n\n"

    body = [chunk({"role": "assistant", "content": ""})]
    body += [chunk({"content": f" word{i}"}) for i in range(chunks)]
    body.append(chunk({}, "stop"))
    usage = {"id": "c", "choices": [], "usage": {"prompt_tokens": 420, "completion_tokens": chunks}}
    return b"".join(body) + b"data: " + orjson.dumps(usage) + b"\n\ndata: [DONE]\n\n"


STREAM = _stream()
STREAM_CHUNKS = STREAM.split(b"\n\n")


def request_side() -> None:
    check_messages(REQUEST)
    to_chat(REQUEST)


def reply_side() -> None:
    orjson.dumps(to_message(orjson.loads(orjson.dumps(REPLY)), "auto"))


def stream_side() -> None:
    t = EventTranslator("auto")
    for piece in STREAM_CHUNKS:
        t.feed(piece + b"\n\n")
    t.finish()


def meter_side() -> None:
    meter = StreamMeter(0.0, len)
    for piece in STREAM_CHUNKS:
        meter.feed(piece + b"\n\n")


def micro() -> None:
    print(f"{'translation (per request)':44s} {'us':>8s}")
    for name, fn in (
        ("checks + request -> chat body", request_side),
        ("chat reply -> message (parse, map, encode)", reply_side),
        ("chat stream (60 chunks) -> events", stream_side),
        ("for scale: chat's own meter, same stream", meter_side),
    ):
        runs = 20_000 if fn in (request_side, reply_side) else 2_000
        best = min(timeit.repeat(fn, number=runs, repeat=5)) / runs
        print(f"{name:44s} {best * 1e6:8.1f}")


def http(seconds: float) -> None:
    from tests.bench.bench_gateway import PY, best_of, free_port, policy, proc, start_upstream, wrk

    up, port = start_upstream()
    tmp = Path(tempfile.mkdtemp())
    (tmp / "policy.yaml").write_text(policy(f"http://127.0.0.1:{port}/v1", "learned"))
    gw_port = free_port()
    try:
        cmd = [PY, "-m", "router", "serve", "--policy", str(tmp / "policy.yaml"), "--port", str(gw_port)]
        with proc(cmd, 0, f"http://127.0.0.1:{gw_port}/healthz"):
            base = f"http://127.0.0.1:{gw_port}/v1"
            wrk(f"{base}/chat/completions", "auto", 16, 2)  # warm up
            wrk(f"{base}/messages", "auto", 16, 2)
            rows = {path: best_of(f"{base}/{path}", "auto", 16, seconds, 3) for path in ("chat/completions", "messages")}
    finally:
        up.terminate()
    print(f"\n{'gateway, 16 clients (the same prompts)':44s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'non-2xx':>8s}")
    for path, r in rows.items():
        print(f"{'/v1/' + path:44s} {r['rps']:8.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['non2xx']:8.0f}")
    print(json.dumps({p: round(r["rps"]) for p, r in rows.items()}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--http", action="store_true", help="also load a gateway: chat against messages")
    ap.add_argument("--seconds", type=float, default=5)
    a = ap.parse_args()
    micro()
    if a.http:
        http(a.seconds)


if __name__ == "__main__":
    main()
