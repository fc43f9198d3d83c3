"""Operational endpoints: liveness, readiness, the loaded policy, and explain (a decision, no model call)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from router import pipeline
from router.api import wire
from router.api.openai import context, gateway
from router.gateway import Gateway

admin = APIRouter()


@admin.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@admin.get("/readyz")
async def readyz(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    ready = not gw.draining
    detail = {"ready": ready, "draining": gw.draining, "policy_version": gw.policies.current.digest}
    return JSONResponse(detail, status_code=200 if ready else 503)


@admin.get("/router/policy")
async def policy(request: Request) -> dict[str, Any]:
    gw: Gateway = request.app.state.gateway
    current = gw.policies.current
    error = gw.policies.last_error
    return {
        "version": current.digest,
        "source": current.source,
        "loaded_at": current.loaded_at,
        "reloads": gw.policies.reloads,
        "last_reload_error": None if error is None else {"message": error.message, "at": error.at},
        "routes": sorted(current.routes),
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
    return pipeline.explain(gw, ctx, body)
