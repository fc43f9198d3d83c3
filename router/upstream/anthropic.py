"""Anthropic models spoken to natively: a Messages API request passed through to the policy's endpoint.

A client of POST /v1/messages routed to a model whose endpoint says `provider: anthropic` gets Anthropic's
own answer, byte for byte (thinking blocks, cache usage and all), instead of a round trip through chat
completions. The host and the key come from the policy alone: the URL is the endpoint's base_url (or
Anthropic's) plus /v1/messages, the headers are `x-api-key` (the policy's key), `anthropic-version` and
the endpoint's own headers; of the client's body only the Messages API's model parameters are sent
(router.upstream.params), with `model` replaced.

One instance serves one request: it holds that request's Messages body, and sends it whatever chat body
dispatch hands it (dispatch walks candidates with one body; this is the candidate that wants another).
It shares the fast path's pooled transport and its error handling.
"""

from __future__ import annotations

from typing import Any

import httpx

from router.errors import BadRequest
from router.policy.schema import ModelSpec
from router.upstream.base import ByteStream, Reply, Target
from router.upstream.openai_compat import OpenAICompatUpstream, Prepared, prepared
from router.upstream.params import allowed_fields

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"


def is_native(spec: ModelSpec) -> bool:
    """Models whose endpoint speaks Anthropic's Messages API."""
    return spec.endpoint.provider.lower() == "anthropic"


def messages_url(base_url: str | None) -> str:
    """The endpoint's /v1/messages, whether base_url names the host, its /v1, or the full path."""
    base = (base_url or DEFAULT_BASE_URL).rstrip("/")
    if base.endswith("/v1/messages"):
        return base
    return f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"


def _headers(spec: ModelSpec) -> httpx.Headers:
    headers = {"content-type": "application/json", "accept-encoding": "identity", "anthropic-version": API_VERSION}
    if spec.endpoint.api_key:
        headers["x-api-key"] = spec.endpoint.api_key
    headers.update(spec.endpoint.headers)  # ops may pin another version or add anthropic-beta here
    return httpx.Headers(headers)


class AnthropicMessages(OpenAICompatUpstream):
    """The fast path's HTTP handling, with Anthropic's URL and headers, bound to one Messages body."""

    def __init__(self, transport: httpx.AsyncBaseTransport, body: dict[str, Any]) -> None:
        super().__init__(transport)
        self._body = body

    def _prepare(self, target: Target, path: str) -> Prepared:
        url = httpx.URL(messages_url(target.spec.endpoint.base_url))
        headers = _headers(target.spec)
        headers.setdefault("host", url.netloc.decode("ascii"))
        return prepared(url, headers, allowed_fields("messages", target.spec.endpoint.extra_params))

    def _request(self, target: Target, path: str, body: dict[str, Any]) -> httpx.Request:
        try:
            return super()._request(target, path, body)
        except (TypeError, RecursionError):  # nesting beyond what the JSON writers take, in a field not checked
            raise BadRequest("request body is nested too deeply") from None

    async def complete(self, target: Target, path: str, body: dict[str, Any]) -> Reply:
        return await super().complete(target, "messages", self._body)

    async def open_stream(self, target: Target, path: str, body: dict[str, Any]) -> ByteStream:
        return await super().open_stream(target, "messages", self._body)

    async def aclose(self) -> None:
        return None  # the transport belongs to the gateway's fast path
