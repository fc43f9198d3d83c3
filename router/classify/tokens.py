"""Token counting with tiktoken, offline.

tiktoken downloads encodings at first use; litellm's wheel ships them, so the counter points tiktoken's
cache at that directory (found without importing litellm, whose import is slow). Very long texts are
counted exactly up to a cap and extrapolated beyond it, so a megabyte prompt costs no more than a page.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import tiktoken

EXACT_CHARS = 48_000
PER_MESSAGE_OVERHEAD = 4  # role and separators, as OpenAI's chat format counts them


def _bundled_cache_dir() -> str | None:
    spec = importlib.util.find_spec("litellm")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "litellm_core_utils" / "tokenizers"
    return str(path) if path.is_dir() else None


class TokenCounter:
    """Counts tokens of text with one encoding (o200k_base by default: GPT-4o's)."""

    def __init__(self, encoding: str = "o200k_base") -> None:
        if "TIKTOKEN_CACHE_DIR" not in os.environ and "DATA_GYM_CACHE_DIR" not in os.environ:
            bundled = _bundled_cache_dir()
            if bundled:
                os.environ["TIKTOKEN_CACHE_DIR"] = bundled
        self._enc = tiktoken.get_encoding(encoding)

    def count(self, text: str) -> int:
        if len(text) <= EXACT_CHARS:
            return len(self._enc.encode_ordinary(text))
        head = len(self._enc.encode_ordinary(text[:EXACT_CHARS]))
        return int(head * len(text) / EXACT_CHARS)

    def count_chat(self, all_text: str, turns: int) -> int:
        return self.count(all_text) + PER_MESSAGE_OVERHEAD * turns + 3
