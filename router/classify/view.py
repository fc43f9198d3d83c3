"""Read a chat conversation the way the difficulty scorer should see it.

The scorer judges what the user asks, in the light of what they asked before. Text that tools and agent
harnesses inject (tool results, function-call arguments, long file dumps pasted as code blocks or
<file>/<document> tags, <system-reminder> notes) says little about difficulty and would drown the
signal, so it is left out of the judged text, while the token count (for context windows and cost)
still covers everything.

Cost is linear in the input and the judged text is bounded: each message is clipped to a head and a
tail before anything else reads it, and bulk is found with str.find scans that never restart from an
earlier position (no regex, so nothing can backtrack).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_SCORED_CHARS = 16_000  # the judged prompt: at most this much (head and tail) of the latest turn
MAX_CONTEXT_CHARS = 4_000  # and this much of the earlier conversation (its most recent part)
MAX_HISTORY_CHARS = 2_000  # and this much of the user's earlier turns
BULK_LINES = 40  # a fenced code block longer than this is a dump, not the question
BULK_CHARS = 2_000  # a <file>-like tag holding more than this is an attachment
MAX_ELEMENTS = 64  # fences or tags looked at per message and kind: past that, the rest is left as it is
SNIPPET = "[snippet]"  # what stands in for removed text: words no lexicon holds, so they weigh nothing
ATTACHMENT = "[attachment]"
_ATTACHMENT_TAGS = ("file", "document", "context", "tool_result", "attachment")
_NOTE_TAGS = ("system-reminder", "system_reminder", "env", "environment_details")  # harness notes, any size


@dataclass(frozen=True, slots=True)
class ConversationView:
    prompt: str  # the latest user turn, as judged text
    context: str  # system prompt and earlier turns, bulky injected text removed
    all_text: str  # every text the model will read (for token counting), including tool results
    has_images: bool
    turns: int
    history: str = ""  # the user's earlier turns (most recent last), judged text


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


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return text[:half] + "\n…\n" + text[-half:]


def _strip_fences(text: str) -> str:
    """Fenced code blocks of more than BULK_LINES lines become SNIPPET; an unclosed fence that long is cut
    at its start. One forward pass of str.find."""
    out: list[str] = []
    pos = 0
    for _ in range(MAX_ELEMENTS):
        start = text.find("```", pos)
        if start < 0:
            break
        end = text.find("```", start + 3)
        stop = len(text) if end < 0 else end + 3
        if text.count("\n", start, stop) > BULK_LINES:
            out.append(text[pos:start])
            out.append(SNIPPET)
        else:
            out.append(text[pos:stop])
        pos = stop
    out.append(text[pos:])
    return "".join(out)


def _strip_tag(text: str, lower: str, name: str, min_chars: int) -> tuple[str, str]:
    """Elements <name ...>...</name> holding more than `min_chars` become ATTACHMENT. An opening
    tag without a closing one ends the scan: no later opening can close either, so nothing is searched
    twice."""
    opening, closing = "<" + name, "</" + name + ">"
    if opening not in lower:
        return text, lower
    out: list[str] = []
    low_out: list[str] = []
    pos = 0
    for _ in range(MAX_ELEMENTS):
        start = lower.find(opening, pos)
        if start < 0:
            break
        end = lower.find(closing, start)
        if end < 0:
            break
        stop = end + len(closing)
        keep = stop - start - len(opening) - len(closing) <= min_chars
        for buf, src in ((out, text), (low_out, lower)):
            buf.append(src[pos:start])
            buf.append(src[start:stop] if keep else ATTACHMENT)
        pos = stop
    out.append(text[pos:])
    low_out.append(lower[pos:])
    return "".join(out), "".join(low_out)


def judged_text(text: str, limit: int) -> str:
    """What the scorer reads of one message: clipped to `limit` first, then bulk and notes removed."""
    text = _strip_fences(_clip(text, limit))
    if "<" not in text:
        return text
    lower = text.lower()
    if len(lower) != len(text):  # a few characters change length when lower-cased: keep offsets exact
        return text
    for name in _NOTE_TAGS:
        text, lower = _strip_tag(text, lower, name, 0)
    for name in _ATTACHMENT_TAGS:
        text, lower = _strip_tag(text, lower, name, BULK_CHARS)
    return text


def _tool_call_text(calls: object) -> list[str]:
    if not isinstance(calls, list):
        return []  # a malformed field never fails reading (validation answers it with 400 elsewhere)
    return [
        str(call["function"].get("arguments", ""))
        for call in calls
        if isinstance(call, dict) and isinstance(call.get("function"), dict)
    ]


def read_conversation(messages: list[Any]) -> ConversationView:
    """Never raises: anything that is not a well-formed message contributes no text."""
    images: list[bool] = []
    everything: list[str] = []
    scored: list[str] = []
    asked: list[str] = []  # earlier user turns
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
        everything.extend(_tool_call_text(msg.get("tool_calls")))
        everything.append(text)
        if role in ("tool", "function"):
            continue  # tool results count for size, never for difficulty
        if i == last_user:
            prompt = judged_text(text, MAX_SCORED_CHARS)
        elif role in ("system", "developer", "user", "assistant"):
            # only the most recent part of the earlier conversation is kept: clip each turn hard
            judged = judged_text(text, MAX_CONTEXT_CHARS)
            scored.append(judged)
            if role == "user":
                asked.append(judged[-MAX_HISTORY_CHARS:])
    if last_user < 0 and scored:  # only a system message: judge what we have
        prompt = scored.pop()
    context = "\n".join(t for t in scored if t)
    history = "\n".join(t for t in asked if t)
    return ConversationView(
        prompt=prompt,
        context=context[-MAX_CONTEXT_CHARS:],
        all_text="\n".join(everything),
        has_images=bool(images),
        turns=len(messages),
        history=history[-MAX_HISTORY_CHARS:],
    )
