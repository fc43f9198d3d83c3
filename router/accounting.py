"""The account stage: the only code that writes a RequestRecord, and the one way a record leaves.

    begin ─> admitted (its ticket) ─> decided (reason, classification, shadow) ─┬─> answered (plain)
                                                                               ├─> metered (a stream, when it ends)
                                                                               └─> failed (status, models tried)
    every end ─> finish: latency, the tenant's admission released with what was used, the record reported

The pipeline calls these in stage order; each request is reported once, however it ends (a plain answer
when it is in hand, a stream when it ends, an error when it is raised). A delegate route's expert calls
and earlier core turns are sub-calls with records of their own (`sub_call`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from router.classify.classifier import Classification
from router.dispatch.outcome import Attempted
from router.errors import RouterError
from router.gateway import Gateway
from router.policy.compiled import Policy
from router.policy.decide import Decision
from router.telemetry.meter import StreamMeter, text_of, usage_of
from router.telemetry.record import RequestRecord
from router.tenancy.limits import Ticket
from router.upstream.base import Target

Shadowed = tuple[bool, str, str, float, float]  # changed, live/candidate reason, live/candidate cost


def begin(request_id: str, operation: str, route: str, tenant: str | None, started: float, stream: bool = False) -> RequestRecord:
    return RequestRecord(request_id, operation, route, tenant=tenant, stream=stream, started=started)


def sub_call(
    parent: RequestRecord,
    number: int,
    kind: str,
    model: str,
    reason: str,
    *,
    prompt_tokens: int = 0,
    started: float | None = None,
    stream: bool = False,
) -> RequestRecord:
    """A delegate route's expert call or earlier core turn: request id `<parent>.<n>`."""
    sub = begin(f"{parent.request_id}.{number}", "chat", parent.route, parent.tenant, started or time.perf_counter(), stream)
    sub.reason, sub.parent_request_id, sub.task_kind, sub.expert = reason, parent.request_id, kind, model
    sub.prompt_tokens = prompt_tokens
    return sub


def admitted(record: RequestRecord, ticket: Ticket | None) -> None:
    record.ticket = ticket


def decided(record: RequestRecord, decision: Decision, c: Classification | None, shadow: Shadowed | None = None) -> None:
    record.reason = decision.reason
    record.task_kind, record.expert, record.session, record.spilled = (
        decision.task_kind,
        decision.expert,
        decision.session,
        decision.spilled,
    )
    if c is not None:
        record.prompt_tokens, record.classifier_ms = c.prompt_tokens, c.elapsed_ms
        record.p_strong = c.scores.p_strong if c.scorer != "none" else None
    record.shadow = shadow


def dispatched(record: RequestRecord, target: Target, attempted: Attempted) -> None:
    record.model, record.tier, record.upstream_model = target.name, target.spec.tier, target.upstream_model
    record.provider = target.spec.endpoint.provider
    record.fallbacks, record.retries, record.tried = attempted.fallbacks, attempted.retries, tuple(attempted.tried)


def strategy(record: RequestRecord, escalated: bool | None, escalation_reason: str | None, delegations: int | None) -> None:
    record.escalated, record.escalation_reason, record.delegations = escalated, escalation_reason, delegations


def answered(
    gw: Gateway, policy: Policy, record: RequestRecord, target: Target, attempted: Attempted, data: dict[str, Any]
) -> None:
    """A plain answer in hand: its usage (the upstream's, else counted), cost and time."""
    dispatched(record, target, attempted)
    usage = usage_of(data)
    if usage is None:
        record.completion_tokens, record.tokens_estimated = gw.classifier.counter.count(text_of(data)), True
    else:
        record.prompt_tokens, record.completion_tokens = usage
    assert record.started is not None
    record.ttft_s = time.perf_counter() - record.started
    _costs(policy, record)
    finish(gw, record)


async def metered(
    gw: Gateway,
    policy: Policy,
    record: RequestRecord,
    target: Target,
    attempted: Attempted,
    stream: AsyncIterator[bytes],
    transform: Callable[[bytes], bytes],
) -> AsyncIterator[bytes]:
    """Pass the stream through `transform`; account it when it ends, however it ends."""
    assert record.started is not None
    meter = StreamMeter(record.started, gw.classifier.counter.count)
    dispatched(record, target, attempted)
    try:
        async for chunk in stream:
            meter.feed(chunk)
            yield transform(chunk)
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
        record.interrupted = not meter.finished
        if meter.usage is not None:
            record.prompt_tokens, record.completion_tokens = meter.usage
        else:
            record.completion_tokens, record.tokens_estimated = meter.text_tokens(), True
        record.ttft_s = meter.ttft_s
        _costs(policy, record)
        finish(gw, record)


def failed(gw: Gateway, record: RequestRecord, exc: RouterError, attempted: Attempted, asked: Target | None = None) -> None:
    """An error: its status, type and code, the models dispatch tried (`asked`: the one model a sub-call
    asked, named on its record)."""
    record.tried, record.fallbacks, record.retries = tuple(attempted.tried), attempted.fallbacks, attempted.retries
    if asked is not None:
        record.model, record.tier = asked.name, asked.spec.tier
    record.status, record.error_type = exc.status, exc.type
    if exc.code:
        record.extra["code"] = exc.code
    finish(gw, record)


def finish(gw: Gateway, record: RequestRecord) -> None:
    if record.started is not None:
        record.latency_s = time.perf_counter() - record.started
    release(gw, record)
    gw.reporting.observe(record)


def release(gw: Gateway, record: RequestRecord) -> None:
    """End the tenant's admission with what the request really used (queued; never waits; once)."""
    if record.ticket is not None and gw.admitter is not None:
        gw.admitter.release(record.ticket, record.prompt_tokens + record.completion_tokens, record.cost_usd)


def _costs(policy: Policy, record: RequestRecord) -> None:
    assert record.model is not None
    record.cost_usd = policy.models[record.model].price.usd(record.prompt_tokens, record.completion_tokens)
    route = policy.routes.get(record.route)
    llm = (route.tiers.get("llm") or ([route.core] if route.core else None)) if route is not None else None
    reference = policy.models[llm[0]] if llm else None  # savings: against the route's LLM tier (a delegate's core)
    record.llm_cost_usd = reference.price.usd(record.prompt_tokens, record.completion_tokens) if reference else record.cost_usd
