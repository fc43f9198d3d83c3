"""Streams cannot outlive their limits: `timeouts.total` ends an endless stream, a meter keeps no unbounded
text, and one event larger than the cap ends the stream; each ends with an error event, then [DONE]."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.procs import Gateway, Upstream, start_gateway, two_tier_policy

MSG = [{"role": "user", "content": "tell me a long story"}]
TOTAL_S = 3
EVENT_CAP = 65536


@pytest.fixture(scope="module")
def gw(slm: Upstream, llm: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    policy = json.loads(two_tier_policy(slm.base_url, llm.base_url))
    policy["models"]["local-slm"]["timeouts"] = {"connect": 2, "first_token": 2, "idle": 2, "total": TOTAL_S}
    policy["models"]["hosted-llm"]["timeouts"] = {"connect": 2, "first_token": 5, "idle": 5, "total": 120}
    policy["models"]["long-slm"] = {**policy["models"]["local-slm"], "timeouts": {"idle": 5, "total": 300}}
    policy["routes"]["long"] = {"strategy": "fixed", "models": ["long-slm"]}
    policy["server"]["max_stream_event_bytes"] = EVENT_CAP
    policy["routes"]["careful"] = {"strategy": "cascade", "tiers": {"slm": ["local-slm"], "llm": ["hosted-llm"]}}
    gateway = start_gateway(json.dumps(policy), tmp_path_factory.mktemp("streams"))
    yield gateway
    gateway.stop()


def read_stream(gw: Gateway, model: str, deadline_s: float = 30, stop_after_bytes: int | None = None) -> tuple[bytes, bool]:
    """The raw SSE bytes of one streamed answer, and whether the gateway ended it before the deadline."""
    body = {"model": model, "messages": MSG, "stream": True}
    received = bytearray()
    started = time.monotonic()
    with httpx.stream("POST", gw.base_url + "/chat/completions", json=body, timeout=10) as response:
        assert response.status_code == 200
        for chunk in response.iter_raw():
            received += chunk
            if stop_after_bytes is not None and len(received) >= stop_after_bytes:
                return bytes(received), False
            if time.monotonic() - started > deadline_s:
                return bytes(received), False
    return bytes(received), True


def events(raw: bytes) -> list[bytes]:
    return [e[len(b"data: ") :] for e in raw.split(b"\n\n") if e.startswith(b"data: ")]


def gateway_hung_up(up: Upstream, timeout: float = 10) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cancelled = [r for r in up.received() if r["path"] == "_cancelled"]
        if cancelled:
            return dict(cancelled[-1]["body"])
        time.sleep(0.1)
    raise AssertionError("the gateway kept reading the upstream stream")


def test_total_timeout_ends_an_endless_stream(gw: Gateway, slm: Upstream) -> None:
    slm.control(mode="endless", interval_ms=20)
    started = time.monotonic()
    raw, ended = read_stream(gw, "small", deadline_s=TOTAL_S + 27)
    took = time.monotonic() - started
    assert ended, "the stream was still going long after timeouts.total"
    assert TOTAL_S - 0.5 < took < TOTAL_S + 20
    *content, error, done = events(raw)
    assert len(content) > 10 and all(json.loads(e)["choices"][0]["delta"]["content"] for e in content)
    assert json.loads(error)["error"]["code"] == "upstream_timeout"
    assert f"exceeded its total timeout of {TOTAL_S} s" in json.loads(error)["error"]["message"]
    assert done == b"[DONE]"
    gateway_hung_up(slm)
    # what a user of the official client sees: the chunks, then an error
    client = openai.OpenAI(base_url=gw.base_url, api_key="x", max_retries=0, timeout=60)
    pieces = []
    with pytest.raises(openai.APIError, match="total timeout"):
        for chunk in client.chat.completions.create(model="small", messages=MSG, stream=True):  # type: ignore[arg-type]
            pieces.append(chunk)
    assert len(pieces) > 10


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_long_stream_costs_the_gateway_bounded_memory(gw: Gateway, slm: Upstream) -> None:
    # words, 16 KB per event, as fast as the gateway takes them; the client reads 40 MB and leaves
    slm.control(mode="endless", interval_ms=0, piece=16000)
    gw_pid = gw.proc.pid
    before = rss_kib(gw_pid)
    peak = before
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss_kib(gw_pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        body = {"model": "long", "messages": MSG, "stream": True}
        received = 0
        with httpx.stream("POST", gw.base_url + "/chat/completions", json=body, timeout=10) as response:
            assert response.status_code == 200
            for chunk in response.iter_raw():
                received += len(chunk)
                if received >= 40 * 1024 * 1024:
                    break
        assert received >= 40 * 1024 * 1024
        gateway_hung_up(slm)
    finally:
        stop.set()
        sampler.join()
    assert (peak - before) < 16 * 1024, f"RSS grew {(peak - before) / 1024:.0f} MiB while 40 MiB streamed"


def test_an_oversized_event_ends_the_stream(gw: Gateway, slm: Upstream) -> None:
    slm.control(mode="giant_event", giant_bytes=16 * 1024 * 1024)
    raw, ended = read_stream(gw, "small")
    assert ended
    assert len(raw) < 4 * EVENT_CAP  # nothing of the giant event was passed on
    [error, done] = events(raw)
    assert f"sent a stream event larger than {EVENT_CAP} bytes" in json.loads(error)["error"]["message"]
    assert done == b"[DONE]"
    assert int(gateway_hung_up(slm)["after_bytes"]) < 16 * 1024 * 1024  # type: ignore[call-overload]


def test_a_cascade_escalates_past_an_oversized_slm_event(gw: Gateway, slm: Upstream, llm: Upstream) -> None:
    slm.control(mode="giant_event", giant_bytes=16 * 1024 * 1024)
    with httpx.stream(
        "POST", gw.base_url + "/chat/completions", json={"model": "careful", "messages": MSG, "stream": True}, timeout=30
    ) as r:
        raw = r.read()
        assert r.headers["x-router-model"] == "hosted-llm"
        assert r.headers["x-router-escalation-reason"] == "slm_failed"
    assert events(raw)[-1] == b"[DONE]" and b'"error"' not in raw
