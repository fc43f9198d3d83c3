"""The floor: a bare ASGI pass-through proxy with no routing, no parsing, no policy. It forwards the body
to one upstream with the chosen client transport and returns the answer. Used only by the benchmark.

ROUTER_BENCH_UPSTREAM=http://127.0.0.1:9100/v1 ROUTER_BENCH_TRANSPORT=router|aiohttp|httpx|raw-aiohttp \
  uvicorn tests.bench.passthrough:app --loop uvloop --http httptools --no-access-log
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp
import httpx

UPSTREAM = os.environ.get("ROUTER_BENCH_UPSTREAM", "http://127.0.0.1:9100/v1") + "/chat/completions"
TRANSPORT = os.environ.get("ROUTER_BENCH_TRANSPORT", "aiohttp")


async def _read(receive: Any) -> bytes:
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


class Passthrough:
    def __init__(self) -> None:
        self.client: Any = None

    def _client(self) -> Any:
        if self.client is None:
            if TRANSPORT == "raw-aiohttp":
                self.client = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000))
            elif TRANSPORT == "aiohttp":
                from httpx_aiohttp import AiohttpTransport

                self.client = httpx.AsyncClient(transport=AiohttpTransport(trust_env=False), trust_env=False)
            elif TRANSPORT == "router":  # the gateway's own httpx transport on aiohttp
                from router.upstream.transport import AiohttpTransport as RouterTransport

                self.client = httpx.AsyncClient(transport=RouterTransport(), trust_env=False)
            else:
                self.client = httpx.AsyncClient(limits=httpx.Limits(max_connections=1000), trust_env=False)
        return self.client

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await _read(receive)
        client = self._client()
        if TRANSPORT == "raw-aiohttp":
            async with client.post(UPSTREAM, data=body, headers={"content-type": "application/json"}) as r:
                content = await r.read()
                status = r.status
        else:
            r = await client.post(UPSTREAM, content=body, headers={"content-type": "application/json"})
            content, status = r.content, r.status_code
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": content})


app = Passthrough()
