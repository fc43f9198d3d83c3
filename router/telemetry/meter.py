"""Counting what a request used: usage from the upstream's answer, else tiktoken over what was sent.

StreamMeter watches a passing SSE stream without changing it: it notes the first content chunk (time to
first token), the upstream's usage block if one comes, and the streamed text, so a stream cut short by
the client or the upstream is still accounted from what was actually sent.
"""

from __future__ import annotations

import time
from typing import Any

from router.dispatch.sse import EventSplitter, parse_event
from router.policy.schema import ModelSpec

RESPONSE_DONE = frozenset({"response.completed", "response.incomplete", "response.failed"})


def usage_of(data: dict[str, Any]) -> tuple[int, int] | None:
    """(prompt, completion) tokens of a chat answer or chunk, or of a Responses-API response or event."""
    if isinstance(data.get("response"), dict):  # a Responses-API stream event
        data = data["response"]
    usage = data.get("usage")
    if not isinstance(usage, dict):
        return None
    if "input_tokens" in usage:
        prompt, completion = usage.get("input_tokens"), usage.get("output_tokens", 0)
    else:
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens", 0)
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return prompt, completion


def _response_text(data: dict[str, Any]) -> str:
    kind = data.get("type")
    if kind in ("response.output_text.delta", "response.function_call_arguments.delta"):
        return str(data.get("delta") or "")
    parts = []
    for item in data.get("output") or []:
        if isinstance(item, dict):
            if item.get("type") == "function_call":
                parts.append(str(item.get("arguments") or ""))
            for part in item.get("content") or []:
                if isinstance(part, dict) and part.get("type") == "output_text":
                    parts.append(str(part.get("text") or ""))
    return "".join(parts)


def text_of(data: dict[str, Any]) -> str:
    """The generated text (and tool-call arguments) of a chat answer or chunk, or of a Responses-API answer."""
    if "choices" not in data:
        return _response_text(data)
    parts = []
    for choice in data.get("choices") or []:
        if isinstance(choice, dict):
            message = choice.get("message") or choice.get("delta") or {}
            parts.append(str(message.get("content") or choice.get("text") or ""))
            for call in message.get("tool_calls") or []:
                if isinstance(call, dict) and isinstance(call.get("function"), dict):
                    parts.append(str(call["function"].get("arguments") or ""))
    return "".join(parts)


def cost_usd(model: ModelSpec, prompt_tokens: int, completion_tokens: int) -> float:
    return (prompt_tokens * model.price.input_per_mtok + completion_tokens * model.price.output_per_mtok) / 1e6


class StreamMeter:
    def __init__(self, started: float) -> None:
        self.started = started
        self.first_content: float | None = None
        self.usage: tuple[int, int] | None = None
        self.finished = False
        self._splitter = EventSplitter()
        self._text: list[str] = []

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
            self.usage = usage_of(event) or self.usage

    @property
    def text(self) -> str:
        return "".join(self._text)

    @property
    def ttft_s(self) -> float | None:
        return None if self.first_content is None else self.first_content - self.started
