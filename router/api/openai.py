"""The OpenAI-compatible endpoints: /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models.

Each endpoint reads the body once, checks the wire format, and hands over to one pipeline function.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from router import pipeline
from router.api import wire
from router.errors import Unavailable
from router.gateway import Gateway

api = APIRouter()
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    if gw.draining:
        raise Unavailable("the gateway is shutting down; retry on another replica", headers={"retry-after": "1"})
    return gw


def context(gw: Gateway, request: Request) -> pipeline.RequestContext:
    return pipeline.RequestContext(wire.request_id(request), pipeline.parse_hints(request.headers), gw.policies.current)


def respond(result: pipeline.Result) -> Response:
    if result.stream is not None:
        return StreamingResponse(result.stream, media_type="text/event-stream", headers={**SSE_HEADERS, **result.headers})
    return Response(result.body, media_type="application/json", headers=result.headers)


async def _handle(
    request: Request,
    check: Callable[[dict[str, Any]], None],
    run: Callable[[Gateway, pipeline.RequestContext, dict[str, Any]], Awaitable[pipeline.Result]],
) -> Response:
    gw = gateway(request)
    ctx = context(gw, request)
    body = await wire.read_json(request, ctx.policy.spec.server.max_body_bytes)
    check(body)
    return respond(await run(gw, ctx, body))


@api.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    return await _handle(request, wire.check_chat, lambda gw, ctx, body: pipeline.generate(gw, ctx, body, "chat/completions"))


@api.post("/v1/completions")
async def completions(request: Request) -> Response:
    return await _handle(request, wire.check_completion, lambda gw, ctx, body: pipeline.generate(gw, ctx, body, "completions"))


@api.post("/v1/embeddings")
async def embeddings(request: Request) -> Response:
    return await _handle(request, wire.check_embeddings, pipeline.embeddings)


@api.get("/v1/models")
async def list_models(request: Request) -> dict[str, Any]:
    policy = gateway(request).policies.current
    created = int(policy.loaded_at)
    return {
        "object": "list",
        "data": [{"id": name, "object": "model", "created": created, "owned_by": "router"} for name in policy.routes],
    }
