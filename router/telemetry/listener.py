"""The separate metrics listener (`router serve --metrics-port P`): GET /metrics without a key.

With tenants, /metrics on the API port needs the admin key, because the exposition names tenants, their
traffic, spend and budgets. Prometheus is better given a port of its own that only it can reach
(loopback by default, or a pod port a NetworkPolicy keeps to the monitoring namespace), so it scrapes
without holding the admin key. Several workers bind the port together (SO_REUSEPORT); in multiprocess
mode any of them renders the sum of all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

Render = Callable[[], Awaitable[tuple[bytes, str]]]


async def start_metrics_listener(render: Render, host: str, port: int, reuse_port: bool = False) -> web.AppRunner:
    """Serve GET /metrics (and /healthz) on host:port until the returned runner is cleaned up."""

    async def metrics(request: web.Request) -> web.Response:
        body, content_type = await render()
        return web.Response(body=body, headers={"content-type": content_type})

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_port=reuse_port or None).start()
    return runner
