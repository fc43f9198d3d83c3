"""JSONL input of the classifier tools (train, eval, calibrate): one item per usable line, and one
`file:line: message` per line that is not (bad JSON, wrong shape, unreadable file as line 0).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def read_jsonl(paths: Iterable[Path], parse: Callable[[object], T]) -> tuple[list[T], list[str]]:
    """`parse` of each non-blank line's JSON value; a ValueError from it becomes that line's message."""
    items: list[T] = []
    errors: list[str] = []
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                for lineno, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                    except (ValueError, RecursionError) as exc:
                        errors.append(f"{path}:{lineno}: invalid JSON: {exc}")
                        continue
                    try:
                        items.append(parse(obj))
                    except ValueError as exc:
                        errors.append(f"{path}:{lineno}: {exc}")
        except OSError as exc:
            errors.append(f"{path}:0: {exc.strerror or exc}")
    return items, errors


def prompt_of(obj: object) -> tuple[str, str] | None:
    """(prompt, context) of a JSONL input row: `{"prompt": ...}` or a chat request `{"messages": [...]}`.

    For chat, the prompt is the text of the last user message and the context is the text of the
    messages before it. Returns None when the row holds neither shape.
    """
    if not isinstance(obj, dict):
        return None
    prompt = obj.get("prompt")
    if isinstance(prompt, str):
        return prompt, ""
    messages = obj.get("messages")
    if not isinstance(messages, list):
        return None
    texts = [(m.get("role"), _content_text(m.get("content"))) for m in messages if isinstance(m, dict)]
    for i in range(len(texts) - 1, -1, -1):
        if texts[i][0] == "user":
            return texts[i][1], "\n".join(t for _, t in texts[:i] if t)
    return None


def _content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts: keep the text ones
        return "\n".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""
