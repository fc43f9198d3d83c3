"""The request pipeline, top to bottom: the only module that knows the order of the stages.

    resolve route ─> classify ─> decide ─> dispatch ─> respond

Endpoints (router.api) parse and validate the wire format, then call one function here; each returns a
Result that the endpoint turns into HTTP. Tenancy (authenticate, admit) and accounting slot in around
these stages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from router.classify.classifier import Classification
from router.dispatch.attempts import Attempted, dispatch_plain, dispatch_stream, relay
from router.dispatch.cascade import cascade_plain, cascade_stream
from router.errors import BadRequest, NotFound
from router.gateway import Gateway
from router.policy.compiled import Policy
from router.policy.decide import Decision, Hints, decide
from router.policy.schema import RouteSpec
from router.upstream.base import Target


@dataclass(slots=True)
class RequestContext:
    request_id: str
    hints: Hints
    policy: Policy  # read once: the whole request sees one policy version


@dataclass(slots=True)
class Result:
    headers: dict[str, str]
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    decision: Decision | None = None
    classification: Classification | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def resolve_route(policy: Policy, name: Any) -> tuple[str, RouteSpec]:
    route = policy.routes.get(name) if isinstance(name, str) else None
    if route is None:
        raise NotFound(f"The model {name!r} does not exist or you do not have access to it.", param="model")
    return name, route


def targets_for(policy: Policy, decision: Decision) -> list[Target]:
    return [Target(name, policy.models[name], policy.models[name].endpoint.model) for name in decision.candidates]


def plan(gw: Gateway, ctx: RequestContext, body: dict[str, Any]) -> tuple[Classification, Decision]:
    """Classify and decide: everything short of calling a model (this is what explain shows)."""
    route_name, route = resolve_route(ctx.policy, body.get("model"))
    scorer = gw.scorer(ctx.policy.spec.server.scorer) if route.strategy == "classify" else None
    classification = gw.classifier.classify(body, scorer)
    return classification, decide(ctx.policy, route_name, route, classification, ctx.hints)


def _headers(ctx: RequestContext, decision: Decision, attempted: Attempted) -> dict[str, str]:
    target = attempted.target
    assert target is not None
    return {
        "x-request-id": ctx.request_id,
        "x-router-route": decision.route,
        "x-router-tier": target.spec.tier,
        "x-router-model": target.name,
        "x-router-reason": decision.reason,
        "x-router-fallbacks": str(attempted.fallbacks),
        "x-router-policy-version": ctx.policy.digest,
    }


async def generate(gw: Gateway, ctx: RequestContext, body: dict[str, Any], path: str) -> Result:
    """Chat and legacy completions: classify, decide, dispatch, respond (plain or streaming)."""
    classification, decision = plan(gw, ctx, body)
    targets = targets_for(ctx.policy, decision)
    if decision.strategy == "cascade":
        return await _cascade(gw, ctx, body, path, classification, decision, targets)
    if body.get("stream") is True:
        outcome = await dispatch_stream(targets, gw.upstream_for, path, body)
        headers = _headers(ctx, decision, outcome.attempted)
        return Result(headers, stream=relay(outcome), decision=decision, classification=classification)
    plain = await dispatch_plain(targets, gw.upstream_for, path, body)
    return Result(_headers(ctx, decision, plain.attempted), plain.reply.body, decision=decision, classification=classification)


async def _cascade(
    gw: Gateway,
    ctx: RequestContext,
    body: dict[str, Any],
    path: str,
    c: Classification,
    decision: Decision,
    targets: list[Target],
) -> Result:
    spec = ctx.policy.routes[decision.route].cascade
    if body.get("stream") is True:
        done = await cascade_stream(targets, gw.upstream_for, path, body, spec)
        assert done.stream_outcome is not None
        headers = _headers(ctx, decision, done.stream_outcome.attempted) | done.headers
        return Result(headers, stream=done.stream, decision=decision, classification=c)
    done = await cascade_plain(targets, gw.upstream_for, path, body, spec)
    assert done.plain is not None
    return Result(
        _headers(ctx, decision, done.plain.attempted) | done.headers, done.plain.reply.body, decision=decision, classification=c
    )


def _embedding_models(policy: Policy, name: Any) -> list[str]:
    route = policy.routes.get(name) if isinstance(name, str) else None
    if route is not None:
        names = [*route.models, *route.fallback] or [*policy.embedding_models]
        names = [n for n in names if policy.models[n].kind == "embeddings"] or list(policy.embedding_models)
    else:  # clients often name the upstream's own id (text-embedding-3-small): accept it when the catalog serves it
        names = [n for n in policy.embedding_models if policy.models[n].endpoint.model == name]
    if not names:
        raise NotFound(f"The model {name!r} does not exist or serves no embeddings.", param="model")
    return names


async def embeddings(gw: Gateway, ctx: RequestContext, body: dict[str, Any]) -> Result:
    names = _embedding_models(ctx.policy, body.get("model"))
    decision = Decision(
        str(body.get("model")),
        "fixed",
        ctx.policy.models[names[0]].tier,
        tuple(names),
        "embeddings",
        "embedding models of the catalog",
    )
    outcome = await dispatch_plain(targets_for(ctx.policy, decision), gw.upstream_for, "embeddings", body)
    return Result(_headers(ctx, decision, outcome.attempted), outcome.reply.body, decision=decision)


def explain(gw: Gateway, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
    classification, decision = plan(gw, ctx, body)
    return {
        "policy_version": ctx.policy.digest,
        "classification": classification.as_dict(),
        "decision": decision.as_dict(),
    }


def parse_hints(headers: Mapping[str, str]) -> Hints:
    tier = headers.get("x-router-tier")
    if tier is not None and tier not in ("slm", "llm"):
        raise BadRequest("x-router-tier must be 'slm' or 'llm'", param="x-router-tier")
    return Hints(
        tier=tier,  # type: ignore[arg-type]
        latency_budget_ms=_positive(headers, "x-router-latency-budget-ms"),
        max_cost_usd=_positive(headers, "x-router-max-cost-usd"),
    )


def _positive(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number >= 0 or number == float("inf"):
        raise BadRequest(f"{name} must be a non-negative number", param=name)
    return number
