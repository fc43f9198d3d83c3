"""POST /v1/messages and /v1/messages/count_tokens: Anthropic's Messages API on the chat pipeline.

The request is translated to a chat completions body once (router.protocol.anthropic_messages) and
routed, classified, admitted and accounted like chat. Candidates whose endpoint speaks Anthropic's wire
get the client's own Messages body instead (router.upstream.anthropic); every other candidate gets the
chat body and its answer is translated back. Errors leave in Anthropic's shape (router.api.fast picks
the rendering per endpoint); every answer carries Anthropic's `request-id` header.
"""

from __future__ import annotations

from typing import Any

import orjson

from router import pipeline
from router.gateway import Gateway
from router.protocol.anthropic_messages import to_chat, to_message
from router.protocol.anthropic_stream import EventTranslator, native_events, translated_events
from router.upstream.anthropic import AnthropicMessages, is_native
from router.upstream.base import Target, Upstream
from router.upstream.openai_compat import OpenAICompatUpstream


class _Pick:
    """Per request: the native upstream (bound to this Messages body) for Anthropic models, else the gateway's."""

    def __init__(self, gw: Gateway, body: dict[str, Any]) -> None:
        self._gw = gw
        self._body = body
        self._native: AnthropicMessages | None = None

    def __call__(self, target: Target) -> Upstream:
        if not is_native(target.spec):
            return self._gw.upstream_for(target)
        if self._native is None:
            fast = self._gw.fast
            assert isinstance(fast, OpenAICompatUpstream)
            self._native = AnthropicMessages(fast.transport, self._body)
        return self._native


async def messages(gw: Gateway, ctx: pipeline.RequestContext, body: dict[str, Any]) -> pipeline.Result:
    result = await pipeline.generate(gw, ctx, to_chat(body), "chat/completions", _Pick(gw, body))
    result.headers["request-id"] = ctx.request_id
    if is_native(ctx.policy.models[result.headers["x-router-model"]]):
        if result.stream is not None:
            result.stream = native_events(result.stream)
        return result
    stops = body.get("stop_sequences")
    if result.stream is not None:
        result.stream = translated_events(result.stream, EventTranslator(body["model"], stops))
    else:
        result.body = orjson.dumps(to_message(orjson.loads(result.body), body["model"], stops))
    return result


async def count_tokens(gw: Gateway, ctx: pipeline.RequestContext, body: dict[str, Any]) -> pipeline.Result:
    """The prompt's tokens by the gateway's tokenizer (what admission reserves), for a model the caller may use."""
    await pipeline.resolve(gw, ctx, body.get("model"))
    tokens = gw.classifier.classify(to_chat(body), None).prompt_tokens
    headers = {"x-request-id": ctx.request_id, "request-id": ctx.request_id}
    return pipeline.Result(headers, orjson.dumps({"input_tokens": tokens}))
