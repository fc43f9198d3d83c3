"""An httpx transport on aiohttp, lean for a proxy: plain answers are read in one call, streams are
handed over as aiohttp's byte stream, and aiohttp's errors become httpx's.

Why not httpx-aiohttp's transport: it pulls every body through chunk iterators and context managers
even when the whole answer is wanted at once; at 2,000 requests/s that is a measurable share of a core
(tests/bench/bench_gateway.py). httpx stays the client API; requests that will be streamed say so with
the `router.stream` extension. Answers come back as an httpx.Response over an httpx.ByteStream, which
the caller reads from `response.stream` (building a Response from `content=` decodes it on the spot,
about 10 us per request). Upstream cookies are never kept: one upstream session serves every tenant.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import httpx
import yarl

STREAM = "router.stream"
MAX_CACHED_URLS = 512


def _mapped(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(str(exc), request=request)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(str(exc) or "connect timeout", request=request)
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return httpx.ReadTimeout(str(exc) or "read timeout", request=request)
    return httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request)


def _body(request: httpx.Request) -> bytes | None:
    """The request body without reading it through httpx: a ByteStream holds it whole."""
    stream = request.stream
    if isinstance(stream, httpx.ByteStream):
        return b"".join(stream) or None
    return request.content or None


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _mapped(exc, self._request) from exc

    async def aclose(self) -> None:
        self._response.release()
        self._response.close()


class AiohttpTransport(httpx.AsyncBaseTransport):
    def __init__(self, max_connections: int = 1000, keepalive_s: float = 30.0) -> None:
        self._max = max_connections
        self._keepalive = keepalive_s
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}
        self._urls: dict[str, yarl.URL] = {}  # parsed once per endpoint and path

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # created on first use, inside the running loop
            connector = aiohttp.TCPConnector(limit=self._max, keepalive_timeout=self._keepalive, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, trust_env=False, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session

    def _url(self, request: httpx.Request) -> yarl.URL:
        text = str(request.url)
        url = self._urls.get(text)
        if url is None:
            if len(self._urls) >= MAX_CACHED_URLS:
                self._urls.clear()
            url = self._urls[text] = yarl.URL(text)
        return url

    def _timeout(self, request: httpx.Request) -> aiohttp.ClientTimeout:
        t = request.extensions.get("timeout") or {}
        key = (t.get("connect"), t.get("read"), t.get("pool"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            timeout = self._timeouts[key] = aiohttp.ClientTimeout(
                total=None, sock_connect=key[0], sock_read=key[1], connect=key[2]
            )
        return timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._client().request(
                request.method,
                self._url(request),
                data=_body(request),
                headers=request.headers,
                timeout=self._timeout(request),
                allow_redirects=False,
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _mapped(exc, request) from exc
        if request.extensions.get(STREAM):
            return httpx.Response(response.status, headers=response.raw_headers, stream=_Body(response, request), request=request)
        try:
            content = await response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _mapped(exc, request) from exc
        finally:
            response.release()
        return httpx.Response(response.status, headers=response.raw_headers, stream=httpx.ByteStream(content), request=request)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
