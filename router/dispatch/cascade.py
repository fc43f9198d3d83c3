"""strategy: cascade. The SLM answers first; when its answer looks weak (router.dispatch.judge) the LLM
answers instead. Streams are held for a policy-set window (chunks or milliseconds) and judged before the
gateway commits to the SLM; after that the SLM's stream flows on unchanged. No byte of a rejected SLM
answer ever reaches the client.

When the gateway itself asked the SLM for logprobs (to judge them), it removes them again so the client
gets the shape it asked for.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from router.dispatch.attempts import PickUpstream, PlainOutcome, StreamOutcome, dispatch_plain, dispatch_stream, relay
from router.dispatch.judge import Answer, Verdict, add_chunk, answer_from_reply, judge
from router.dispatch.reliability import Guard
from router.dispatch.sse import MAX_EVENT_BYTES, EventSplitter, EventTooLarge, encode_event, parse_event
from router.errors import UpstreamError
from router.policy.schema import CascadeSpec
from router.upstream.base import Reply, Target


@dataclass(slots=True)
class Cascaded:
    escalated: bool
    verdict: Verdict
    plain: PlainOutcome | None = None
    stream: AsyncIterator[bytes] | None = None
    stream_outcome: StreamOutcome | None = None

    @property
    def headers(self) -> dict[str, str]:
        headers = {"x-router-escalated": "true" if self.escalated else "false", "x-router-escalation-reason": self.verdict.reason}
        if self.verdict.mean_logprob is not None:
            headers["x-router-slm-mean-logprob"] = f"{self.verdict.mean_logprob:.4f}"
        return headers


def _split(targets: Sequence[Target]) -> tuple[list[Target], list[Target]]:
    return [t for t in targets if t.spec.tier == "slm"], [t for t in targets if t.spec.tier != "slm"]


def _slm_body(body: dict[str, Any], slm: Sequence[Target]) -> tuple[dict[str, Any], bool]:
    """Ask for logprobs when the SLM serves them and the caller did not; say whether we added them."""
    if "logprobs" in body or not slm or not slm[0].spec.capabilities.logprobs:
        return body, False
    return {**body, "logprobs": True}, True


def _strip_reply(reply: Reply) -> Reply:
    data = dict(reply.data)
    data["choices"] = [{k: v for k, v in c.items() if k != "logprobs"} for c in data.get("choices") or [] if isinstance(c, dict)]
    return Reply(orjson.dumps(data), data)


class _StripLogprobs:
    """Rewrites streamed events without the logprobs the gateway asked for."""

    def __init__(self) -> None:
        self._splitter = EventSplitter()

    def __call__(self, chunk: bytes) -> bytes:
        out = []
        for payload in self._splitter.feed(chunk):
            event = parse_event(payload)
            if event is None:
                out.append(b"data: " + payload + b"\n\n")
                continue
            for choice in event.get("choices") or []:
                if isinstance(choice, dict):
                    choice.pop("logprobs", None)
            out.append(encode_event(event))
        return b"".join(out)


async def cascade_plain(
    targets: Sequence[Target], pick: PickUpstream, path: str, body: dict[str, Any], spec: CascadeSpec, guard: Guard
) -> Cascaded:
    slm, llm = _split(targets)
    slm_body, added = _slm_body(body, slm)
    try:
        first = await dispatch_plain(slm, pick, path, slm_body, guard)
    except UpstreamError:
        verdict = Verdict(True, "slm_failed")
    else:
        verdict = judge(answer_from_reply(first.reply.data), body, spec)
        if not verdict.weak or not llm:
            if added:
                first.reply = _strip_reply(first.reply)
            return Cascaded(False, verdict, plain=first)
    return Cascaded(True, verdict, plain=await dispatch_plain(llm, pick, path, body, guard))


async def cascade_stream(
    targets: Sequence[Target],
    pick: PickUpstream,
    path: str,
    body: dict[str, Any],
    spec: CascadeSpec,
    guard: Guard,
    max_event_bytes: int = MAX_EVENT_BYTES,
) -> Cascaded:
    slm, llm = _split(targets)
    slm_body, added = _slm_body(body, slm)
    try:
        first = await dispatch_stream(slm, pick, path, slm_body, guard)
    except UpstreamError:
        verdict = Verdict(True, "slm_failed")
    else:
        held, pending, verdict = await _hold_window(first, body, spec, max_event_bytes)
        if not verdict.weak or not llm:
            stream = relay(first, held, pending, _StripLogprobs() if added else None, max_event_bytes)
            return Cascaded(False, verdict, stream=stream, stream_outcome=first)
        if pending is not None:
            pending.cancel()
        await first.stream.aclose()
    second = await dispatch_stream(llm, pick, path, body, guard)
    return Cascaded(True, verdict, stream=relay(second, max_event_bytes=max_event_bytes), stream_outcome=second)


async def _hold_window(
    outcome: StreamOutcome, body: dict[str, Any], spec: CascadeSpec, max_event_bytes: int
) -> tuple[list[bytes], asyncio.Future[bytes] | None, Verdict]:
    """Read ahead up to hold_chunks events, hold_ms or max_event_bytes, then judge what arrived.

    An SLM that sends an event larger than the cap has failed: its answer is not relayed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + spec.hold_ms / 1000
    splitter, answer = EventSplitter(max_event_bytes), Answer()
    held = [outcome.first]
    try:
        events, done = _fold(splitter, answer, outcome.first)
    except EventTooLarge:
        return held, None, Verdict(True, "slm_failed")
    size = len(outcome.first)
    pending: asyncio.Future[bytes] | None = None
    while events < spec.hold_chunks and not done and size <= max_event_bytes:
        pending = pending or asyncio.ensure_future(anext(outcome.chunks))
        finished, _ = await asyncio.wait({pending}, timeout=max(0.0, deadline - loop.time()))
        if not finished:
            break  # the window closed: judge what we have, keep the read for the relay
        try:
            chunk = pending.result()
        except StopAsyncIteration:
            pending, done = None, True
            break
        except UpstreamError:
            pending = None
            return held, None, Verdict(True, "slm_failed")
        pending = None
        held.append(chunk)
        size += len(chunk)
        try:
            more, done = _fold(splitter, answer, chunk)
        except EventTooLarge:
            return held, None, Verdict(True, "slm_failed")
        events += more
    return held, pending, judge(answer, body, spec, complete=done)


def _fold(splitter: EventSplitter, answer: Answer, chunk: bytes) -> tuple[int, bool]:
    events, done = 0, False
    for payload in splitter.feed(chunk):
        event = parse_event(payload)
        if event is None:
            done = done or payload == b"[DONE]"
            continue
        add_chunk(answer, event)
        events += 1
    return events, done
