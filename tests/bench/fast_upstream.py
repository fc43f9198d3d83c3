"""A deliberately fast OpenAI-compatible upstream for benchmarks: a raw asyncio protocol on uvloop that
answers every POST with a canned chat completion, or, for `"stream": true`, a canned SSE stream whose
chunks are spaced by --interval-ms. Keep-alive HTTP/1.1 only; enough for load tests on loopback.

python tests/bench/fast_upstream.py --port 9100 [--interval-ms 50 --chunks 10] [--delay-ms 20]

--delay-ms holds each plain answer that long, like a model that takes time to generate.
"""

from __future__ import annotations

import argparse
import asyncio
import json

import uvloop

BODY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "bench",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hello! How can I help you today?"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21},
    }
).encode()
PLAIN = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(BODY), BODY)
STREAM_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def chunk(i: int) -> bytes:
    event = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "bench",
        "choices": [{"index": 0, "delta": {"content": f"w{i} "}, "finish_reason": None}],
    }
    data = b"data: " + json.dumps(event).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


class Server(asyncio.Protocol):
    def __init__(self, interval: float, chunks: int, delay: float) -> None:
        self.buf = b""
        self.interval = interval
        self.chunks = chunks
        self.delay = delay
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].lower()
            length = 0
            for line in head.split(b"\r\n"):
                if line.startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            if b'"stream":true' in body.replace(b" ", b""):
                asyncio.get_running_loop().create_task(self.stream())
            else:
                assert self.transport is not None
                if self.delay:  # answers on one connection stay in order: each waits the same time
                    asyncio.get_running_loop().call_later(self.delay, self.answer_late)
                else:
                    self.transport.write(PLAIN)

    def answer_late(self) -> None:
        if self.transport is not None and not self.transport.is_closing():  # the client may have left
            self.transport.write(PLAIN)

    async def stream(self) -> None:
        assert self.transport is not None
        self.transport.write(STREAM_HEAD)
        for i in range(self.chunks):
            self.transport.write(chunk(i))
            if self.interval:
                await asyncio.sleep(self.interval)
        done = b"data: [DONE]\n\n"
        self.transport.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))


async def main(port: int, interval: float, chunks: int, delay: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Server(interval, chunks, delay), "127.0.0.1", port, backlog=1024)
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--interval-ms", type=float, default=0)
    p.add_argument("--chunks", type=int, default=10)
    p.add_argument("--delay-ms", type=float, default=0)
    a = p.parse_args()
    uvloop.run(main(a.port, a.interval_ms / 1000, a.chunks, a.delay_ms / 1000))
