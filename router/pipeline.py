"""The request pipeline, top to bottom: the only module that knows the order of the stages.

    authenticate ─> resolve route ─> admit ─> classify ─> decide ─> dispatch ─> respond ─> account

Authentication (new_context) and admission (admit_tenant: rate limits, concurrency, budgets; one store
call) come before any expensive work: a refused tenant costs a hash lookup and a bounded size estimate
(router.tenancy.estimate), never a classification. The admission's ticket is released when the request
is accounted, however it ends.

Endpoints (router.api) parse and validate the wire format, then call one function here; each returns a
Result that the endpoint turns into HTTP. `account` builds one RequestRecord per request (for streams,
when the stream ends, however it ends) and hands it to the gateway's reporting batch.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from router.api.wire import valid_name
from router.classify.classifier import Classification
from router.dispatch.attempts import Attempted, PickUpstream, dispatch_plain, dispatch_stream, relay
from router.dispatch.cascade import cascade_plain, cascade_stream
from router.dispatch.reliability import Guard
from router.errors import BadRequest, NotFound, RouterError
from router.gateway import Gateway
from router.hints import parse_hints
from router.policy.compiled import Policy
from router.policy.decide import Decision, Hints, decide
from router.policy.schema import AdapterSpec, RouteSpec
from router.policy.shadow import shadow_decide
from router.telemetry.meter import StreamMeter, cost_usd, text_of, usage_of
from router.telemetry.record import RequestRecord
from router.tenancy import sessions
from router.tenancy.auth import SINGLE_TENANT, authenticate
from router.tenancy.estimate import check_output, estimate, route_models
from router.tenancy.limits import Ticket
from router.upstream.base import Target
from router.upstream.passing import dumps, forwarded, renamer

T = TypeVar("T")


@dataclass(slots=True)
class RequestContext:
    request_id: str
    hints: Hints
    policy: Policy  # read once: the whole request sees one policy version
    started: float = field(default_factory=time.perf_counter)
    tenant: str | None = None
    response_headers: dict[str, str] = field(default_factory=dict)  # e.g. rate-limit state
    ticket: Ticket | None = None  # the tenant's admission, released when the request is accounted
    forward: dict[str, str] = field(default_factory=dict)  # client headers passed on to the upstream


def new_context(gw: Gateway, request_id: str, headers: Mapping[str, str]) -> RequestContext:
    """The request's context: one policy version, the caller's hints, the caller authenticated (401 otherwise)."""
    policy = gw.policies.current
    ctx = RequestContext(request_id, parse_hints(headers), policy)
    ctx.tenant = authenticate(policy, headers)
    ctx.forward = forwarded(headers, policy.spec.server.forward_headers, request_id)
    return ctx


@dataclass(slots=True)
class Result:
    headers: dict[str, str]
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    data: dict[str, Any] | None = None  # a plain answer, parsed


@dataclass(frozen=True, slots=True)
class Resolved:
    """What the request's `model` names: a route, or a tenant's adapter on its base model."""

    name: str
    route: RouteSpec
    adapter: AdapterSpec | None = None


def _not_found(name: Any) -> NotFound:
    # the same answer for a name that does not exist and one that belongs to another tenant
    return NotFound(f"The model {name!r} does not exist or you do not have access to it.", param="model")


async def resolve(gw: Gateway, ctx: RequestContext, name: Any) -> Resolved:
    if not isinstance(name, str):
        raise _not_found(name)
    policy = ctx.policy
    routes = policy.tenant_routes[ctx.tenant] if policy.multi_tenant and ctx.tenant in policy.tenant_routes else policy.routes
    route = routes.get(name)
    if route is not None:
        if route.strategy == "fixed" and all(policy.models[m].kind == "embeddings" for m in route.models):
            raise BadRequest(f"{name!r} serves embeddings only; use /v1/embeddings", param="model")
        return Resolved(name, route)
    tenant = ctx.tenant or SINGLE_TENANT
    adapter = policy.adapters.get((tenant, name))
    if adapter is None and not valid_name(name):  # could never be registered; never reaches a header or label
        raise _not_found(name)
    if adapter is None:
        stored = await gw.store.get_adapter(tenant, name)
        if stored is not None:
            adapter = AdapterSpec(base=stored.base_model, adapter=stored.adapter_module)
    if adapter is None or adapter.base not in policy.models:
        raise _not_found(name)
    return Resolved(name, RouteSpec.model_construct(strategy="fixed", models=[adapter.base], fallback=[]), adapter)


def targets_for(
    policy: Policy, decision: Decision, adapter: AdapterSpec | None = None, forward: Mapping[str, str] | None = None
) -> list[Target]:
    """The decision's candidates as upstream targets; a tenant's adapter replaces its base model's id."""
    targets = []
    headers = forward or {}
    for name in decision.candidates:
        spec = policy.models[name]
        if adapter is not None and name == adapter.base:
            targets.append(Target(name, spec, adapter.adapter, adapter.path, headers))
        else:
            targets.append(Target(name, spec, spec.endpoint.model, None, headers))
    return targets


def judge(gw: Gateway, ctx: RequestContext, body: dict[str, Any], resolved: Resolved) -> Classification:
    """Classify, once per request; only classifying routes pay for the learned score."""
    scorer = gw.scorer(ctx.policy) if resolved.route.strategy == "classify" else None
    return gw.classifier.classify(body, scorer)


def choose(gw: Gateway, ctx: RequestContext, resolved: Resolved, c: Classification, hints: Hints) -> Decision:
    decision = decide(ctx.policy, resolved.name, resolved.route, c, hints, gw.latency.snapshot(), gw.load.snapshot(ctx.policy))
    if resolved.adapter is not None:
        decision = replace(
            decision, reason="adapter", detail=f"adapter {resolved.adapter.adapter!r} on {resolved.adapter.base!r}"
        )
    return decision


def plan(
    gw: Gateway, ctx: RequestContext, body: dict[str, Any], resolved: Resolved, hints: Hints
) -> tuple[Classification, Decision]:
    """Classify and decide: everything short of calling a model (this is what explain shows)."""
    classification = judge(gw, ctx, body, resolved)
    return classification, choose(gw, ctx, resolved, classification, hints)


def _models_of(ctx: RequestContext, resolved: Resolved) -> list[str]:
    return route_models(ctx.policy, resolved.route)


async def admit_tenant(gw: Gateway, ctx: RequestContext, models: list[str], body: dict[str, Any]) -> Hints:
    """Rate limits, concurrency and budgets for the calling tenant, in one store call; returns the hints
    routing must honour. Single-tenant gateways admit everything. `n` and the output maximums are
    validated for every request; only a tenant's request is sized (nothing else reads the estimate)."""
    tenant = ctx.policy.tenants.get(ctx.tenant or "") if ctx.policy.multi_tenant else None
    if tenant is None:
        check_output(body)
        return ctx.hints
    est = estimate(ctx.policy, models, body)
    assert gw.admitter is not None
    ticket = await gw.admitter.admit(ctx.tenant or "", tenant.limits, est, ctx.policy.spec.server.limits_fail_open)
    ctx.ticket = ticket
    ctx.response_headers.update(ticket.headers)
    hints = ctx.hints
    if ticket.downgraded:
        hints = replace(hints, tier="slm", forced_by="budget")
    if ticket.remaining_usd is not None:
        cap = ticket.remaining_usd if hints.max_cost_usd is None else min(hints.max_cost_usd, ticket.remaining_usd)
        hints = replace(hints, max_cost_usd=cap)
    return hints


def shadow(gw: Gateway, ctx: RequestContext, record: RequestRecord, decision: Decision, c: Classification, hints: Hints) -> None:
    """Decide again with the candidate policy, if one is shadowed (no model call), and note the difference."""
    if gw.shadow is None or not decision.candidates:
        return
    result = shadow_decide(gw.shadow.current, decision, ctx.tenant, c, hints, gw.latency.snapshot(), gw.load.snapshot(ctx.policy))
    gw.shadow_tally.add(result)
    record.shadow = (result.changed, result.live_reason, result.reason, result.live_cost_usd, result.cost_usd)


async def _admitted(gw: Gateway, ctx: RequestContext, record: RequestRecord, models: list[str], body: dict[str, Any]) -> Hints:
    """Estimate (validating n and max_tokens) and admit; a refusal is accounted like any failed request."""
    hints = await _or_account(gw, record, admit_tenant(gw, ctx, models, body))
    record.ticket = ctx.ticket
    return hints


def tenant_guard(gw: Gateway, ctx: RequestContext) -> Guard:
    """Breakers, retries and connection slots for this request's policy version, seen as its tenant."""
    return gw.guard(ctx.policy).for_tenant(ctx.tenant if ctx.policy.multi_tenant else None)


def _headers(
    ctx: RequestContext, decision: Decision, attempted: Attempted, upstream: Mapping[str, str] | None = None
) -> dict[str, str]:
    target = attempted.target
    assert target is not None
    extra = {}
    if decision.task_kind is not None:
        extra["x-router-task-kind"] = decision.task_kind
    if decision.expert is not None:
        extra["x-router-expert"] = decision.expert
    if decision.session is not None:
        extra["x-router-session"] = decision.session
    return {
        **(upstream or {}),  # the upstream's x-ratelimit-* and retry-after; the gateway's own headers win
        **extra,
        "x-request-id": ctx.request_id,
        "x-router-route": decision.route,
        "x-router-tier": target.spec.tier,
        "x-router-model": target.name,
        "x-router-reason": decision.reason,
        "x-router-fallbacks": str(attempted.fallbacks),
        "x-router-retries": str(attempted.retries),
        "x-router-policy-version": ctx.policy.digest,
        **ctx.response_headers,
    }


async def generate(gw: Gateway, ctx: RequestContext, body: dict[str, Any], path: str, pick: PickUpstream | None = None) -> Result:
    """Chat and legacy completions: classify, decide, dispatch, respond (plain or streaming).

    `pick` chooses the upstream client per target (default: the gateway's); the Responses endpoint uses
    it to send a request to upstreams that serve that API themselves. A cascade always uses the default.
    The answer's `model` is renamed to what the client asked for, which the gateway accepts back.
    """
    resolved = await resolve(gw, ctx, body.get("model"))
    record = RequestRecord(ctx.request_id, OPERATIONS[path], resolved.name, tenant=ctx.tenant, stream=body.get("stream") is True)
    record.started = ctx.started
    hints = await _admitted(gw, ctx, record, _models_of(ctx, resolved), body)
    try:
        return await _generate(gw, ctx, body, path, resolved, record, hints, pick)
    except BaseException:
        _release(gw, record)  # whatever ended the request before it was accounted (no-op if it was)
        raise


async def _generate(
    gw: Gateway,
    ctx: RequestContext,
    body: dict[str, Any],
    path: str,
    resolved: Resolved,
    record: RequestRecord,
    hints: Hints,
    pick: PickUpstream | None,
) -> Result:
    classification = judge(gw, ctx, body, resolved)
    hints = await sessions.attach(gw.store, ctx.tenant or SINGLE_TENANT, resolved.route, body, hints)
    decision = choose(gw, ctx, resolved, classification, hints)
    shadow(gw, ctx, record, decision, classification, hints)
    targets = targets_for(ctx.policy, decision, resolved.adapter, ctx.forward)
    _describe(record, decision, classification)
    if decision.strategy == "delegate":
        from router.delegating import delegate  # it builds on this module's accounting

        return await delegate(gw, ctx, body, path, resolved.route, decision, targets, record, hints)
    if decision.strategy == "cascade":
        return await _cascade(gw, ctx, body, path, decision, targets, record, resolved.name)
    pick = pick or gw.upstream_for
    guard = tenant_guard(gw, ctx)
    if body.get("stream") is True:
        outcome = await _or_account(gw, record, dispatch_stream(targets, pick, path, body, guard))
        await sessions.remember(gw.store, ctx.tenant or SINGLE_TENANT, resolved.route, hints, decision, outcome.target)
        headers = _headers(ctx, decision, outcome.attempted, getattr(outcome.stream, "headers", None))
        stream = _metered(gw, ctx, record, outcome.attempted, relay(outcome, max_event_bytes=_max_event(ctx)), resolved.name)
        return Result(headers, stream=stream)
    plain = await _or_account(gw, record, dispatch_plain(targets, pick, path, body, guard))
    await sessions.remember(gw.store, ctx.tenant or SINGLE_TENANT, resolved.route, hints, decision, plain.target)
    account_plain(gw, ctx, record, plain.attempted, plain.reply.data)
    headers = _headers(ctx, decision, plain.attempted, plain.reply.headers)
    return _renamed(Result(headers, plain.reply.body, data=plain.reply.data), resolved.name)


def _renamed(result: Result, name: str) -> Result:
    """A plain answer whose `model` is what the client asked for (not the upstream's own id)."""
    data = result.data
    if data is not None and "model" in data and data["model"] != name:
        data["model"] = name
        result.body = dumps(data)
    return result


def _max_event(ctx: RequestContext) -> int:
    return ctx.policy.spec.server.max_stream_event_bytes


OPERATIONS = {"chat/completions": "chat", "completions": "text_completion", "embeddings": "embeddings"}


def _describe(record: RequestRecord, decision: Decision, c: Classification) -> None:
    record.reason = decision.reason
    record.task_kind, record.expert, record.session, record.spilled = (
        decision.task_kind,
        decision.expert,
        decision.session,
        decision.spilled,
    )
    record.prompt_tokens, record.classifier_ms = c.prompt_tokens, c.elapsed_ms
    record.p_strong = c.scores.p_strong if c.scorer != "none" else None


async def _or_account(gw: Gateway, record: RequestRecord, work: Awaitable[T]) -> T:
    """Account failed requests too: the error's status, type, code and how long it took."""
    try:
        return await work
    except RouterError as exc:
        _account_failure(gw, record, exc)
        raise


def _account_failure(gw: Gateway, record: RequestRecord, exc: RouterError) -> None:
    record.status, record.error_type = exc.status, exc.type
    if exc.code:
        record.extra["code"] = exc.code
    _finish(gw, record, record.started)


def _finish(gw: Gateway, record: RequestRecord, started: float | None) -> None:
    if started is not None:
        record.latency_s = time.perf_counter() - started
    _release(gw, record)
    gw.reporting.observe(record)


def _release(gw: Gateway, record: RequestRecord) -> None:
    """End the tenant's admission with what the request really used (queued; never waits)."""
    if record.ticket is not None and gw.admitter is not None:
        gw.admitter.release(record.ticket, record.prompt_tokens + record.completion_tokens, record.cost_usd)


def _fill(ctx: RequestContext, record: RequestRecord, attempted: Attempted) -> None:
    target = attempted.target
    assert target is not None
    record.model, record.tier, record.upstream_model = target.name, target.spec.tier, target.upstream_model
    record.provider, record.fallbacks, record.retries = target.spec.endpoint.provider, attempted.fallbacks, attempted.retries


def _costs(ctx: RequestContext, record: RequestRecord) -> None:
    assert record.model is not None
    record.cost_usd = cost_usd(ctx.policy.models[record.model], record.prompt_tokens, record.completion_tokens)
    route = ctx.policy.routes.get(record.route)
    llm = (route.tiers.get("llm") or ([route.core] if route.core else None)) if route is not None else None
    reference = ctx.policy.models[llm[0]] if llm else None  # savings: against the route's LLM tier (a delegate's core)
    record.llm_cost_usd = cost_usd(reference, record.prompt_tokens, record.completion_tokens) if reference else record.cost_usd


def account_plain(gw: Gateway, ctx: RequestContext, record: RequestRecord, attempted: Attempted, data: dict[str, Any]) -> None:
    _fill(ctx, record, attempted)
    usage = usage_of(data)
    if usage is None:
        record.completion_tokens, record.tokens_estimated = gw.classifier.counter.count(text_of(data)), True
    else:
        record.prompt_tokens, record.completion_tokens = usage
    started = ctx.started if record.started is None else record.started
    record.ttft_s = time.perf_counter() - started
    _costs(ctx, record)
    _finish(gw, record, started)


async def _metered(
    gw: Gateway, ctx: RequestContext, record: RequestRecord, attempted: Attempted, stream: AsyncIterator[bytes], name: str
) -> AsyncIterator[bytes]:
    """Pass the stream through (its `model` renamed to `name`); account it when it ends, however it ends."""
    meter = StreamMeter(ctx.started, gw.classifier.counter.count)
    _fill(ctx, record, attempted)
    assert attempted.target is not None
    rename = renamer(attempted.target.upstream_model, name)
    try:
        async for chunk in stream:
            meter.feed(chunk)
            yield rename(chunk)
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
        record.interrupted = not meter.finished
        if meter.usage is not None:
            record.prompt_tokens, record.completion_tokens = meter.usage
        else:
            record.completion_tokens, record.tokens_estimated = meter.text_tokens(), True
        record.ttft_s = meter.ttft_s
        _costs(ctx, record)
        _finish(gw, record, ctx.started)


async def _cascade(
    gw: Gateway,
    ctx: RequestContext,
    body: dict[str, Any],
    path: str,
    decision: Decision,
    targets: list[Target],
    record: RequestRecord,
    name: str,
) -> Result:
    spec = ctx.policy.routes[decision.route].cascade
    guard = tenant_guard(gw, ctx)
    if body.get("stream") is True:
        work = cascade_stream(targets, gw.upstream_for, path, body, spec, guard, _max_event(ctx))
        done = await _or_account(gw, record, work)
        assert done.stream_outcome is not None and done.stream is not None
        record.escalated, record.escalation_reason = done.escalated, done.verdict.reason
        upstream = getattr(done.stream_outcome.stream, "headers", None)
        headers = _headers(ctx, decision, done.stream_outcome.attempted, upstream) | done.headers
        stream = _metered(gw, ctx, record, done.stream_outcome.attempted, done.stream, name)
        return Result(headers, stream=stream)
    done = await _or_account(gw, record, cascade_plain(targets, gw.upstream_for, path, body, spec, guard))
    assert done.plain is not None
    record.escalated, record.escalation_reason = done.escalated, done.verdict.reason
    account_plain(gw, ctx, record, done.plain.attempted, done.plain.reply.data)
    headers = _headers(ctx, decision, done.plain.attempted, done.plain.reply.headers) | done.headers
    return _renamed(Result(headers, done.plain.reply.body, data=done.plain.reply.data), name)


def _embedding_models(policy: Policy, name: Any, tenant: str | None = None) -> list[str]:
    """The catalog's embedding models a name stands for; with tenants, only those the tenant may name."""
    allowed = set(policy.tenants[tenant].routes) if policy.multi_tenant and tenant in policy.tenants else set()
    if isinstance(name, str) and name in policy.models and policy.models[name].kind == "embeddings":
        names = [name]
    elif (route := policy.routes.get(name) if isinstance(name, str) else None) is not None:
        names = [*route.models, *route.fallback] or [*policy.embedding_models]
        names = [n for n in names if policy.models[n].kind == "embeddings"] or list(policy.embedding_models)
        if name in allowed:
            allowed.update(names)  # a route the tenant may name brings its models
    else:  # clients often name the upstream's own id (text-embedding-3-small): accept it when the catalog serves it
        names = [n for n in policy.embedding_models if policy.models[n].endpoint.model == name]
    if allowed:
        names = [n for n in names if n in allowed]
    if not names:
        raise NotFound(f"The model {name!r} does not exist or you do not have access to it.", param="model")
    return names


async def embeddings(gw: Gateway, ctx: RequestContext, body: dict[str, Any]) -> Result:
    """Embeddings: the same authentication, scope and admission as chat, then the first embedding model
    that answers."""
    names = _embedding_models(ctx.policy, body.get("model"), ctx.tenant)
    decision = Decision(
        str(body.get("model")),
        "fixed",
        ctx.policy.models[names[0]].tier,
        tuple(names),
        "embeddings",
        "embedding models of the catalog",
    )
    record = RequestRecord(
        ctx.request_id, "embeddings", decision.route, tenant=ctx.tenant, reason="embeddings", started=ctx.started
    )
    await _admitted(gw, ctx, record, names, body)
    guard = tenant_guard(gw, ctx)
    try:
        work = dispatch_plain(targets_for(ctx.policy, decision, None, ctx.forward), gw.upstream_for, "embeddings", body, guard)
        outcome = await _or_account(gw, record, work)
        account_plain(gw, ctx, record, outcome.attempted, outcome.reply.data)
    except BaseException:
        _release(gw, record)
        raise
    return Result(_headers(ctx, decision, outcome.attempted), outcome.reply.body)


async def explain(gw: Gateway, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
    """The decision for a request, no model called; admitted like chat (a refused tenant gets its 429
    before any classification), and its admission released at once."""
    resolved = await resolve(gw, ctx, body.get("model"))
    record = RequestRecord(ctx.request_id, "explain", resolved.name, tenant=ctx.tenant, started=ctx.started)
    hints = await admit_tenant(gw, ctx, _models_of(ctx, resolved), body)
    try:
        hints = await sessions.attach(gw.store, ctx.tenant or SINGLE_TENANT, resolved.route, body, hints)  # reads only
        classification, decision = plan(gw, ctx, body, resolved, hints)
    finally:
        record.ticket = ctx.ticket
        _release(gw, record)
    return {
        "policy_version": ctx.policy.digest,
        "classification": classification.as_dict(),
        "decision": decision.as_dict(),
    }
