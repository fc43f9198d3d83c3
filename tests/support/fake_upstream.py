"""An in-memory upstream for unit tests of dispatch (httpx's MockTransport idea): each model answers from
a script, one step per call, and every call is kept. A step is a reply document, a list of stream chunks,
or an exception to raise."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from router.dispatch.attempts import Call
from router.dispatch.board import BreakerBoard
from router.dispatch.pool import ModelPools
from router.dispatch.reliability import DispatchGuard, RetryBudget, breaker_config
from router.policy.schema import BreakerSpec, ModelSpec, RetrySpec
from router.store.memory import MemoryStore
from router.upstream.base import Reply, Target

Step = dict[str, Any] | list[bytes] | Exception


def target(name: str, tier: str = "slm", base_url: str = "http://127.0.0.1:9/v1", **spec: Any) -> Target:
    model = ModelSpec.model_validate({"tier": tier, "endpoint": {"base_url": base_url, "model": f"{name}-id"}, **spec})
    return Target(name, model, model.endpoint.model)


def chat_reply(text: str, **choice: Any) -> dict[str, Any]:
    message = {"role": "assistant", "content": text}
    return {
        "object": "chat.completion",
        "model": "fake-id",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop", **choice}],
    }


def chunks(*texts: str) -> list[bytes]:
    """A chat stream: one event per text, then [DONE]."""
    events = [orjson.dumps({"choices": [{"index": 0, "delta": {"content": t}}]}) for t in texts]
    return [b"data: " + e + b"\n\n" for e in events] + [b"data: [DONE]\n\n"]


class _Stream:
    def __init__(self, parts: Sequence[bytes]) -> None:
        self._parts = list(parts)
        self.closed = False

    async def _gen(self) -> AsyncIterator[bytes]:
        for part in self._parts:
            yield part

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._gen()

    async def aclose(self) -> None:
        self.closed = True


@dataclass
class FakeUpstream:
    """Scripts per model name: the last step repeats once the others are used."""

    scripts: dict[str, list[Step]]
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    streams: list[_Stream] = field(default_factory=list)

    def _next(self, target: Target, body: dict[str, Any]) -> Step:
        self.calls.append((target.name, body))
        script = self.scripts[target.name]
        step = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(step, Exception):
            raise step
        return step

    async def complete(self, target: Target, path: str, body: dict[str, Any]) -> Reply:
        step = self._next(target, body)
        assert isinstance(step, dict), "a plain call met a stream step"
        return Reply(orjson.dumps(step), step)

    async def open_stream(self, target: Target, path: str, body: dict[str, Any]) -> _Stream:
        step = self._next(target, body)
        assert isinstance(step, list), "a stream call met a reply step"
        stream = _Stream(step)
        self.streams.append(stream)
        return stream

    async def aclose(self) -> None:
        return None

    def tried(self) -> list[str]:
        return [name for name, _ in self.calls]


def guard(attempts: int = 0, **retry: Any) -> DispatchGuard:
    """A guard on an in-memory store: breakers that never open in these tests, retries as asked, no sleep."""
    spec = RetrySpec(attempts=attempts, base_delay_s=0.0, **retry)
    breaker = breaker_config(BreakerSpec(consecutive_failures=1000, min_requests=1000))
    return DispatchGuard(BreakerBoard(MemoryStore()), breaker, spec, RetryBudget(), random.Random(0), ModelPools())


def call(upstream: FakeUpstream, targets: Sequence[Target], body: dict[str, Any] | None = None, **kw: Any) -> Call:
    return Call(
        list(targets),
        lambda t: upstream,
        "chat/completions",
        body or {"messages": [{"role": "user", "content": "hi"}]},
        kw.pop("guard", None) or guard(),
        **kw,
    )
