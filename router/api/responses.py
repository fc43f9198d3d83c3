"""POST /v1/responses: OpenAI's Responses API, routed and classified like chat, through the one pipeline.

    previous_response_id ─> history from the store (per tenant; any replica on Redis)
    translate to a chat body ─> pipeline.generate (classify, decide, dispatch, account)
    answer: a chat completion translated to a response object (or stream events); an upstream that
            declares `endpoint.apis: [responses]` gets the Responses request itself and its answer passes
            through (its `model` renamed like every answer's)
    store (unless `store: false`) the items a later previous_response_id continues, with the policy's TTL

The gateway holds the conversation: a native upstream gets the whole history as input, never an id it
might not know. A cascade route judges chat answers, so it always translates.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from router import pipeline
from router.dispatch.sse import EventSplitter, parse_event
from router.errors import BadRequest, PayloadTooLarge
from router.gateway import Gateway
from router.protocol import openai_responses as rp
from router.protocol.openai_responses_stream import ChatToResponseEvents
from router.telemetry.meter import RESPONSE_DONE
from router.tenancy.auth import SINGLE_TENANT
from router.upstream.base import ByteStream, Reply, Target, Upstream
from router.upstream.passing import dumps

check = rp.check


def serves_responses(target: Target) -> bool:
    return "responses" in target.spec.endpoint.apis and target.spec.endpoint.fast_path


class _Native:
    """An upstream that serves the Responses API: it gets the Responses request, not the chat body."""

    def __init__(self, upstream: Upstream, body: dict[str, Any]) -> None:
        self._upstream, self._body = upstream, body

    async def complete(self, target: Target, path: str, body: dict[str, Any]) -> Reply:
        return await self._upstream.complete(target, "responses", self._body)

    async def open_stream(self, target: Target, path: str, body: dict[str, Any]) -> ByteStream:
        return await self._upstream.open_stream(target, "responses", self._body)

    async def aclose(self) -> None:
        return None


class _Picker:
    """pick(target) for dispatch; remembers whether the last target tried (the one that answered) is native."""

    def __init__(self, gw: Gateway, native_body: dict[str, Any]) -> None:
        self._gw, self._body = gw, native_body
        self.native = False

    def __call__(self, target: Target) -> Upstream:
        upstream = self._gw.upstream_for(target)
        self.native = serves_responses(target)
        return _Native(upstream, self._body) if self.native else upstream


def _tenant(ctx: pipeline.RequestContext) -> str:
    return ctx.tenant or SINGLE_TENANT


async def history(gw: Gateway, ctx: pipeline.RequestContext, body: dict[str, Any]) -> list[rp.Item]:
    """The items `previous_response_id` continues (400 previous_response_not_found for an unknown id)."""
    previous = body.get("previous_response_id")
    if not previous:
        return []
    doc = await gw.store.get_response(_tenant(ctx), previous)
    if doc is None:
        raise BadRequest(
            f"Previous response with id '{previous}' not found.", param="previous_response_id", code="previous_response_not_found"
        )
    limit = ctx.policy.spec.server.max_body_bytes
    if len(doc) > limit:  # a conversation counts whole against the request size limit: it is sent whole
        raise PayloadTooLarge(f"the conversation up to '{previous}' is {len(doc)} bytes, over the limit of {limit} bytes")
    items: list[rp.Item] = orjson.loads(doc)["items"]
    return items


async def _keep(
    gw: Gateway, ctx: pipeline.RequestContext, body: dict[str, Any], past: list[rp.Item], response: dict[str, Any]
) -> None:
    if body.get("store") is False or not isinstance(response.get("id"), str):
        return
    doc = dumps({"items": rp.continued(past, body, response), "response": response})
    await gw.store.put_response(_tenant(ctx), response["id"], doc, ctx.policy.spec.server.response_ttl_s)


async def create(gw: Gateway, ctx: pipeline.RequestContext, body: dict[str, Any]) -> pipeline.Result:
    past = await history(gw, ctx, body)
    chat = rp.to_chat(body, past)
    if not chat["messages"]:
        raise BadRequest("'input' must contain at least one item", param="input")
    picker = _Picker(gw, rp.native_body(body, past))
    result = await pipeline.generate(gw, ctx, chat, "chat/completions", picker)
    name = body["model"]
    if result.stream is not None:
        stream = result.stream
        result.stream = _passed(gw, ctx, body, past, stream) if picker.native else _translated(gw, ctx, body, past, stream, name)
        return result
    assert result.data is not None
    if not picker.native:
        result.data = rp.from_chat(body, result.data, rp.new_id("resp"), name)
        result.body = dumps(result.data)
    await _keep(gw, ctx, body, past, result.data)
    return result


async def _translated(
    gw: Gateway,
    ctx: pipeline.RequestContext,
    body: dict[str, Any],
    past: list[rp.Item],
    stream: AsyncIterator[bytes],
    name: str,
) -> AsyncIterator[bytes]:
    """Chat chunks in, Responses events out; the finished response is stored before its last event leaves."""
    events = ChatToResponseEvents(body, rp.new_id("resp"), name)
    try:
        yield events.start()
        async for chunk in stream:
            out = events.feed(chunk)
            if events.done:
                break
            if out:
                yield out
        else:
            out = events.close()
        if events.response["status"] != "failed":
            await _keep(gw, ctx, body, past, events.response)
        yield out
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


async def _passed(
    gw: Gateway, ctx: pipeline.RequestContext, body: dict[str, Any], past: list[rp.Item], stream: AsyncIterator[bytes]
) -> AsyncIterator[bytes]:
    """A native upstream's events as they come; its final response is stored before that event leaves."""
    splitter = EventSplitter()
    try:
        async for chunk in stream:
            for payload in splitter.feed(chunk):
                event = parse_event(payload) if b'"response.' in payload else None
                kind = event.get("type") if event is not None else None
                final = event.get("response") if event is not None and kind in RESPONSE_DONE else None
                if isinstance(final, dict) and kind != "response.failed":
                    await _keep(gw, ctx, body, past, final)
            yield chunk
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
