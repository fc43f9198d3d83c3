"""The fast path: OpenAI-compatible servers (vLLM, llama.cpp, Ollama, OpenAI) spoken to directly.

httpx is the client API; its transport is aiohttp's (httpx-aiohttp), which measured about three times
httpx's default transport on loopback (see tests/bench/). The request body is the client's own JSON with
only `model` replaced, so tools, response_format, logprobs, seed, n and unknown fields pass untouched.
Streams are passed through as raw bytes, chunk by chunk, as they arrive.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from router.errors import UpstreamError, UpstreamTimeout
from router.upstream.base import ByteStream, Reply, Target, UpstreamStatus

MAX_ERROR_MESSAGE = 500


def make_http_client(transport: str = "aiohttp") -> httpx.AsyncClient:
    """One pooled client for all endpoints; `transport` is `aiohttp` (fast) or `httpx` (httpx's own)."""
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200, keepalive_expiry=30)
    if transport == "aiohttp":
        from httpx_aiohttp import AiohttpTransport

        return httpx.AsyncClient(transport=AiohttpTransport(limits=limits, trust_env=False), trust_env=False)
    return httpx.AsyncClient(limits=limits, trust_env=False)


def _headers(target: Target) -> dict[str, str]:
    headers = {"content-type": "application/json", **target.spec.endpoint.headers}
    if target.spec.endpoint.api_key:
        headers["authorization"] = f"Bearer {target.spec.endpoint.api_key}"
    return headers


def _timeout(target: Target) -> httpx.Timeout:
    t = target.spec.timeouts
    return httpx.Timeout(connect=t.connect, read=max(t.first_token, t.idle), write=t.connect, pool=t.connect)


def _error_message(body: bytes) -> str:
    try:
        data = orjson.loads(body)
        message = data["error"]["message"] if isinstance(data.get("error"), dict) else data.get("error") or data
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
        message = body[:MAX_ERROR_MESSAGE].decode("utf-8", "replace")
    return str(message)[:MAX_ERROR_MESSAGE]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _is_timeout(exc: BaseException) -> bool:
    # httpx-aiohttp maps several aiohttp connection errors onto httpx timeouts; judge by the real cause.
    cause = exc.__cause__
    if cause is None:
        return isinstance(exc, httpx.TimeoutException)
    return isinstance(cause, TimeoutError) or "Timeout" in type(cause).__name__


def _transport_error(exc: httpx.HTTPError, target: Target) -> UpstreamError:
    cause = exc.__cause__ or exc
    text = f"{type(cause).__name__}: {cause}".strip().rstrip(":")
    if _is_timeout(exc):
        return UpstreamTimeout(f"model {target.name!r} timed out ({text})")
    return UpstreamError(f"model {target.name!r} is unreachable ({text})")


class OpenAICompatUpstream:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    def _request(self, target: Target, path: str, body: dict[str, Any]) -> httpx.Request:
        payload = orjson.dumps({**body, "model": target.upstream_model})
        url = f"{(target.spec.endpoint.base_url or '').rstrip('/')}/{path}"
        return self._client.build_request("POST", url, content=payload, headers=_headers(target), timeout=_timeout(target))

    async def complete(self, target: Target, path: str, body: dict[str, Any]) -> Reply:
        try:
            response = await self._client.send(self._request(target, path, body))
        except httpx.HTTPError as exc:
            raise _transport_error(exc, target) from None
        content = response.content
        if response.status_code >= 400:
            raise UpstreamStatus(response.status_code, _error_message(content), _retry_after(response))
        try:
            data = orjson.loads(content)
        except orjson.JSONDecodeError:
            raise UpstreamError(f"model {target.name!r} answered with a body that is not JSON") from None
        if not isinstance(data, dict):
            raise UpstreamError(f"model {target.name!r} answered with JSON that is not an object")
        return Reply(content, data)

    async def open_stream(self, target: Target, path: str, body: dict[str, Any]) -> ByteStream:
        try:
            response = await self._client.send(self._request(target, path, body), stream=True)
        except httpx.HTTPError as exc:
            raise _transport_error(exc, target) from None
        if response.status_code >= 400:
            try:
                content = await response.aread()
            finally:
                await response.aclose()
            raise UpstreamStatus(response.status_code, _error_message(content), _retry_after(response))
        return _RawStream(response, target)

    async def aclose(self) -> None:
        await self._client.aclose()


class _RawStream:
    """The upstream's body bytes as they arrive; transport errors become UpstreamError."""

    def __init__(self, response: httpx.Response, target: Target) -> None:
        self._response = response
        self._target = target

    async def __aiter__(self) -> Any:
        try:
            async for chunk in self._response.aiter_raw():
                if chunk:
                    yield chunk
        except httpx.HTTPError as exc:
            raise _transport_error(exc, self._target) from None

    async def aclose(self) -> None:
        await self._response.aclose()
