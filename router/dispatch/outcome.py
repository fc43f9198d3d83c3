"""What dispatch produces: the walk's record (Attempted), the answer in hand before anything is sent
(Answered, or Opened for a committed stream), and the one Outcome every strategy returns to the pipeline.

Strategies that look at an answer before the client gets it (a cascade judges the SLM's, a delegate
route reads the core's tool calls) work on Answered and Opened; the pipeline sees only Outcome.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from router.upstream.base import ByteStream, Reply, Target


@dataclass(slots=True)
class Attempted:
    """What the walk did, for headers, logs and metrics."""

    fallbacks: int = 0  # hops to another model
    retries: int = 0  # extra tries of the same model
    errors: list[str] = field(default_factory=list)
    tried: list[str] = field(default_factory=list)  # catalog names of the models tried, in order


@dataclass(slots=True)
class Answered:
    """A plain answer in hand, not yet sent."""

    target: Target
    reply: Reply
    attempted: Attempted


@dataclass(slots=True)
class Opened:
    """A stream committed to one model, its first chunk in hand, nothing sent yet."""

    target: Target
    first: bytes
    stream: ByteStream
    chunks: AsyncIterator[bytes]
    attempted: Attempted
    started: float = 0.0  # loop time when the attempt began: `timeouts.total` counts from here


@dataclass(slots=True)
class Outcome:
    """What a request's dispatch produced, whatever its strategy: the model that answered, how the walk
    got there, and the answer ready for the client (a plain reply, or a stream relayed in whole events)."""

    target: Target
    attempted: Attempted
    answer: Reply | AsyncIterator[bytes]  # a plain reply, or the committed stream's events
    upstream_headers: Mapping[str, str] = field(default_factory=dict)  # the upstream's x-ratelimit-*, retry-after
    headers: dict[str, str] = field(default_factory=dict)  # the strategy's own: x-router-escalated, -delegations
    escalated: bool | None = None  # cascade routes
    escalation_reason: str | None = None
    delegations: int | None = None  # delegate routes


def answered(done: Answered) -> Outcome:
    return Outcome(done.target, done.attempted, done.reply, upstream_headers=done.reply.headers)


def streamed(opened: Opened, events: AsyncIterator[bytes]) -> Outcome:
    upstream = getattr(opened.stream, "headers", None) or {}
    return Outcome(opened.target, opened.attempted, events, upstream_headers=upstream)
