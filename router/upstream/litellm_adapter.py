"""Hosted providers that do not speak the OpenAI wire format (Anthropic, Azure OpenAI, Bedrock, Gemini, ...).

The only module that imports litellm, and only when a policy names such a provider: litellm's import
costs seconds and would otherwise slow every start. litellm translates the OpenAI-shaped request; its
OpenAI-shaped answer is serialised back so clients see one wire format whatever the provider.

litellm takes connection settings and model parameters as the same keyword arguments, so only the
body's allowed model parameters (router.upstream.params) are passed, and the policy's endpoint sets
everything else after them. litellm's error messages may carry tracebacks, URLs and keys: callers get
a scrubbed message (router.upstream.redact).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from router.errors import UpstreamError, UpstreamTimeout
from router.upstream.base import ByteStream, Reply, Target, UpstreamStatus, timed_out
from router.upstream.params import allowed_fields, model_params
from router.upstream.redact import provider_message, secrets_of

# litellm's own reading of `metadata` is for its callbacks, not the provider: it is not passed
_LOCAL = frozenset({"model", "messages", "input", "stream", "metadata"})


def _litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price-map download at import
    import litellm

    litellm.drop_params = True  # a provider that lacks a parameter ignores it instead of failing
    litellm.suppress_debug_info = True
    return litellm


def _kwargs(target: Target, path: str, body: dict[str, Any]) -> dict[str, Any]:
    ep = target.spec.endpoint
    allowed = allowed_fields(path, ep.extra_params) - _LOCAL
    kwargs = model_params(body, allowed)
    kwargs["model"] = f"{ep.provider}/{target.upstream_model}"
    if ep.base_url:
        kwargs["api_base"] = ep.base_url
    if ep.api_key:
        kwargs["api_key"] = ep.api_key
    if ep.api_version:
        kwargs["api_version"] = ep.api_version
    if ep.headers:
        kwargs["extra_headers"] = dict(ep.headers)
    kwargs["timeout"] = target.spec.timeouts.total
    kwargs["num_retries"] = 0  # dispatch owns retries and fallback
    return kwargs


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in seen and len(seen) < 16:
        seen.append(cause)
        cause = cause.__cause__ or cause.__context__
    return seen


def _map_error(exc: Exception, target: Target) -> UpstreamError:
    """litellm's exception as the gateway's: its text is scrubbed, and a failure to connect (which litellm
    reports as a 500 with the socket error's text) says only that."""
    status = getattr(exc, "status_code", None)
    chain = _chain(exc)
    if status == 408 or timed_out(chain):  # litellm.Timeout says 408
        return UpstreamTimeout(f"model {target.name!r} timed out")
    if any(isinstance(c, (httpx.TransportError, OSError)) for c in chain):
        return UpstreamError(f"model {target.name!r} is unreachable (connection failed)")
    if isinstance(status, int) and 400 <= status < 600:
        return UpstreamStatus(status, provider_message(str(getattr(exc, "message", "")), secrets_of(target)))
    return UpstreamError(f"model {target.name!r} failed")


class LiteLLMUpstream:
    def __init__(self) -> None:
        self._lib = _litellm()

    async def complete(self, target: Target, path: str, body: dict[str, Any]) -> Reply:
        call = self._lib.aembedding if path == "embeddings" else self._lib.acompletion
        args = _kwargs(target, path, body)
        if path == "embeddings":
            args["input"] = body.get("input")
        else:
            args["messages"] = body.get("messages")
        try:
            response = await call(**args)
        except Exception as exc:  # litellm raises its own tree; all of it maps to upstream errors
            raise _map_error(exc, target) from None
        data = response.model_dump(exclude_none=True)
        return Reply(orjson.dumps(data), data)

    async def open_stream(self, target: Target, path: str, body: dict[str, Any]) -> ByteStream:
        args = _kwargs(target, path, body) | {"messages": body.get("messages"), "stream": True}
        try:
            stream = await self._lib.acompletion(**args)
        except Exception as exc:
            raise _map_error(exc, target) from None
        return _SSEStream(stream, target)

    async def aclose(self) -> None:
        return None


class _SSEStream:
    """litellm's chunk objects re-encoded as OpenAI server-sent events."""

    def __init__(self, stream: Any, target: Target) -> None:
        self._stream = stream
        self._target = target

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield b"data: " + orjson.dumps(chunk.model_dump(exclude_none=True)) + b"\n\n"
        except Exception as exc:
            raise _map_error(exc, self._target) from None
        yield b"data: [DONE]\n\n"

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()
