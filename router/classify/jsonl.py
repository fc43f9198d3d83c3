"""JSONL input of the classifier tools (train, eval, calibrate): one item per usable line, and one
`file:line: message` per line that is not (bad JSON, wrong shape, unreadable file as line 0)."""

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
