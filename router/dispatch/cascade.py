"""strategy: cascade. The SLM answers first; when its answer looks weak (router.dispatch.judge) the LLM
answers instead. Streams are held for a policy-set window (chunks or milliseconds) and judged before the
gateway commits to the SLM; after that the SLM's stream flows on unchanged. No byte of a rejected SLM
answer ever reaches the client.

When the gateway itself asked the SLM for logprobs (to judge them), it removes them again so the client
gets the shape it asked for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import orjson

from router.dispatch.attempts import Call, dispatch, dispatch_plain, dispatch_stream
from router.dispatch.judge import Answer, Verdict, add_chunk, answer_from_reply, judge
from router.dispatch.outcome import Attempted, Opened, Outcome, answered, streamed
from router.dispatch.relay import relay
from router.dispatch.sse import EventSplitter, EventTooLarge, encode_event, parse_event
from router.errors import UpstreamError
from router.policy.schema import CascadeSpec
from router.upstream.base import Reply, Target


def said(outcome: Outcome, escalated: bool, verdict: Verdict) -> Outcome:
    """The outcome with what the cascade decided, in the record's fields and its x-router-* headers."""
    outcome.escalated, outcome.escalation_reason = escalated, verdict.reason
    outcome.headers["x-router-escalated"] = "true" if escalated else "false"
    outcome.headers["x-router-escalation-reason"] = verdict.reason
    if verdict.mean_logprob is not None:
        outcome.headers["x-router-slm-mean-logprob"] = f"{verdict.mean_logprob:.4f}"
    return outcome


def _split(targets: Sequence[Target]) -> tuple[list[Target], list[Target]]:
    return [t for t in targets if t.spec.tier == "slm"], [t for t in targets if t.spec.tier != "slm"]


def _slm_body(body: dict[str, Any], slm: Sequence[Target]) -> tuple[dict[str, Any], bool]:
    """Ask for logprobs when the SLM serves them and the caller did not; say whether we added them."""
    if "logprobs" in body or not slm or not slm[0].spec.capabilities.logprobs:
        return body, False
    return {**body, "logprobs": True}, True


def _strip_reply(reply: Reply) -> Reply:
    data = dict(reply.data)
    choices = data.get("choices")
    if isinstance(choices, list):
        data["choices"] = [{k: v for k, v in c.items() if k != "logprobs"} if isinstance(c, dict) else c for c in choices]
    return Reply(orjson.dumps(data), data, reply.headers)


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
            choices = event.get("choices")
            for choice in choices if isinstance(choices, list) else ():
                if isinstance(choice, dict):
                    choice.pop("logprobs", None)
            out.append(encode_event(event))
        return b"".join(out)


async def cascade(call: Call, spec: CascadeSpec, attempted: Attempted) -> Outcome:
    """The SLM's answer unless it looks weak (and there is an LLM to ask); else the LLM's. `attempted` (the
    caller's) is the LLM's walk, after the models the SLM's walk tried."""
    slm, llm = _split(call.targets)
    slm_body, added = _slm_body(call.body, slm)
    first = replace(call, targets=slm, body=slm_body)
    first_walk = Attempted()
    try:
        if call.stream:
            outcome, verdict = await _slm_stream(first, call.body, spec, first_walk, added, bool(llm))
        else:
            outcome, verdict = await _slm_plain(first, call.body, spec, first_walk, added, bool(llm))
    except UpstreamError:
        outcome, verdict = None, Verdict(True, "slm_failed")
    if outcome is not None:
        return said(outcome, False, verdict)
    attempted.tried[:0] = first_walk.tried
    return said(await dispatch(replace(call, targets=llm), attempted), True, verdict)


async def _slm_plain(
    call: Call, body: dict[str, Any], spec: CascadeSpec, walk: Attempted, added: bool, escalates: bool
) -> tuple[Outcome | None, Verdict]:
    """The SLM's plain answer, judged: None when it is weak and there is an LLM to ask."""
    done = await dispatch_plain(call, walk)
    verdict = judge(answer_from_reply(done.reply.data), body, spec)
    if verdict.weak and escalates:
        return None, verdict
    if added:
        done.reply = _strip_reply(done.reply)
    return answered(done), verdict


async def _slm_stream(
    call: Call, body: dict[str, Any], spec: CascadeSpec, walk: Attempted, added: bool, escalates: bool
) -> tuple[Outcome | None, Verdict]:
    """The SLM's stream, judged on its held window: None (the stream closed) when it is weak and there is
    an LLM to ask."""
    opened = await dispatch_stream(call, walk)
    held, pending, verdict = await _hold_window(opened, body, spec, call.max_event_bytes)
    if not verdict.weak or not escalates:
        events = relay(opened, held, pending, _StripLogprobs() if added else None, call.max_event_bytes)
        return streamed(opened, events), verdict
    if pending is not None:
        pending.cancel()
    await opened.stream.aclose()
    return None, verdict


async def _hold_window(
    outcome: Opened, body: dict[str, Any], spec: CascadeSpec, max_event_bytes: int
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
