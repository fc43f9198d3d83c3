"""Counting what a request used: usage from the upstream's answer, else tiktoken over what was sent.

StreamMeter watches a passing SSE stream without changing it: it notes the first content chunk (time to
first token), the upstream's usage block if one comes, and counts the streamed text as it goes, so a
stream cut short by the client or the upstream is still accounted from what was actually sent. It keeps
at most TEXT_BATCH characters of text: a stream of any length costs the meter the same memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from router.dispatch.sse import EventSplitter, parse_event

RESPONSE_DONE = frozenset({"response.completed", "response.incomplete", "response.failed"})


def _anthropic_usage(usage: dict[str, Any]) -> tuple[int | None, int | None]:
    """input/output usage (Responses API, Anthropic); Anthropic counts cached input apart, and a stream's
    message_delta may omit the input."""
    inputs = [usage.get(k) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")]
    counted = [n for n in inputs if isinstance(n, int)]
    output = usage.get("output_tokens")
    return (sum(counted) if isinstance(inputs[0], int) else None), (output if isinstance(output, int) else None)


def usage_of(data: dict[str, Any]) -> tuple[int, int] | None:
    """(prompt, completion) tokens of a chat answer or chunk, of a Responses-API response or event, or of
    an Anthropic message or message_start."""
    if isinstance(data.get("response"), dict):  # a Responses-API stream event
        data = data["response"]
    usage = data.get("usage")
    if usage is None and isinstance(data.get("message"), dict):
        usage = data["message"].get("usage")  # Anthropic's message_start
    if not isinstance(usage, dict):
        return None
    if "prompt_tokens" not in usage and "input_tokens" in usage:  # the Responses API's names, and Anthropic's
        prompt, output = _anthropic_usage(usage)
        return None if prompt is None else (prompt, output or 0)
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens", 0)
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return prompt, completion


def _anthropic_text(data: dict[str, Any]) -> str:
    """Text and tool input of an Anthropic message, or of one content_block_delta event."""
    delta = data.get("delta")
    if isinstance(delta, dict):
        return str(delta.get("text") or delta.get("partial_json") or "")
    parts = []
    for block in data.get("content") or ():
        if isinstance(block, dict):
            parts.append(str(block.get("text") or (block.get("input") if block.get("type") == "tool_use" else "") or ""))
    return "".join(parts)


def _response_text(data: dict[str, Any]) -> str:
    kind = data.get("type")
    if kind in ("response.output_text.delta", "response.function_call_arguments.delta"):
        return str(data.get("delta") or "")
    parts = []
    output = data.get("output")
    for item in output if isinstance(output, list) else ():
        if isinstance(item, dict):
            if item.get("type") == "function_call":
                parts.append(str(item.get("arguments") or ""))
            content = item.get("content")
            for part in content if isinstance(content, list) else ():
                if isinstance(part, dict) and part.get("type") == "output_text":
                    parts.append(str(part.get("text") or ""))
    return "".join(parts)


def text_of(data: dict[str, Any]) -> str:
    """The generated text (and tool-call arguments) of a chat answer or chunk, of a Responses-API answer
    or event, or of an Anthropic message or content_block_delta; whatever an upstream sends, never raises."""
    if "choices" not in data:
        return _anthropic_text(data) if data.get("type") in ("message", "content_block_delta") else _response_text(data)
    parts = []
    choices = data.get("choices")
    for choice in choices if isinstance(choices, list) else ():
        if isinstance(choice, dict):
            message = choice.get("message") or choice.get("delta")
            message = message if isinstance(message, dict) else {}
            parts.append(str(message.get("content") or choice.get("text") or ""))
            calls = message.get("tool_calls")
            for call in calls if isinstance(calls, list) else ():
                if isinstance(call, dict) and isinstance(call.get("function"), dict):
                    parts.append(str(call["function"].get("arguments") or ""))
    return "".join(parts)


TEXT_BATCH = 64 * 1024  # characters of streamed text held before they are counted and dropped


class StreamMeter:
    def __init__(self, started: float, count: Callable[[str], int]) -> None:
        self.started = started
        self.first_content: float | None = None
        self.usage: tuple[int, int] | None = None
        self.finished = False
        self._splitter = EventSplitter()
        self._count = count
        self._text: list[str] = []
        self._held = 0  # characters in _text
        self._counted = 0  # tokens of the text already dropped

    def feed(self, chunk: bytes) -> None:
        for payload in self._splitter.feed(chunk):
            if payload == b"[DONE]":
                self.finished = True
                continue
            event = parse_event(payload)
            if event is None:
                continue
            if "error" in event:
                continue
            if event.get("type") in RESPONSE_DONE:
                self.finished = True
            text = text_of(event)
            if text:
                if self.first_content is None:
                    self.first_content = time.perf_counter()
                self._text.append(text)
                self._held += len(text)
                if self._held >= TEXT_BATCH:
                    self._counted += self._count("".join(self._text))
                    self._text, self._held = [], 0
            if event.get("type") in ("message_delta", "message_stop"):
                self._anthropic_end(event)
            else:
                self.usage = usage_of(event) or self.usage

    def _anthropic_end(self, event: dict[str, Any]) -> None:
        """An Anthropic stream's message_delta carries the final output count (input only sometimes)."""
        self.finished = self.finished or event["type"] == "message_stop"
        usage = event.get("usage")
        if isinstance(usage, dict):
            prompt, output = _anthropic_usage(usage)
            before = self.usage or (0, 0)
            self.usage = (before[0] if prompt is None else prompt, before[1] if output is None else output)

    def text_tokens(self) -> int:
        """Tokens of the streamed text (counted in batches: an estimate when the upstream sent no usage)."""
        return self._counted + (self._count("".join(self._text)) if self._text else 0)

    @property
    def ttft_s(self) -> float | None:
        return None if self.first_content is None else self.first_content - self.started
