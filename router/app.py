"""create_app(settings): the FastAPI application, wired in its lifespan. No module-level state."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from router import __version__
from router.api.admin import admin
from router.api.connections import GATEWAY_STATE
from router.api.cors import Cors
from router.api.fast import FastPath
from router.api.openai import api
from router.api.wire import ClientDisconnected
from router.dispatch.load import poll
from router.errors import BadRequest, RouterError, error_response, internal_error
from router.gateway import Gateway
from router.settings import Settings
from router.telemetry.listener import start_metrics_listener

log = logging.getLogger("router")
GC_YOUNG_THRESHOLD = 10_000  # allocations between young-generation collections (CPython: 700)


def _with_request_id(request: Request) -> dict[str, str]:
    rid = request.scope.get("router.request_id")
    return {"x-request-id": rid} if rid else {}


async def _router_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RouterError)
    return error_response(exc, _with_request_id(request))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = RouterError(f"{exc.detail} ({request.method} {request.url.path})")
    error.status, error.type, error.code = exc.status_code, "invalid_request_error", None
    return error_response(error, dict(exc.headers or {}))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # each problem as "where: what", not the errors' Python repr (which quotes inputs and internals)
    problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors())
    return error_response(BadRequest(f"invalid request: {problems or 'invalid'}"), _with_request_id(request))


async def _client_left(request: Request, exc: Exception) -> Response:
    log.debug("client disconnected before its request body was complete: %s %s", request.method, request.url.path)
    return Response(status_code=400)  # nobody reads it


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(internal_error(), _with_request_id(request))


def _drain_on_sigterm(gw: Gateway, drain_s: float) -> None:
    """SIGTERM: readiness goes false and new requests get 503 for `drain_s` (load balancers notice and
    stop sending), then uvicorn's own shutdown stops accepting and lets in-flight requests and streams
    finish within its grace period. A second SIGTERM goes straight to uvicorn."""
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return  # not under uvicorn's signal handling (tests, embedding): nothing to chain to
    loop = asyncio.get_running_loop()

    async def drain() -> None:
        gw.draining = True
        log.warning("SIGTERM: draining for %.1f s (readiness false, new requests 503), then shutting down", drain_s)
        loop.remove_signal_handler(signal.SIGTERM)
        signal.signal(signal.SIGTERM, previous)
        await asyncio.sleep(drain_s)
        previous(signal.SIGTERM, None)

    loop.add_signal_handler(signal.SIGTERM, lambda: loop.create_task(drain()))


def _settle_heap() -> None:
    """Hide what start-up allocated (policy, tokenizer, weights, FastAPI: ~90,000 objects) from the
    cyclic garbage collector, which would otherwise rescan all of it in every full collection, and
    collect the young generation less often: requests allocate many short-lived containers.
    Measured with tests/bench/bench_gateway.py: GC took ~4% of the core before."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def create_app(settings: Settings | None = None, gateway: Gateway | None = None, *, settle_heap: bool = False) -> Cors:
    """The ASGI application: CORS, then the model-traffic fast path, in front of the FastAPI app.

    `settle_heap` tunes the process's garbage collector at start-up (_settle_heap): what `router serve`
    wants for the process it owns, and not what an application embedding the gateway may want."""
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        gw = gateway or Gateway.build(settings)
        app.state.gateway = gw
        watcher = asyncio.create_task(gw.policies.watch(), name="policy-watch")
        listener = None
        if settings.metrics_port is not None and gw.exposition is not None:
            listener = await start_metrics_listener(gw.scrape, settings.metrics_host, settings.metrics_port, settings.workers > 1)
        prober = asyncio.create_task(poll(gw.load, gw.policies), name="load-probe")
        shadow = asyncio.create_task(gw.shadow.watch(), name="shadow-watch") if gw.shadow is not None else None
        _drain_on_sigterm(gw, settings.drain_s)
        if settle_heap:
            _settle_heap()
        try:
            yield {GATEWAY_STATE: gw}  # the server's connection protocol reads its limits from the live policy
        finally:
            watcher.cancel()
            if listener is not None:
                await listener.cleanup()
            prober.cancel()
            if shadow is not None:
                shadow.cancel()
            await gw.aclose()

    app = FastAPI(title="router gateway", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.include_router(api)
    app.include_router(admin)
    app.add_exception_handler(RouterError, _router_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ClientDisconnected, _client_left)
    app.add_exception_handler(Exception, _unexpected)
    return Cors(FastPath(app))


def create_app_from_env() -> Cors:
    """Factory for uvicorn worker processes (`router serve`): settings arrive as ROUTER_* variables."""
    return create_app(Settings.from_env(), settle_heap=True)
