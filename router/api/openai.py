"""The framework-routed OpenAI endpoints (GET /v1/models, /v1/models/{id}, /v1/responses/{id}) and the
helpers other routed endpoints share.

The POST endpoints that carry model traffic are served by router.api.fast, in front of FastAPI.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from router import pipeline
from router.api import wire
from router.errors import NotFound, shutting_down
from router.gateway import Gateway
from router.tenancy.auth import SINGLE_TENANT

api = APIRouter()


def gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    if gw.draining:
        raise shutting_down()
    return gw


def context(gw: Gateway, request: Request) -> pipeline.RequestContext:
    """The request's context, with the caller authenticated (401 for a missing or wrong key)."""
    return pipeline.new_context(gw, wire.request_id(request), request.headers)


async def _model_names(gw: Gateway, ctx: pipeline.RequestContext) -> list[str]:
    """The routes and models the caller may name (with tenants, only its own routes and adapters), then
    the catalog's embedding models, which /v1/embeddings takes."""
    policy = ctx.policy
    names = list(policy.routes)
    if policy.multi_tenant:
        tenant = ctx.tenant or ""
        own = {name for (t, name) in policy.adapters if t == tenant}
        own |= {a.name for a in await gw.store.list_adapters(tenant)}
        names = list(policy.tenant_routes.get(tenant, {})) + sorted(own)
    return names + [name for name in policy.embedding_models if name not in names]


def _model(name: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": "router"}


@api.get("/v1/models")
async def list_models(request: Request) -> dict[str, Any]:
    gw = gateway(request)
    ctx = context(gw, request)
    created = int(ctx.policy.loaded_at)
    return {"object": "list", "data": [_model(name, created) for name in await _model_names(gw, ctx)]}


@api.get("/v1/models/{model_id:path}")
async def retrieve_model(model_id: str, request: Request) -> dict[str, Any]:
    """One model of the list (client.models.retrieve("auto")); 404 model_not_found for any other name."""
    gw = gateway(request)
    ctx = context(gw, request)
    if model_id not in await _model_names(gw, ctx):
        raise NotFound(f"The model {model_id!r} does not exist or you do not have access to it.", param="model")
    return _model(model_id, int(ctx.policy.loaded_at))


@api.get("/v1/responses/{response_id}")
async def retrieve_response(response_id: str, request: Request) -> Response:
    """A stored response of the caller's own (client.responses.retrieve); 404 for any other id."""
    gw = gateway(request)
    ctx = context(gw, request)
    doc = await gw.store.get_response(ctx.tenant or SINGLE_TENANT, response_id)
    if doc is None:
        raise NotFound(f"Response with id '{response_id}' not found.", param="response_id", code="not_found")
    return Response(orjson.dumps(orjson.loads(doc)["response"]), media_type="application/json")
