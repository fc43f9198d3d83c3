"""Token counting with tiktoken, offline.

tiktoken downloads encodings at first use; litellm's wheel ships them, so the counter points tiktoken's
cache at that directory (found without importing litellm, whose import is slow). Very long texts are
counted exactly up to a cap; beyond it a head and a tail are counted and the rate extrapolated to the whole
length, so a megabyte prompt costs no more than a page (the estimate is within a few percent on prose and
code; token limits and context-window checks read it as such).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import tiktoken

EXACT_CHARS = 1_500
SAMPLE_CHARS = 500  # head and tail counted for a longer text
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
        sampled = len(self._enc.encode_ordinary(text[:SAMPLE_CHARS])) + len(self._enc.encode_ordinary(text[-SAMPLE_CHARS:]))
        return int(sampled * len(text) / (2 * SAMPLE_CHARS))

    def count_chat(self, all_text: str, turns: int) -> int:
        return self.count(all_text) + PER_MESSAGE_OVERHEAD * turns + 3
