"""create_app(settings): the FastAPI application, wired in its lifespan. No module-level state."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from router import __version__
from router.api.admin import admin
from router.api.cors import Cors
from router.api.fast import FastPath
from router.api.openai import api
from router.errors import BadRequest, RouterError, error_response
from router.gateway import Gateway
from router.settings import Settings

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
    return error_response(BadRequest(f"invalid request: {exc}"), _with_request_id(request))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(RouterError("internal error in the gateway"), _with_request_id(request))


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


def create_app(settings: Settings | None = None, gateway: Gateway | None = None) -> Cors:
    """The ASGI application: CORS, then the model-traffic fast path, in front of the FastAPI app."""
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        gw = gateway or Gateway.build(settings)
        app.state.gateway = gw
        watcher = asyncio.create_task(gw.policies.watch(), name="policy-watch")
        _drain_on_sigterm(gw, settings.drain_s)
        _settle_heap()
        try:
            yield
        finally:
            watcher.cancel()
            await gw.aclose()

    app = FastAPI(title="router gateway", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.include_router(api)
    app.include_router(admin)
    app.add_exception_handler(RouterError, _router_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
    return Cors(FastPath(app))


def create_app_from_env() -> Cors:
    """Factory for uvicorn worker processes: settings arrive as ROUTER_* variables."""
    return create_app(Settings.from_env())
