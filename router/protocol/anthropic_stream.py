"""Chat completion streams as Anthropic Messages stream events, and native Messages streams relayed.

    EventTranslator         feed chat SSE bytes in any chunking -> Messages events (bytes)
    translated_events(...)  a chat stream as Messages events
    native_events(stream)   a natively passed-through Messages stream, with the gateway's own mid-stream
                            error events rewritten into Anthropic's `error` event

Events keep Anthropic's order (message_start, ping, then per content block: start, deltas, stop; then
message_delta with the stop reason and usage, and message_stop) for what OpenAI-compatible servers
send: text, and each tool call's arguments in one run; arguments that came back to an earlier tool call
after other content would go to that call's block index. Usage comes from the upstream's usage chunk
(the translated request asks for one with stream_options.include_usage).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from router.dispatch.sse import EventSplitter, parse_event
from router.errors import UpstreamError, anthropic_sse_error_event
from router.protocol.anthropic_messages import stop_of, usage_of_chat

OPENAI_ERROR_EVENT = b'data: {"error":'  # how router.errors.sse_error_event starts an error event


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def event(kind: bytes, data: dict[str, Any]) -> bytes:
    return b"event: " + kind + b"\ndata: " + orjson.dumps(data) + b"\n\n"


PING = event(b"ping", {"type": "ping"})
TEXT_DELTA_HEAD = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
TEXT_DELTA_MID = b',"delta":{"type":"text_delta","text":'


class EventTranslator:
    """Feed chat SSE bytes in any chunking; get Messages stream events back (bytes, maybe empty)."""

    def __init__(self, model: str, stop_sequences: list[str] | None = None) -> None:
        self.model = model
        self.stop_sequences = stop_sequences
        self.done = False
        self._splitter = EventSplitter()
        self._started = False
        self._open: str | None = None  # the open content block: "text" or "tool"
        self._index = -1
        self._tools: dict[int, int] = {}  # chat tool_call index -> content block index
        self._stop: tuple[str, str | None] = ("end_turn", None)
        self._usage: dict[str, int] | None = None
        self._deltas = 0

    def _payloads(self, chunk: bytes) -> list[bytes]:
        # the common case, one whole `data:` event per chunk, without the splitter's buffering
        whole = chunk.startswith(b"data: ") and chunk.endswith(b"\n\n") and chunk.find(b"\n") == len(chunk) - 2
        if whole and self._splitter.empty:
            return [chunk[6:-2]]
        return self._splitter.feed(chunk)

    def feed(self, chunk: bytes) -> bytes:
        out: list[bytes] = []
        for payload in self._payloads(chunk):
            if self.done:
                break
            if payload == b"[DONE]":
                out.append(self.finish())
                continue
            data = parse_event(payload)
            if data is None:
                continue
            if "error" in data:
                out.append(self._error(data["error"]))
                continue
            self._chunk(data, out)
        return b"".join(out)

    def _start(self, data: dict[str, Any], out: list[bytes]) -> None:
        self._started = True
        message: dict[str, Any] = {
            "id": f"msg_{data.get('id') or 'router'}",
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        out.append(event(b"message_start", {"type": "message_start", "message": message}))
        out.append(PING)

    def _block(self, kind: str, block: dict[str, Any], out: list[bytes]) -> None:
        self._close(out)
        self._index += 1
        self._open = kind
        out.append(event(b"content_block_start", {"type": "content_block_start", "index": self._index, "content_block": block}))

    def _close(self, out: list[bytes]) -> None:
        if self._open is not None:
            out.append(event(b"content_block_stop", {"type": "content_block_stop", "index": self._index}))
            self._open = None

    def _delta(self, index: int, delta: dict[str, Any], out: list[bytes]) -> None:
        self._deltas += 1
        out.append(event(b"content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))

    def _text(self, text: str, out: list[bytes]) -> None:
        """A text_delta event, written from a template (the bulk of every stream)."""
        self._deltas += 1
        out.append(b"%s%d%s%s}}\n\n" % (TEXT_DELTA_HEAD, self._index, TEXT_DELTA_MID, orjson.dumps(text)))

    def _chunk(self, data: dict[str, Any], out: list[bytes]) -> None:
        if not self._started:
            self._start(data, out)
        usage = data.get("usage")
        if usage:
            self._usage = usage_of_chat(usage)
        try:
            choice = data["choices"][0]
            delta = choice.get("delta") or {}
            text, calls, finish = delta.get("content"), delta.get("tool_calls"), choice.get("finish_reason")
        except (KeyError, IndexError, TypeError, AttributeError):  # not a chat chunk with a choice
            return
        if text and isinstance(text, str):
            if self._open != "text":
                self._block("text", {"type": "text", "text": ""}, out)
            self._text(text, out)
        if calls and isinstance(calls, list):
            for call in calls:
                if isinstance(call, dict):
                    self._tool_call(call, out)
        if finish:
            self._stop = stop_of(choice, self.stop_sequences)

    def _tool_call(self, call: dict[str, Any], out: list[bytes]) -> None:
        index = call.get("index")
        position = index if isinstance(index, int) else len(self._tools)
        function = _dict(call.get("function"))
        if position not in self._tools:
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{position}",
                "name": function.get("name") or "",
                "input": {},
            }
            self._block("tool", block, out)
            self._tools[position] = self._index
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            self._delta(self._tools[position], {"type": "input_json_delta", "partial_json": arguments}, out)

    def _error(self, error: Any) -> bytes:
        self.done = True
        message = error.get("message") if isinstance(error, dict) else None
        return anthropic_sse_error_event(UpstreamError(str(message or "upstream error")))

    def finish(self) -> bytes:
        """The closing events (also for a stream that ended without [DONE])."""
        if self.done:
            return b""
        self.done = True
        out: list[bytes] = []
        if not self._started:
            self._start({}, out)
        self._close(out)
        usage = self._usage or {"input_tokens": 0, "output_tokens": self._deltas}
        stop_reason, stop_sequence = self._stop
        delta = {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence}, "usage": usage}
        out.append(event(b"message_delta", delta))
        out.append(event(b"message_stop", {"type": "message_stop"}))
        return b"".join(out)


async def translated_events(stream: AsyncIterator[bytes], translator: EventTranslator) -> AsyncIterator[bytes]:
    """A chat completion stream as Messages stream events."""
    try:
        async for chunk in stream:
            out = translator.feed(chunk)
            if out:
                yield out
        tail = translator.finish()
        if tail:
            yield tail
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


async def native_events(stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """A native Messages stream unchanged, but for the gateway's own error events (a stalled or failed
    upstream), which relay writes in OpenAI's shape as whole chunks."""
    try:
        async for chunk in stream:
            if chunk.startswith(OPENAI_ERROR_EVENT):
                yield _rewrite_error(chunk)
                return
            yield chunk
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


def _rewrite_error(chunk: bytes) -> bytes:
    data = parse_event(chunk.split(b"\n", 1)[0][5:].strip()) or {}
    error = _dict(data.get("error"))
    return anthropic_sse_error_event(UpstreamError(str(error.get("message") or "upstream error")))
