"""Read a chat conversation the way the difficulty scorer should see it.

The scorer judges what the user asks, in the light of the conversation so far. Text that tools and agent
harnesses inject (tool results, function-call arguments, long file dumps pasted as code blocks) says
little about difficulty and would drown the signal, so it is left out of the scored text, while the
token count (for context windows and cost) still covers everything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_SCORED_CHARS = 16_000  # the scorer reads at most this much of the prompt (head and tail)
MAX_CONTEXT_CHARS = 4_000  # and this much of the earlier conversation (its most recent part)
_BULK_BLOCK = re.compile(r"```[^\n]*\n(?:[^\n]*\n){40,}?[^\n]*```", re.DOTALL)
_FILE_TAG = re.compile(r"<(file|document|context|tool_result)[^>]*>.{2000,}?</\1>", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ConversationView:
    prompt: str  # the latest user turn, as text
    context: str  # system prompt and earlier turns, bulky injected text removed
    all_text: str  # every text the model will read (for token counting), including tool results
    has_images: bool
    turns: int


def _part_text(content: Any, images: list[bool]) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, dict):
                kind = part.get("type")
                if kind in ("image_url", "input_image", "image"):
                    images.append(True)
                text = part.get("text")
                if isinstance(text, str):
                    texts.append(text)
            elif isinstance(part, str):
                texts.append(part)
        return "\n".join(texts)
    return ""


def _strip_bulk(text: str) -> str:
    text = _BULK_BLOCK.sub("[code block]", text)
    return _FILE_TAG.sub("[attached file]", text)


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return text[:half] + "\n…\n" + text[-half:]


def read_conversation(messages: list[Any]) -> ConversationView:
    """Never raises: anything that is not a well-formed message contributes no text."""
    images: list[bool] = []
    everything: list[str] = []
    scored: list[str] = []
    prompt = ""
    last_user = -1
    for i, msg in enumerate(messages):
        if isinstance(msg, dict) and msg.get("role") == "user":
            last_user = i
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            continue
        role = msg.get("role")
        text = _part_text(msg.get("content"), images)
        for call in msg.get("tool_calls") or ():
            if isinstance(call, dict) and isinstance(call.get("function"), dict):
                everything.append(str(call["function"].get("arguments", "")))
        everything.append(text)
        if role in ("tool", "function"):
            continue  # tool results count for size, never for difficulty
        if i == last_user:
            prompt = _strip_bulk(text)
        elif role in ("system", "developer", "user", "assistant"):
            scored.append(_strip_bulk(text))
    if last_user < 0 and scored:  # only a system message: judge what we have
        prompt = scored.pop()
    context = "\n".join(t for t in scored if t)
    return ConversationView(
        prompt=_clip(prompt, MAX_SCORED_CHARS),
        context=context[-MAX_CONTEXT_CHARS:],
        all_text="\n".join(everything),
        has_images=bool(images),
        turns=len(messages),
    )
