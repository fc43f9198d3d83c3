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
    """pick(target) for dispatch: the native upstream (bound to this Messages body) for Anthropic models,
    else the gateway's; remembers whether the last target picked (the one that answered) is native."""

    def __init__(self, gw: Gateway, body: dict[str, Any]) -> None:
        self._gw = gw
        self._body = body
        self._native: AnthropicMessages | None = None
        self.native = False

    def __call__(self, target: Target) -> Upstream:
        self.native = is_native(target.spec)
        if not self.native:
            return self._gw.upstream_for(target)
        if self._native is None:
            fast = self._gw.fast
            assert isinstance(fast, OpenAICompatUpstream)
            self._native = AnthropicMessages(fast.transport, self._body)
        return self._native


async def messages(gw: Gateway, ctx: pipeline.RequestContext, body: dict[str, Any]) -> pipeline.Result:
    """A cascade judges chat answers and dispatches with the gateway's upstreams, so it always translates
    (an Anthropic model in it is reached through litellm)."""
    picker = _Pick(gw, body)
    result = await pipeline.generate(gw, ctx, to_chat(body), "chat/completions", picker)
    result.headers["request-id"] = ctx.request_id
    if picker.native:
        if result.stream is not None:
            result.stream = native_events(result.stream)
        return result
    stops = body.get("stop_sequences")
    if result.stream is not None:
        result.stream = translated_events(result.stream, EventTranslator(body["model"], stops))
    else:
        data = result.data if result.data is not None else orjson.loads(result.body)
        result.data = to_message(data, body["model"], stops)
        result.body = orjson.dumps(result.data)
    return result


async def count_tokens(gw: Gateway, ctx: pipeline.RequestContext, body: dict[str, Any]) -> pipeline.Result:
    """The prompt's tokens by the gateway's tokenizer (what admission reserves), for a model the caller may use."""
    await pipeline.resolve(gw, ctx, body.get("model"))
    tokens = gw.classifier.classify(to_chat(body), None).prompt_tokens
    headers = {"x-request-id": ctx.request_id, "request-id": ctx.request_id}
    return pipeline.Result(headers, orjson.dumps({"input_tokens": tokens}))
