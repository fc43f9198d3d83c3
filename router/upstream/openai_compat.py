"""The fast path: OpenAI-compatible servers (vLLM, llama.cpp, Ollama, OpenAI) spoken to directly.

httpx is the client API; its transport is aiohttp's (httpx-aiohttp), which measured about four times
httpx's default transport on loopback (tests/bench/bench_gateway.py). Requests go to the transport
directly: the gateway needs none of httpx.AsyncClient's cookie, auth and redirect handling, which cost
a tenth of a core at 2,000 requests/s. The request body is the client's model parameters (tools,
response_format, logprobs, seed, n, ...: router.upstream.params) with `model` replaced; nothing else of
the body is sent. Streams are passed through as raw bytes, chunk by chunk, as they arrive. Error text
from an upstream reaches a caller without the endpoint's key, URLs, hosts or paths (router.upstream.redact).
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from router.errors import UpstreamError, UpstreamTimeout, scrub
from router.upstream.base import AcceptedTimeout, ByteStream, Reply, Target, UpstreamStatus, timed_out
from router.upstream.params import allowed_fields, model_params
from router.upstream.passing import dumps, loads
from router.upstream.redact import provider_message, secrets_of
from router.upstream.transport import STREAM, AiohttpTransport

MAX_ERROR_MESSAGE = 500


MAX_CACHED_URLS = 512


def make_transport(kind: str = "aiohttp") -> httpx.AsyncBaseTransport:
    """One pooled transport for all endpoints: `aiohttp` (ours, fast), `httpx-aiohttp`, or `httpx` (httpx's own)."""
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200, keepalive_expiry=30)
    if kind == "aiohttp":
        return AiohttpTransport(max_connections=0, keepalive_s=30)  # unbounded here: dispatch.pool bounds each model
    if kind == "httpx-aiohttp":
        from httpx_aiohttp import AiohttpTransport as ThirdParty

        return ThirdParty(limits=limits, trust_env=False)
    return httpx.AsyncHTTPTransport(limits=limits, trust_env=False)


def _headers(target: Target) -> httpx.Headers:
    # identity: bodies are passed on byte for byte, so they must not arrive compressed
    headers = [("content-type", "application/json"), ("accept-encoding", "identity"), *target.spec.endpoint.headers.items()]
    if target.spec.endpoint.api_key:
        headers.append(("authorization", f"Bearer {target.spec.endpoint.api_key}"))
    return httpx.Headers(headers)


def _timeout(target: Target, stream: bool) -> dict[str, float]:
    """A stream's reads wait for the next chunk (first_token, then idle); a plain answer's first byte is
    its last, so its read waits as long as the total timeout allows."""
    t = target.spec.timeouts
    read = max(t.first_token, t.idle) if stream else t.total
    return {"connect": t.connect, "read": read, "write": t.connect, "pool": t.connect}


def _short(value: Any, secrets: tuple[str, ...]) -> str | None:
    return scrub(value[:MAX_ERROR_MESSAGE], secrets) or None if isinstance(value, str) and value else None


def _error_status(status: int, body: bytes, response: httpx.Response, target: Target) -> UpstreamStatus:
    """The upstream's error with its message, type, param and code (OpenAI's shape, or vLLM's flat one)."""
    try:
        data = orjson.loads(body)
        error = data["error"] if isinstance(data.get("error"), dict) else data
        message = error.get("message") or data.get("error") or data
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
        error, message = {}, body[: MAX_ERROR_MESSAGE * 8].decode("utf-8", "replace")
    secrets = secrets_of(target)
    return UpstreamStatus(
        status,
        provider_message(str(message), secrets),
        _retry_after(response),
        error_type=_short(error.get("type"), secrets),
        param=_short(error.get("param"), secrets),
        code=_short(error.get("code"), secrets),
        headers=passed_headers(response),
    )


def passed_headers(response: httpx.Response) -> dict[str, str]:
    """Upstream headers the client sees too: rate-limit state and Retry-After (a repeated one joined with
    ", ", as httpx's items() joins it). Picked from the raw bytes: decoding every header of every answer
    (items()) cost more than the rest of this function, and most answers carry none of these."""
    picked = [(k.lower(), v) for k, v in response.headers.raw if k[:12].lower() == b"x-ratelimit-" or k.lower() == b"retry-after"]
    if not picked:
        return {}
    encoding = response.headers.encoding
    passed: dict[str, str] = {}
    for k, v in picked:
        key, value = k.decode(encoding), v.decode(encoding)
        passed[key] = f"{passed[key]}, {value}" if key in passed else value
    return passed


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _is_timeout(exc: BaseException) -> bool:
    # httpx-aiohttp maps several aiohttp connection errors onto httpx timeouts; judge by the real cause.
    return timed_out([exc if exc.__cause__ is None else exc.__cause__])


def _transport_error(exc: httpx.HTTPError, target: Target) -> UpstreamError:
    # the exception's text names hosts, ports and library internals: the caller is told what happened only
    if _is_timeout(exc):
        kind = UpstreamTimeout if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout) else AcceptedTimeout
        return kind(f"model {target.name!r} timed out")
    cause = exc.__cause__ or exc
    if isinstance(exc, httpx.ConnectError) or isinstance(cause, ConnectionRefusedError):
        return UpstreamError(f"model {target.name!r} is unreachable (connection failed)")
    return UpstreamError(f"model {target.name!r} is unreachable (connection lost)")


def _stream_of(response: httpx.Response) -> httpx.AsyncByteStream:
    stream = response.stream
    assert isinstance(stream, httpx.AsyncByteStream)
    return stream


async def _read(response: httpx.Response) -> bytes:
    """The whole body, straight from the transport's stream (identity encoding was asked for)."""
    return b"".join([chunk async for chunk in _stream_of(response)])


# what a request to one endpoint and path starts from: its URL, its headers as raw pairs and their
# (lowercased) names, and the body fields allowed through
Prepared = tuple[httpx.URL, list[tuple[bytes, bytes]], frozenset[str], frozenset[str]]


def prepared(url: httpx.URL, headers: httpx.Headers, allowed: frozenset[str]) -> Prepared:
    names = frozenset(name.decode("latin-1").lower() for name, _ in headers.raw)
    return url, headers.raw, names, allowed


class OpenAICompatUpstream:
    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport
        # URL, headers (with Host) and the fields allowed through built once per endpoint and path; httpx
        # then copies instead of re-parsing and re-encoding them on every request (9 us -> 1 us)
        self._prepared: dict[tuple[object, ...], Prepared] = {}

    @property
    def transport(self) -> httpx.AsyncBaseTransport:
        """The pooled transport, shared with upstreams of other wires (router.upstream.anthropic)."""
        return self._transport

    def _prepare(self, target: Target, path: str) -> Prepared:
        endpoint = target.spec.endpoint
        key = (path, endpoint.base_url, endpoint.api_key, tuple(endpoint.extra_params), *endpoint.headers.items())
        found = self._prepared.get(key)
        if found is None:
            if len(self._prepared) >= MAX_CACHED_URLS:
                self._prepared.clear()
            url = httpx.URL(f"{(endpoint.base_url or '').rstrip('/')}/{path}")
            headers = _headers(target)
            headers.setdefault("host", url.netloc.decode("ascii"))
            found = self._prepared[key] = prepared(url, headers, allowed_fields(path, endpoint.extra_params))
        return found

    def _request(self, target: Target, path: str, body: dict[str, Any]) -> httpx.Request:
        url, ready, names, allowed = self._prepare(target, path)
        payload = dumps({**model_params(body, allowed), "model": target.upstream_model})
        stream = body.get("stream") is True
        extensions = {"timeout": _timeout(target, stream), STREAM: stream}
        # as raw (name, value) pairs: httpx.Headers' own lookups and assignments re-encode every header
        headers = list(ready)
        for name, value in target.headers.items():
            if name.lower() not in names:  # never the endpoint's own credentials, host or framing
                headers.append((name.encode("ascii"), value.encode("ascii")))  # what httpx.Headers would encode
        headers.append((b"content-length", str(len(payload)).encode()))
        return httpx.Request("POST", url, stream=httpx.ByteStream(payload), headers=headers, extensions=extensions)

    async def _send(self, target: Target, path: str, body: dict[str, Any]) -> httpx.Response:
        response = await self._send_once(target, path, body)
        if response.status_code == 404 and target.load_path:
            # vLLM answers 404 for an adapter it has not loaded: load it at run time once, then retry
            await response.aclose()
            await self._load_adapter(target)
            response = await self._send_once(target, path, body)
        return response

    async def _send_once(self, target: Target, path: str, body: dict[str, Any]) -> httpx.Response:
        try:
            return await self._transport.handle_async_request(self._request(target, path, body))
        except httpx.HTTPError as exc:
            raise _transport_error(exc, target) from None

    async def _load_adapter(self, target: Target) -> None:
        """POST /load_lora_adapter (vLLM's runtime LoRA API); failures surface on the retried request."""
        payload = {"lora_name": target.upstream_model, "lora_path": target.load_path}
        url, headers, _, _ = self._prepare(target, "load_lora_adapter")
        request = httpx.Request(
            "POST",
            url,
            json=payload,
            headers=headers,
            extensions={"timeout": _timeout(target, False)},
        )
        try:
            response = await self._transport.handle_async_request(request)
            await _read(response)
            await response.aclose()
        except httpx.HTTPError:
            return

    async def complete(self, target: Target, path: str, body: dict[str, Any]) -> Reply:
        response = await self._send(target, path, body)
        try:
            content = await _read(response)
        except httpx.HTTPError as exc:
            raise _transport_error(exc, target) from None
        finally:
            await response.aclose()
        if response.status_code >= 400:
            raise _error_status(response.status_code, content, response, target)
        try:
            data = loads(content)
        except orjson.JSONDecodeError:
            raise UpstreamError(f"model {target.name!r} answered with a body that is not JSON") from None
        if not isinstance(data, dict):
            raise UpstreamError(f"model {target.name!r} answered with JSON that is not an object")
        return Reply(content, data, passed_headers(response))

    async def open_stream(self, target: Target, path: str, body: dict[str, Any]) -> ByteStream:
        response = await self._send(target, path, body)
        if response.status_code >= 400:
            try:
                content = await _read(response)
            finally:
                await response.aclose()
            raise _error_status(response.status_code, content, response, target)
        return _RawStream(response, target)

    async def aclose(self) -> None:
        await self._transport.aclose()


class _RawStream:
    """The upstream's body bytes as they arrive; transport errors become UpstreamError."""

    def __init__(self, response: httpx.Response, target: Target) -> None:
        self._response = response
        self._target = target
        self.headers = passed_headers(response)

    async def __aiter__(self) -> Any:
        try:
            async for chunk in _stream_of(self._response):
                if chunk:
                    yield chunk
        except httpx.HTTPError as exc:
            raise _transport_error(exc, self._target) from None

    async def aclose(self) -> None:
        await self._response.aclose()
