"""Operational endpoints: liveness, readiness, the loaded policy, explain (a decision, no model called),
the usage ledger and run-time adapter registration (admin key)."""

from __future__ import annotations

import datetime
import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from router import pipeline
from router.api import wire
from router.api.openai import context, gateway
from router.errors import BadRequest, NotFound
from router.gateway import Gateway
from router.store.base import utc_day
from router.tenancy.auth import check_admin

admin = APIRouter()


def _admin(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    check_admin(gw.policies.current, request.headers, gw.admin_digest)
    return gw


def _operator(request: Request) -> Gateway:
    """Metrics and the policy show tenants' business: with tenants, for the admin key only (Prometheus
    scrapes the separate `--metrics-port` listener instead). A single-tenant gateway keeps them open."""
    gw: Gateway = request.app.state.gateway
    if gw.policies.current.multi_tenant:
        check_admin(gw.policies.current, request.headers, gw.admin_digest)
    return gw


@admin.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@admin.get("/readyz")
async def readyz(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    ready = not gw.draining
    detail = {
        "ready": ready,
        "draining": gw.draining,
        "policy_version": gw.policies.current.digest,
        "store": type(gw.store).__name__,
        "breakers": gw.breaker_snapshot(),
    }
    return JSONResponse(detail, status_code=200 if ready else 503)


@admin.get("/metrics")
async def metrics(request: Request) -> Response:
    gw = _operator(request)
    if gw.exposition is None:
        return Response(status_code=404)
    body, content_type = await gw.scrape()
    return Response(body, headers={"content-type": content_type})


@admin.get("/router/policy")
async def policy(request: Request) -> dict[str, Any]:
    gw = _operator(request)
    current = gw.policies.current
    error = gw.policies.last_error
    return {
        "version": current.digest,
        "source": current.source,
        "loaded_at": current.loaded_at,
        "reloads": gw.policies.reloads,
        "last_reload_error": None if error is None else {"message": error.message, "at": error.at},
        "routes": sorted(current.routes),
        "tenants": sorted(current.tenants),
        "models": {
            name: {"tier": m.tier, "kind": m.kind, "upstream_model": m.endpoint.model} for name, m in current.models.items()
        },
    }


@admin.post("/router/explain")
async def explain(request: Request) -> dict[str, Any]:
    gw = gateway(request)
    ctx = context(gw, request)
    body = await wire.read_json(request, ctx.policy.spec.server.max_body_bytes)
    (wire.check_chat if "messages" in body or "prompt" not in body else wire.check_completion)(body)
    return await pipeline.explain(gw, ctx, body)


@admin.get("/router/usage")
async def usage(request: Request, tenant: str | None = None, day_from: str | None = None, day_to: str | None = None) -> Response:
    """The ledger per tenant, model and day: requests, tokens, cost, and savings against the LLM tier.
    While the shared store is down only this process's unwritten rows can be read: the answer then says
    `"partial": true` (and `x-router-partial: true`) instead of passing a part for the whole."""
    gw = _admin(request)
    today = utc_day(time.time())
    day_from, day_to = _day(day_from, "day_from") or today, _day(day_to, "day_to") or today
    await gw.settle_reports()  # like a scrape: a read sees every request already answered
    rows = await gw.store.usage(tenant, day_from, day_to)
    partial = bool(getattr(rows, "partial", False))
    body = {
        "object": "list",
        "partial": partial,
        "data": [
            {
                "tenant": r.tenant,
                "model": r.model,
                "day": r.day,
                "tier": r.tier,
                "requests": r.requests,
                "prompt_tokens": r.prompt_tokens,
                "completion_tokens": r.completion_tokens,
                "cost_usd": round(r.cost_usd, 8),
                "llm_cost_usd": round(r.llm_cost_usd, 8),
                "saved_usd": round(r.saved_usd, 8),
                "routes": dict(r.routes),
            }
            for r in rows
        ],
    }
    headers = {"x-router-partial": "true"} if partial else {}
    if partial:
        body["warning"] = "the shared store is unavailable: only rows not yet written to it are shown"
    return JSONResponse(body, headers=headers)


@admin.get("/router/shadow")
async def shadow(request: Request) -> dict[str, Any]:
    """What the candidate policy (server.shadow / --shadow-policy) would have decided differently."""
    gw = _admin(request)
    if gw.shadow is None:
        raise NotFound("no shadow policy is configured (server.shadow or router serve --shadow-policy)", code="no_shadow")
    error = gw.shadow.last_error
    return gw.shadow_tally.report(gw.shadow.current, None if error is None else error.message)


def _day(value: str | None, param: str) -> str | None:
    if value is None:
        return None
    try:
        return datetime.date.fromisoformat(value).isoformat() if len(value) == 10 else _bad_day(value, param)
    except ValueError:
        return _bad_day(value, param)


def _bad_day(value: str, param: str) -> str:
    raise BadRequest(f"{param} must be a day as YYYY-MM-DD, got {value[:40]!r}", param=param)


@admin.get("/router/adapters/{tenant}")
async def list_adapters(request: Request, tenant: str) -> dict[str, Any]:
    gw = _admin(request)
    wire.check_name(tenant, "tenant")
    stored = await gw.store.list_adapters(tenant)
    return {"object": "list", "data": [{"name": a.name, "base": a.base_model, "adapter": a.adapter_module} for a in stored]}


@admin.put("/router/adapters/{tenant}/{name}")
async def put_adapter(request: Request, tenant: str, name: str) -> dict[str, Any]:
    """Register a tenant's adapter at run time (fine-tuning pipelines), persisted in the store."""
    gw = _admin(request)
    wire.check_name(tenant, "tenant")
    wire.check_name(name, "name")
    body = await wire.read_json(request, 64 * 1024)
    base, module = body.get("base"), body.get("adapter")
    policy = gw.policies.current
    if tenant not in policy.tenants:
        raise NotFound(f"unknown tenant {tenant!r}", param="tenant", code="tenant_not_found")
    if not isinstance(base, str) or base not in policy.models or policy.models[base].kind != "chat":
        raise BadRequest("'base' must name a chat model of the catalog", param="base")
    if not isinstance(module, str) or not module:
        raise BadRequest("'adapter' must be the adapter's module name on the base server", param="adapter")
    wire.check_name(module, "adapter")  # sent upstream as the model id, and shown in logs
    if name in policy.routes:
        raise BadRequest(f"adapter name {name!r} collides with a route or model", param="name")
    adapter = await gw.store.put_adapter(tenant, name, base, module)
    return {"name": adapter.name, "tenant": tenant, "base": adapter.base_model, "adapter": adapter.adapter_module}


@admin.delete("/router/adapters/{tenant}/{name}")
async def delete_adapter(request: Request, tenant: str, name: str) -> dict[str, Any]:
    gw = _admin(request)
    wire.check_name(tenant, "tenant")
    wire.check_name(name, "name")
    if not await gw.store.delete_adapter(tenant, name):
        raise NotFound(f"no adapter {name!r} for tenant {tenant!r}", param="name")
    return {"deleted": True}
