"""The framework-routed OpenAI endpoint (GET /v1/models) and the helpers other routed endpoints share.

The POST endpoints that carry model traffic are served by router.api.fast, in front of FastAPI.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from router import pipeline
from router.api import wire
from router.errors import Unavailable
from router.gateway import Gateway

api = APIRouter()


def gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    if gw.draining:
        raise Unavailable("the gateway is shutting down; retry on another replica", headers={"retry-after": "1"})
    return gw


def context(gw: Gateway, request: Request) -> pipeline.RequestContext:
    """The request's context, with the caller authenticated (401 for a missing or wrong key)."""
    return pipeline.new_context(gw, wire.request_id(request), request.headers)


@api.get("/v1/models")
async def list_models(request: Request) -> dict[str, Any]:
    """The routes and models the caller may name: with tenants, only its own routes and adapters."""
    gw = gateway(request)
    ctx = context(gw, request)
    policy = ctx.policy
    names = list(policy.routes)
    if policy.multi_tenant:
        tenant = ctx.tenant or ""
        own = {name for (t, name) in policy.adapters if t == tenant}
        own |= {a.name for a in await gw.store.list_adapters(tenant)}
        names = list(policy.tenant_routes.get(tenant, {})) + sorted(own)
    created = int(policy.loaded_at)
    return {
        "object": "list",
        "data": [{"id": name, "object": "model", "created": created, "owned_by": "router"} for name in names],
    }
