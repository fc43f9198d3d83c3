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
    return pipeline.RequestContext(wire.request_id(request), pipeline.parse_hints(request.headers), gw.policies.current)


@api.get("/v1/models")
async def list_models(request: Request) -> dict[str, Any]:
    policy = gateway(request).policies.current
    created = int(policy.loaded_at)
    return {
        "object": "list",
        "data": [{"id": name, "object": "model", "created": created, "owned_by": "router"} for name in policy.routes],
    }
