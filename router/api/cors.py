"""Cross-origin requests from browsers, as the policy's `server.cors` says; off while it names no origin.

The outermost ASGI layer, so preflights (OPTIONS) are answered before any endpoint and every answer,
errors included, carries the headers. The work is Starlette's CORSMiddleware, built once per policy
version (the settings hot-reload with the policy); without an Origin header a request passes straight on.
"""

from __future__ import annotations

from typing import Any, cast

from starlette.middleware.cors import CORSMiddleware

from router.api.fast import FastPath, Receive, Scope, Send
from router.gateway import Gateway
from router.policy.schema import CorsSpec

EXPOSED = [
    "x-request-id", "x-router-route", "x-router-tier", "x-router-model", "x-router-reason", "x-router-fallbacks",
    "x-router-retries", "x-router-policy-version", "x-should-retry", "retry-after", "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests", "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens",
]  # fmt: skip


class Cors:
    def __init__(self, app: FastPath) -> None:
        self.app = app
        self._built: tuple[CorsSpec, CORSMiddleware] | None = None

    def _middleware(self, spec: CorsSpec) -> CORSMiddleware:
        if self._built is None or self._built[0] is not spec:
            middleware = CORSMiddleware(
                cast(Any, self.app),
                allow_origins=spec.origins,
                allow_methods=spec.methods,
                allow_headers=spec.headers,
                allow_credentials=spec.allow_credentials,
                expose_headers=EXPOSED,
                max_age=spec.max_age_s,
            )
            self._built = (spec, middleware)
        return self._built[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(name == b"origin" for name, _ in scope["headers"]):
            gw: Gateway = self.app.app.state.gateway
            spec = gw.policies.current.spec.server.cors
            if spec.origins:
                await self._middleware(spec)(scope, receive, cast(Any, send))
                return
        await self.app(scope, receive, send)
