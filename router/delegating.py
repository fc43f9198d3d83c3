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
from dataclasses import replace
from typing import Any

from router import accounting
from router.context import RequestContext
from router.dispatch.attempts import Call, dispatch_plain, dispatch_stream
from router.dispatch.delegate import Delegation, ExpertAnswer, Final, check_caller_tools
from router.dispatch.outcome import Answered, Attempted, Opened, Outcome, answered, streamed
from router.dispatch.relay import relay
from router.errors import BadRequest, RouterError, UpstreamTimeout
from router.gateway import Gateway
from router.policy.decide import Decision, Hints
from router.policy.schema import RouteSpec
from router.telemetry.meter import text_of
from router.telemetry.record import RequestRecord
from router.upstream.base import Target


async def delegate(
    gw: Gateway,
    ctx: RequestContext,
    call: Call,
    route: RouteSpec,
    decision: Decision,
    record: RequestRecord,
    hints: Hints,
    attempted: Attempted,
) -> Outcome:
    """The core's final turn as the request's Outcome, after the expert calls it asked for. Each core turn
    walks the candidates afresh; when one fails, `attempted` (the request's) says what that walk tried."""
    if call.path != "chat/completions":
        raise BadRequest(f"route {decision.route!r} delegates to experts and serves chat completions only", param="model")
    body, guard = call.body, call.guard
    check_caller_tools(body, route)
    numbers = iter(range(1, 1 << 30))

    async def ask(kind: str, call_id: str, question: str) -> ExpertAnswer:
        expert = route.experts[kind]
        assert expert.model is not None
        spec = ctx.policy.models[expert.model]
        tokens = gw.classifier.counter.count(question)
        sub = accounting.sub_call(record, next(numbers), kind, expert.model, "delegated", prompt_tokens=tokens)
        messages = [{"role": "system", "content": expert.description}] if expert.description else []
        messages.append({"role": "user", "content": question})
        target, walk = Target(expert.model, spec, spec.endpoint.model), Attempted()
        try:
            async with asyncio.timeout(spec.timeouts.total):
                expert_call = Call([target], gw.upstream_for, "chat/completions", {"messages": messages}, guard)
                done = await dispatch_plain(expert_call, walk)
        except (RouterError, TimeoutError) as exc:
            error = exc if isinstance(exc, RouterError) else UpstreamTimeout(f"expert {expert.model!r} timed out")
            accounting.failed(gw, sub, error, walk, asked=target)
            return ExpertAnswer(kind, call_id, f"error: the {kind} expert could not answer ({error.message})")
        accounting.answered(gw, ctx.policy, sub, done.target, done.attempted, done.reply.data)
        return ExpertAnswer(kind, call_id, text_of(done.reply.data), sub.cost_usd)

    def turn_done(turn: Answered | Opened, data: dict[str, Any]) -> float:
        """Account a core turn that called experts (not the final one)."""
        stream = isinstance(turn, Opened)
        number, tokens = next(numbers), record.prompt_tokens
        sub = accounting.sub_call(
            record, number, "core", turn.target.name, "core_turn", prompt_tokens=tokens, started=record.started, stream=stream
        )
        accounting.answered(gw, ctx.policy, sub, turn.target, turn.attempted, data)
        return sub.cost_usd

    engine = Delegation(route, body, ask, turn_done, hints.max_cost_usd)
    total = ctx.policy.models[call.targets[0].name].timeouts.total

    turns: list[Attempted] = []

    def turn(b: dict[str, Any]) -> tuple[Call, Attempted]:
        turns.append(Attempted())
        return replace(call, pick=gw.upstream_for, body=b), turns[-1]

    async def run() -> Final:
        try:
            async with asyncio.timeout(total):
                if body.get("stream") is True:
                    return await engine.stream(lambda b: dispatch_stream(*turn(b)))
                return await engine.plain(lambda b: dispatch_plain(*turn(b)))
        except TimeoutError:
            raise UpstreamTimeout(f"route {decision.route!r} exceeded the core's total timeout while delegating") from None

    try:
        final = await run()
    except RouterError:
        if turns:
            attempted.tried[:], attempted.fallbacks, attempted.retries = turns[-1].tried, turns[-1].fallbacks, turns[-1].retries
        raise
    if final.stream is not None:
        outcome = streamed(final.stream, relay(final.stream, held=final.held, max_event_bytes=call.max_event_bytes))
    else:
        assert final.plain is not None and final.body is not None
        outcome = answered(replace(final.plain, reply=replace(final.plain.reply, body=final.body)))
    outcome.delegations = final.delegations
    outcome.headers["x-router-delegations"] = str(final.delegations)
    return outcome
