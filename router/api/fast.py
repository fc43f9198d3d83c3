"""The hot path: the OpenAI POST endpoints served as plain ASGI, in front of the FastAPI app.

FastAPI's routing, dependency and middleware layers cost about a third of a core at 2,000 requests/s
(measured with py-spy under tests/bench/bench_gateway.py), so the endpoints that carry model
traffic are dispatched here by path and everything else falls through to FastAPI. The request body is
read once, parsed once (orjson), checked, and handed to one pipeline function.

A client that disconnects cancels its request: a watcher on `receive()` cancels the handler, which
closes the upstream connection (no paying for tokens nobody reads). The watcher starts once a request
has run WATCH_AFTER_S: most answers are sent sooner, and a task per request cost a measurable share of
the core at 2,000 requests/s; a long generation still stops within WATCH_AFTER_S of the client leaving.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple

from router import pipeline
from router.api import anthropic, responses, wire
from router.errors import (
    RouterError,
    anthropic_error_parts,
    anthropic_sse_error_event,
    error_parts,
    internal_error,
    shutting_down,
    sse_error_event,
)
from router.gateway import Gateway
from router.protocol.anthropic_checks import check_count_tokens, check_messages

log = logging.getLogger("router")
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Run = Callable[[Gateway, pipeline.RequestContext, dict[str, Any]], Awaitable[pipeline.Result]]
Render = Callable[[RouterError, Mapping[str, str] | None], tuple[int, dict[str, str], bytes]]
SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
JSON_HEADERS = [(b"content-type", b"application/json")]
WATCH_AFTER_S = 0.1


def _chat(gw: Gateway, ctx: pipeline.RequestContext, body: dict[str, Any]) -> Awaitable[pipeline.Result]:
    return pipeline.generate(gw, ctx, body, "chat/completions")


def _completions(gw: Gateway, ctx: pipeline.RequestContext, body: dict[str, Any]) -> Awaitable[pipeline.Result]:
    return pipeline.generate(gw, ctx, body, "completions")


class Route(NamedTuple):
    check: Callable[[dict[str, Any]], None]  # the body's wire checks (400 naming the field)
    run: Run  # the pipeline function
    render: Render = error_parts  # how its errors look: OpenAI's shape, or Anthropic's
    nesting: bool = True  # the body's nesting depth checked whole (the Messages checks bound it per field)


ROUTES: dict[str, Route] = {
    "/v1/chat/completions": Route(wire.check_chat, _chat),
    "/v1/completions": Route(wire.check_completion, _completions),
    "/v1/embeddings": Route(wire.check_embeddings, pipeline.embeddings),
    "/v1/responses": Route(responses.check, responses.create),
    "/v1/messages": Route(check_messages, anthropic.messages, anthropic_error_parts, nesting=False),
    "/v1/messages/count_tokens": Route(check_count_tokens, anthropic.count_tokens, anthropic_error_parts, nesting=False),
}


def _header_list(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


class FastPath:
    """ASGI app: OpenAI POST endpoints here, everything else (and lifespan) to the wrapped app."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = ROUTES.get(scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
        elif scope["method"] == "POST":
            await self._handle(route, scope, receive, send)
        else:
            error = RouterError(f"Method Not Allowed ({scope['method']} {scope['path']})", headers={"allow": "POST"})
            error.status, error.type, error.code = 405, "invalid_request_error", None
            await _send_error(send, error, wire.make_request_id(None), route.render)

    async def _handle(self, route: Route, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        rid = wire.make_request_id(headers.get("x-request-id"))
        gw: Gateway = self.app.state.gateway
        watch: _DisconnectWatch | None = None
        try:
            if gw.draining:
                raise shutting_down()
            ctx = pipeline.new_context(gw, rid, headers)
            body = await wire.read_body(receive, headers, ctx.policy.spec.server.max_body_bytes, route.nesting)
            route.check(body)
            watch = _DisconnectWatch(receive)
            result = await route.run(gw, ctx, body)
            if result.stream is None:
                watch.stop()
                await _send_whole(send, 200, result.body, JSON_HEADERS + _header_list(result.headers))
                return
            await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS + _header_list(result.headers)})
            stream = result.stream
            try:
                async for chunk in stream:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except Exception:  # a fault of the gateway mid-stream: the client still gets an error event and [DONE]
                log.exception("unexpected error in the stream of request %s", rid)
                fault = internal_error()
                end = anthropic_sse_error_event(fault) if route.render is anthropic_error_parts else sse_error_event(fault)
                await send({"type": "http.response.body", "body": end, "more_body": True})
            finally:
                await stream.aclose()  # type: ignore[attr-defined]  # closes the upstream and accounts the stream
            await send({"type": "http.response.body", "body": b""})
        except RouterError as exc:
            await _send_error(send, exc, rid, route.render)
        except wire.ClientDisconnected:
            log.debug("client disconnected before its request body was complete (request %s)", rid)
        except asyncio.CancelledError:
            if watch is None or not watch.client_left:
                raise  # cancelled from outside (shutdown), not by the client leaving
            log.debug("client disconnected; request %s cancelled", rid)
        except Exception:
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            await _send_error(send, internal_error(), rid, route.render)
        finally:
            if watch is not None:
                watch.stop()


class _DisconnectWatch:
    """Cancels the current request when its client goes away, watching from WATCH_AFTER_S on."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._handler = asyncio.current_task()
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = self._loop.call_later(WATCH_AFTER_S, self._start)
        self._task: asyncio.Task[None] | None = None
        self.client_left = False

    def _start(self) -> None:
        self._timer = None
        self._task = self._loop.create_task(self._watch())

    async def _watch(self) -> None:
        message = await self._receive()
        if message["type"] == "http.disconnect" and self._handler is not None:
            self.client_left = True
            self._handler.cancel()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None:
            self._task.cancel()


async def _send_whole(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    """A complete answer with its length (without one, the server would frame it chunked)."""
    headers.append((b"content-length", b"%d" % len(body)))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_error(send: Send, exc: RouterError, rid: str, render: Render = error_parts) -> None:
    status, headers, body = render(exc, {"x-request-id": rid})
    try:
        await _send_whole(send, status, body, _header_list(headers))
    except RuntimeError:  # the response had already started: nothing more can be said on this connection
        log.warning("error after the response started (request %s): %s", rid, exc.message)
