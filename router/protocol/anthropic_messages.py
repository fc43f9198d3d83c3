"""Anthropic's Messages API <-> OpenAI chat completions, so /v1/messages rides the chat pipeline.

    to_chat(request)        Messages request (checked by anthropic_checks) -> chat completions body
    to_message(reply, ...)  chat completion -> Message object
    EventTranslator         chat completion SSE chunks -> Messages stream events
    native_events(stream)   a natively passed-through Messages stream, with the gateway's own mid-stream
                            error events rewritten into Anthropic's `error` event

Pure functions over parsed JSON, no I/O. The chat body is built from the fields named here only, so
nothing else in a client's body reaches a translated upstream. Mapping: system -> a system message;
tool_result blocks -> tool messages (placed first, as chat needs them right after the assistant's
tool calls); tool_use -> tool_calls; images -> image_url parts (data: URLs for base64); stop_sequences
-> stop; tool_choice any -> required; finish_reason stop/length/tool_calls -> end_turn/max_tokens/tool_use.
Thinking blocks and server tools (web search, ...) have no chat form and are left out of translation.
Streams keep Anthropic's order (a block opens, gets its deltas, closes, then the next) for what
OpenAI-compatible servers send: text, and each tool call's arguments in one run; arguments that came
back to an earlier tool call after other content would go to that call's block index.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from router.dispatch.sse import EventSplitter, parse_event
from router.errors import BadRequest, UpstreamError, anthropic_sse_error_event

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
OPENAI_ERROR_EVENT = b'data: {"error":'  # how router.errors.sse_error_event starts an error event


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _json(value: Any, where: str) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        raise BadRequest(f"{where}: nested too deeply", param=where) from None


def _image(source: dict[str, Any]) -> dict[str, Any]:
    if source["type"] == "url":
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    return {"type": "image_url", "image_url": {"url": f"data:{source['media_type']};base64,{source['data']}"}}


def _part(block: dict[str, Any]) -> dict[str, Any] | None:
    """A user content block as a chat content part (None: no chat form)."""
    kind = block["type"]
    if kind == "text":
        return {"type": "text", "text": block["text"]}
    if kind == "image":
        return _image(block["source"])
    if kind == "document":
        source = block["source"]
        if source["type"] == "text":
            return {"type": "text", "text": source["data"]}
        if source["type"] == "base64":
            data = f"data:{source['media_type']};base64,{source['data']}"
            return {"type": "file", "file": {"filename": block.get("title") or "document", "file_data": data}}
        return {"type": "text", "text": source["url"]}
    return None


def _tool_content(content: Any) -> tuple[str, list[dict[str, Any]]]:
    """A tool_result's content: its text for the tool message, and images to show in a user message."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    texts, media = [], []
    for block in content:
        part = _part(block)
        if part is None:
            continue
        if part["type"] == "text":
            texts.append(part["text"])
        else:
            media.append(part)
    return "\n".join(texts), media


def _user(content: list[dict[str, Any]], out: list[dict[str, Any]]) -> None:
    parts: list[dict[str, Any]] = []
    for block in content:
        if block["type"] == "tool_result":
            text, media = _tool_content(block.get("content"))
            out.append({"role": "tool", "tool_call_id": block["tool_use_id"], "content": text})
            parts.extend(media)
        else:
            part = _part(block)
            if part is not None:
                parts.append(part)
    if parts:
        if all(p["type"] == "text" for p in parts) and len(parts) == 1:
            out.append({"role": "user", "content": parts[0]["text"]})
        else:
            out.append({"role": "user", "content": parts})


def _assistant(content: list[dict[str, Any]], where: str, out: list[dict[str, Any]]) -> None:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        if block["type"] == "text":
            texts.append(block["text"])
        elif block["type"] == "tool_use":
            arguments = _json(block["input"], f"{where}.content.{j}.input")
            calls.append({"id": block["id"], "type": "function", "function": {"name": block["name"], "arguments": arguments}})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    out.append(message)


def _system_text(system: Any) -> str | None:
    if system is None or isinstance(system, str):
        return system or None
    return "\n".join(block["text"] for block in system) or None


def _tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, tool in enumerate(tools):
        if tool.get("type") not in (None, "custom"):
            continue
        function = {"name": tool["name"], "parameters": tool["input_schema"]}
        _json(tool["input_schema"], f"tools.{i}.input_schema")
        if tool.get("description"):
            function["description"] = tool["description"]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: dict[str, Any]) -> Any:
    kind = choice["type"]
    if kind == "tool":
        return {"type": "function", "function": {"name": choice["name"]}}
    return {"auto": "auto", "any": "required", "none": "none"}[kind]


def to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """The chat completions body for a checked Messages request."""
    messages: list[dict[str, Any]] = []
    system = _system_text(body.get("system"))
    if system is not None:
        messages.append({"role": "system", "content": system})
    for i, message in enumerate(body["messages"]):
        content = message["content"]
        if isinstance(content, str):
            messages.append({"role": message["role"], "content": content})
        elif message["role"] == "user":
            _user(content, messages)
        else:
            _assistant(content, f"messages.{i}", messages)
    chat: dict[str, Any] = {"model": body["model"], "messages": messages}
    if body.get("max_tokens") is not None:
        chat["max_tokens"] = body["max_tokens"]
    for field in ("temperature", "top_p", "top_k"):
        if body.get(field) is not None:
            chat[field] = body[field]
    if body.get("stop_sequences"):
        chat["stop"] = body["stop_sequences"]
    tools = _tools(body["tools"]) if body.get("tools") else []
    if tools:
        chat["tools"] = tools
        choice = body.get("tool_choice")
        if choice is not None:
            chat["tool_choice"] = _tool_choice(choice)
            if choice.get("disable_parallel_tool_use") is True:
                chat["parallel_tool_calls"] = False
    user = (body.get("metadata") or {}).get("user_id")
    if isinstance(user, str):
        chat["user"] = user
    if body.get("stream") is True:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat


def _arguments(text: Any) -> dict[str, Any]:
    try:
        value = orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _stop(choice: dict[str, Any], stop_sequences: list[str] | None) -> tuple[str, str | None]:
    """(stop_reason, stop_sequence); vLLM names the stop string that ended the text in `stop_reason`."""
    matched = choice.get("stop_reason")
    if stop_sequences and isinstance(matched, str) and matched in stop_sequences:
        return "stop_sequence", matched
    return STOP_REASONS.get(choice.get("finish_reason") or "stop", "end_turn"), None


def _usage(usage: Any) -> dict[str, int]:
    usage = usage if isinstance(usage, dict) else {}
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return {
        "input_tokens": prompt if isinstance(prompt, int) else 0,
        "output_tokens": completion if isinstance(completion, int) else 0,
    }


def to_message(reply: dict[str, Any], model: str, stop_sequences: list[str] | None = None) -> dict[str, Any]:
    """The Message object for a chat completion; `model` is the name the client asked for."""
    choices = reply.get("choices")
    choice = _dict(choices[0]) if isinstance(choices, list) and choices else {}
    message = _dict(choice.get("message"))
    content: list[dict[str, Any]] = []
    if message.get("content"):
        content.append({"type": "text", "text": str(message["content"])})
    for i, call in enumerate(message.get("tool_calls") or ()):
        function = _dict(call).get("function")
        if isinstance(function, dict):
            input_ = _arguments(function.get("arguments"))
            content.append(
                {"type": "tool_use", "id": call.get("id") or f"toolu_{i}", "name": function.get("name"), "input": input_}
            )
    stop_reason, stop_sequence = _stop(choice, stop_sequences)
    return {
        "id": f"msg_{reply.get('id') or 'router'}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": _usage(reply.get("usage")),
    }


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
            self._usage = _usage(usage)
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
            self._stop = _stop(choice, self.stop_sequences)

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
