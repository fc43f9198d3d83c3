"""The request pipeline, top to bottom: the only module that knows the order of the stages.

    authenticate ─> resolve ─> admit ─> classify ─> decide ─> run ─> respond ─> account
    new_context     resolve    _admitted  classify   choose   run     respond   router.accounting

Authentication (new_context) and admission (admit_tenant: rate limits, concurrency, budgets; one store
call) come before any expensive work: a refused tenant costs a hash lookup and a bounded size estimate
(router.tenancy.estimate), never a classification. The admission's ticket is released when the request
is accounted, however it ends.

`run` is the decision's strategy: one dispatch (router.dispatch.attempts), a cascade around it
(router.dispatch.cascade) or a delegate run (router.delegating); each returns one Outcome, which
`respond` turns into headers and a body or a metered stream. Endpoints (router.api) parse and validate
the wire format, then call one function here; each returns a Result that the endpoint turns into HTTP.
A RequestRecord is written only by router.accounting, once per request (for streams, when the stream
ends, however it ends); an error leaves with the x-router-* headers of what was decided so far.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from router import accounting
from router.classify.classifier import Classification
from router.context import RequestContext as RequestContext
from router.context import Result as Result
from router.context import new_context as new_context
from router.delegating import delegate
from router.dispatch.attempts import Call, PickUpstream, dispatch, dispatch_plain
from router.dispatch.cascade import cascade
from router.dispatch.outcome import Attempted, Outcome
from router.dispatch.reliability import DispatchGuard
from router.errors import BadRequest, NotFound, RouterError
from router.gateway import Gateway
from router.names import valid_name
from router.policy.compiled import Policy
from router.policy.decide import Decision, Hints, decide
from router.policy.schema import AdapterSpec, RouteSpec
from router.policy.shadow import shadow_decide
from router.telemetry.record import RequestRecord
from router.tenancy import sessions
from router.tenancy.auth import SINGLE_TENANT
from router.tenancy.estimate import check_output, estimate, route_models
from router.upstream.base import Reply, Target
from router.upstream.passing import dumps, renamer


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


def classify(gw: Gateway, ctx: RequestContext, body: dict[str, Any], resolved: Resolved) -> Classification:
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
    classification = classify(gw, ctx, body, resolved)
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


def shadow(gw: Gateway, ctx: RequestContext, decision: Decision, c: Classification, hints: Hints) -> accounting.Shadowed | None:
    """Decide again with the candidate policy, if one is shadowed (no model call): the difference, tallied."""
    if gw.shadow is None or not decision.candidates:
        return None
    result = shadow_decide(gw.shadow.current, decision, ctx.tenant, c, hints, gw.latency.snapshot(), gw.load.snapshot(ctx.policy))
    gw.shadow_tally.add(result)
    return (result.changed, result.live_reason, result.reason, result.live_cost_usd, result.cost_usd)


async def _admitted(gw: Gateway, ctx: RequestContext, record: RequestRecord, models: list[str], body: dict[str, Any]) -> Hints:
    """Estimate (validating n and max_tokens) and admit; the ticket goes on the record, to be released."""
    hints = await admit_tenant(gw, ctx, models, body)
    accounting.admitted(record, ctx.ticket)
    return hints


def tenant_guard(gw: Gateway, ctx: RequestContext) -> DispatchGuard:
    """Breakers, retries and connection slots for this request's policy version, seen as its tenant."""
    return gw.guard(ctx.policy).for_tenant(ctx.tenant if ctx.policy.multi_tenant else None)


def router_headers(
    ctx: RequestContext,
    route: str,
    decision: Decision | None,
    model: str | None,
    attempted: Attempted,
    upstream: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The x-router-* headers of an answer, and of an error: what was decided as far as the request got,
    the model that answered (or, on an error, the last one tried), fallbacks and retries."""
    headers = {**(upstream or {})}  # the upstream's x-ratelimit-* and retry-after; the gateway's own headers win
    if decision is not None:
        for name, value in (
            ("x-router-task-kind", decision.task_kind),
            ("x-router-expert", decision.expert),
            ("x-router-session", decision.session),
        ):
            if value is not None:
                headers[name] = value
    headers["x-request-id"] = ctx.request_id
    headers["x-router-route"] = route
    if model is not None:
        headers["x-router-tier"] = ctx.policy.models[model].tier
        headers["x-router-model"] = model
    if decision is not None:
        headers["x-router-reason"] = decision.reason
        headers["x-router-fallbacks"] = str(attempted.fallbacks)
        headers["x-router-retries"] = str(attempted.retries)
    headers["x-router-policy-version"] = ctx.policy.digest
    return headers | ctx.response_headers


async def generate(gw: Gateway, ctx: RequestContext, body: dict[str, Any], path: str, pick: PickUpstream | None = None) -> Result:
    """Chat and legacy completions: resolve, admit, classify, decide, run, respond; accounted however it ends.

    `pick` chooses the upstream client per target (default: the gateway's); the Responses endpoint uses
    it to send a request to upstreams that serve that API themselves. A cascade always uses the default.
    The answer's `model` is renamed to what the client asked for, which the gateway accepts back.
    """
    resolved = await resolve(gw, ctx, body.get("model"))
    record = accounting.begin(
        ctx.request_id, OPERATIONS[path], resolved.name, ctx.tenant, ctx.started, body.get("stream") is True
    )
    decision: Decision | None = None
    attempted = Attempted()
    try:
        hints = await _admitted(gw, ctx, record, _models_of(ctx, resolved), body)
        classification = classify(gw, ctx, body, resolved)
        hints = await sessions.attach(gw.store, ctx.tenant or SINGLE_TENANT, resolved.route, body, hints)
        decision = choose(gw, ctx, resolved, classification, hints)
        accounting.decided(record, decision, classification, shadow(gw, ctx, decision, classification, hints))
        outcome = await run(gw, ctx, body, path, resolved, decision, hints, record, attempted, pick)
        await sessions.remember(gw.store, ctx.tenant or SINGLE_TENANT, resolved.route, hints, decision, outcome.target)
        return respond(gw, ctx, record, decision, outcome, resolved.name)
    except RouterError as exc:
        failed(gw, ctx, record, exc, decision, attempted)
        raise
    except BaseException:
        accounting.release(gw, record)  # whatever else ended the request before it was accounted (no-op if it was)
        raise


async def run(
    gw: Gateway,
    ctx: RequestContext,
    body: dict[str, Any],
    path: str,
    resolved: Resolved,
    decision: Decision,
    hints: Hints,
    record: RequestRecord,
    attempted: Attempted,
    pick: PickUpstream | None,
) -> Outcome:
    """The decision's strategy: one dispatch (fixed, classify), a cascade around it, or a delegate run."""
    targets = targets_for(ctx.policy, decision, resolved.adapter, ctx.forward)
    call = Call(targets, pick or gw.upstream_for, path, body, tenant_guard(gw, ctx), _max_event(ctx))
    if decision.strategy == "delegate":
        return await delegate(gw, ctx, call, resolved.route, decision, record, hints, attempted)
    if decision.strategy == "cascade":
        return await cascade(replace(call, pick=gw.upstream_for), ctx.policy.routes[decision.route].cascade, attempted)
    return await dispatch(call, attempted)


def respond(gw: Gateway, ctx: RequestContext, record: RequestRecord, decision: Decision, outcome: Outcome, name: str) -> Result:
    """The answer with its headers, its `model` renamed to `name`; a plain one accounted now, a stream when
    it ends."""
    accounting.strategy(record, outcome.escalated, outcome.escalation_reason, outcome.delegations)
    headers = router_headers(ctx, decision.route, decision, outcome.target.name, outcome.attempted, outcome.upstream_headers)
    headers |= outcome.headers
    target, attempted = outcome.target, outcome.attempted
    reply = outcome.answer
    if not isinstance(reply, Reply):
        rename = renamer(target.upstream_model, name)
        return Result(headers, stream=accounting.metered(gw, ctx.policy, record, target, attempted, reply, rename))
    accounting.answered(gw, ctx.policy, record, target, attempted, reply.data)
    return _renamed(Result(headers, reply.body, data=reply.data), name)


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


def failed(
    gw: Gateway, ctx: RequestContext, record: RequestRecord, exc: RouterError, decision: Decision | None, attempted: Attempted
) -> None:
    """A request that ends in an error: accounted with the models dispatch tried, and its error response
    says what was decided as far as the request got (the x-router-* headers of an answer)."""
    model = attempted.tried[-1] if attempted.tried else None
    route = decision.route if decision is not None else record.route
    exc.headers.update(router_headers(ctx, route, decision, model, attempted))
    accounting.failed(gw, record, exc, attempted)


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
    record = accounting.begin(ctx.request_id, "embeddings", decision.route, ctx.tenant, ctx.started)
    accounting.decided(record, decision, None)
    attempted = Attempted()
    try:
        await _admitted(gw, ctx, record, names, body)
        call = Call(
            targets_for(ctx.policy, decision, None, ctx.forward), gw.upstream_for, "embeddings", body, tenant_guard(gw, ctx)
        )
        done = await dispatch_plain(call, attempted)
        accounting.answered(gw, ctx.policy, record, done.target, attempted, done.reply.data)
    except RouterError as exc:
        failed(gw, ctx, record, exc, decision, attempted)
        raise
    except BaseException:
        accounting.release(gw, record)
        raise
    return Result(router_headers(ctx, decision.route, decision, done.target.name, attempted), done.reply.body)


async def explain(gw: Gateway, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
    """The decision for a request, no model called; admitted like chat (a refused tenant gets its 429
    before any classification), and its admission released at once."""
    resolved = await resolve(gw, ctx, body.get("model"))
    record = accounting.begin(ctx.request_id, "explain", resolved.name, ctx.tenant, ctx.started)
    hints = await admit_tenant(gw, ctx, _models_of(ctx, resolved), body)
    try:
        hints = await sessions.attach(gw.store, ctx.tenant or SINGLE_TENANT, resolved.route, body, hints)  # reads only
        classification, decision = plan(gw, ctx, body, resolved, hints)
    finally:
        accounting.admitted(record, ctx.ticket)
        accounting.release(gw, record)
    return {
        "policy_version": ctx.policy.digest,
        "classification": classification.as_dict(),
        "decision": decision.as_dict(),
    }
