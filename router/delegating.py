"""The pipeline's delegate stage: wires the delegate engine (router.dispatch.delegate) to dispatch and
accounting. Each expert call and each core turn before the final one is a sub-call with its own
RequestRecord (request id `<parent>.<n>`, parent_request_id set), so the ledger, the metrics and the access
log carry its model and cost; the parent's record is the final turn, with the number of delegations.

Bounds: the route's max_steps (the last turn offers no experts), the core's total timeout over the whole
run, and the request's cost limit (x-router-max-cost-usd, or what is left of the tenant's budget): once
the sub-calls have spent it the core is asked to answer without the experts.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from router.dispatch.attempts import PlainOutcome, StreamOutcome, dispatch_plain, dispatch_stream, relay
from router.dispatch.delegate import Delegation, ExpertAnswer, Final, check_caller_tools
from router.errors import BadRequest, RouterError, UpstreamTimeout
from router.gateway import Gateway
from router.pipeline import (
    RequestContext,
    Result,
    _finish,
    _headers,
    _metered,
    _or_account,
    _renamed,
    account_plain,
    tenant_guard,
)
from router.policy.decide import Decision, Hints
from router.policy.schema import RouteSpec
from router.telemetry.meter import text_of
from router.telemetry.record import RequestRecord
from router.upstream.base import Target


async def delegate(
    gw: Gateway,
    ctx: RequestContext,
    body: dict[str, Any],
    path: str,
    route: RouteSpec,
    decision: Decision,
    targets: list[Target],
    record: RequestRecord,
    hints: Hints,
) -> Result:
    if path != "chat/completions":
        raise BadRequest(f"route {decision.route!r} delegates to experts and serves chat completions only", param="model")
    check_caller_tools(body, route)
    guard = tenant_guard(gw, ctx)
    numbers = iter(range(1, 1 << 30))

    def sub_record(kind: str, model: str, reason: str) -> RequestRecord:
        sub = RequestRecord(f"{ctx.request_id}.{next(numbers)}", "chat", decision.route, tenant=ctx.tenant, reason=reason)
        sub.started, sub.parent_request_id, sub.task_kind, sub.expert = time.perf_counter(), ctx.request_id, kind, model
        return sub

    async def ask(kind: str, call_id: str, question: str) -> ExpertAnswer:
        expert = route.experts[kind]
        assert expert.model is not None
        spec = ctx.policy.models[expert.model]
        sub = sub_record(kind, expert.model, "delegated")
        messages = [{"role": "system", "content": expert.description}] if expert.description else []
        messages.append({"role": "user", "content": question})
        sub.prompt_tokens = gw.classifier.counter.count(question)
        target = Target(expert.model, spec, spec.endpoint.model)
        try:
            async with asyncio.timeout(spec.timeouts.total):
                outcome = await dispatch_plain([target], gw.upstream_for, "chat/completions", {"messages": messages}, guard)
        except (RouterError, TimeoutError) as exc:
            error = exc if isinstance(exc, RouterError) else UpstreamTimeout(f"expert {expert.model!r} timed out")
            sub.model, sub.tier, sub.status, sub.error_type = expert.model, spec.tier, error.status, error.type
            _finish(gw, sub, sub.started)
            return ExpertAnswer(kind, call_id, f"error: the {kind} expert could not answer ({error.message})")
        account_plain(gw, ctx, sub, outcome.attempted, outcome.reply.data)
        return ExpertAnswer(kind, call_id, text_of(outcome.reply.data), sub.cost_usd)

    def turn_done(outcome: PlainOutcome | StreamOutcome, data: dict[str, Any]) -> float:
        """Account a core turn that called experts (not the final one)."""
        assert outcome.attempted.target is not None
        sub = sub_record("core", outcome.attempted.target.name, "core_turn")
        sub.started, sub.prompt_tokens, sub.stream = record.started, record.prompt_tokens, isinstance(outcome, StreamOutcome)
        account_plain(gw, ctx, sub, outcome.attempted, data)
        return sub.cost_usd

    engine = Delegation(route, body, ask, turn_done, hints.max_cost_usd)
    total = ctx.policy.models[targets[0].name].timeouts.total

    async def run() -> Final:
        try:
            async with asyncio.timeout(total):
                if body.get("stream") is True:
                    return await engine.stream(lambda b: dispatch_stream(targets, gw.upstream_for, path, b, guard))
                return await engine.plain(lambda b: dispatch_plain(targets, gw.upstream_for, path, b, guard))
        except TimeoutError:
            raise UpstreamTimeout(f"route {decision.route!r} exceeded the core's total timeout while delegating") from None

    final = await _or_account(gw, record, run())
    record.delegations = final.delegations
    if final.stream is not None:
        headers = _headers(ctx, decision, final.stream.attempted) | {"x-router-delegations": str(final.delegations)}
        stream = _metered(gw, ctx, record, final.stream.attempted, relay(final.stream, held=final.held), decision.route)
        return Result(headers, stream=stream)
    assert final.plain is not None and final.body is not None
    reply = final.plain.reply
    account_plain(gw, ctx, record, final.plain.attempted, reply.data)
    headers = _headers(ctx, decision, final.plain.attempted, reply.headers) | {"x-router-delegations": str(final.delegations)}
    return _renamed(Result(headers, final.body, data=reply.data), decision.route)
