"""How busy each local model is, for spill on overload: requests this process has in flight on it, and
the queue its server reports (vLLM `/metrics` vllm:num_requests_waiting, llama.cpp `/slots`).

In-flight counts are kept by wrapping the upstream of models that set `max_in_flight` (a stream counts
until it closes). Server queues are polled in the background every POLL_S, never on the request path;
a probe that fails counts as no queue (the breakers handle a dead server). `snapshot` gives `decide`
the number of requests queued beyond each model's limit; 0 or absent means it has room.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from router.policy.compiled import Policy
from router.policy.reload import PolicyHolder
from router.policy.schema import ModelSpec
from router.upstream.base import ByteStream, Reply, Target, Upstream

log = logging.getLogger("router.load")
POLL_S = 1.0
_VLLM_WAITING = re.compile(r"^vllm:num_requests_waiting(?:\{[^}]*\})?\s+([0-9.eE+-]+)", re.MULTILINE)


@dataclass(slots=True)
class LoadTracker:
    in_flight: dict[str, int] = field(default_factory=dict)
    waiting: dict[str, int] = field(default_factory=dict)  # from the servers' own queues

    def snapshot(self, policy: Policy) -> dict[str, int]:
        """Requests queued beyond each saturated model's limit (only saturated models appear)."""
        out: dict[str, int] = {}
        for name, count in self.in_flight.items():
            spec = policy.models.get(name)
            if spec is not None and spec.max_in_flight is not None and count >= spec.max_in_flight:
                out[name] = count - spec.max_in_flight + 1
        for name, waiting in self.waiting.items():
            spec = policy.models.get(name)
            if spec is not None and spec.load_probe is not None and waiting > spec.max_waiting:
                out[name] = max(out.get(name, 0), waiting - spec.max_waiting)
        return out

    def wrap(self, upstream: Upstream) -> Upstream:
        return _Counting(upstream, self)


class _Counting:
    """An upstream that counts requests in flight per model that has a limit."""

    def __init__(self, inner: Upstream, load: LoadTracker) -> None:
        self.inner, self.load = inner, load

    def _enter(self, target: Target) -> bool:
        if target.spec.max_in_flight is None:
            return False
        self.load.in_flight[target.name] = self.load.in_flight.get(target.name, 0) + 1
        return True

    def _leave(self, target: Target) -> None:
        self.load.in_flight[target.name] -= 1

    async def complete(self, target: Target, path: str, body: dict[str, Any]) -> Reply:
        counted = self._enter(target)
        try:
            return await self.inner.complete(target, path, body)
        finally:
            if counted:
                self._leave(target)

    async def open_stream(self, target: Target, path: str, body: dict[str, Any]) -> ByteStream:
        counted = self._enter(target)
        try:
            stream = await self.inner.open_stream(target, path, body)
        except BaseException:
            if counted:
                self._leave(target)
            raise
        return _CountedStream(stream, lambda: self._leave(target)) if counted else stream

    async def aclose(self) -> None:
        await self.inner.aclose()


class _CountedStream:
    def __init__(self, inner: ByteStream, done: Any) -> None:
        self.inner, self.done = inner, done

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.inner.__aiter__()

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            if self.done is not None:
                self.done, done = None, self.done
                done()


def _server_root(spec: ModelSpec) -> str:
    base = (spec.endpoint.base_url or "").rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def parse_waiting(kind: str, status: int, text: str) -> int:
    """Requests waiting in a server's queue, from its /metrics (vLLM) or /slots (llama.cpp) body."""
    if status != 200:
        return 0
    if kind == "vllm":
        return int(sum(float(m) for m in _VLLM_WAITING.findall(text)))
    import orjson

    slots = orjson.loads(text)
    busy = sum(1 for s in slots if isinstance(s, dict) and (s.get("is_processing") or s.get("state") == 1))
    return 1 if slots and busy >= len(slots) else 0  # llama.cpp queues a request when every slot is busy


async def poll(load: LoadTracker, policies: PolicyHolder, interval_s: float = POLL_S) -> None:
    """Background task: read the queue of every model with a load_probe, forever."""
    async with httpx.AsyncClient(timeout=max(0.2, interval_s / 2), trust_env=False) as client:
        while True:
            probed = {n: m for n, m in policies.current.models.items() if m.load_probe is not None}
            for name in set(load.waiting) - set(probed):
                del load.waiting[name]
            for name, spec in probed.items():
                path = "/metrics" if spec.load_probe == "vllm" else "/slots"
                try:
                    response = await client.get(_server_root(spec) + path)
                    load.waiting[name] = parse_waiting(str(spec.load_probe), response.status_code, response.text)
                except (httpx.HTTPError, ValueError) as exc:
                    log.debug("load probe of %s failed: %s", name, exc)
                    load.waiting[name] = 0
            await asyncio.sleep(interval_s)
