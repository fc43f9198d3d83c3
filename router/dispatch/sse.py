"""Server-sent events as OpenAI streams them: split raw bytes into `data:` events, whatever the chunking.

Used where the gateway must read a stream it otherwise passes through untouched: the cascade's judging
window, and token accounting of streams.
"""

from __future__ import annotations

from typing import Any

import orjson

DONE = b"[DONE]"


class EventSplitter:
    """Feed raw bytes; get back complete `data:` payloads (bytes), in order."""

    def __init__(self) -> None:
        self._buffer = b""

    @property
    def empty(self) -> bool:
        """No partial event is held."""
        return not self._buffer

    def feed(self, chunk: bytes) -> list[bytes]:
        self._buffer += chunk.replace(b"\r\n", b"\n")
        *events, self._buffer = self._buffer.split(b"\n\n")
        out = []
        for event in events:
            data = [line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:")]
            if data:
                out.append(b"\n".join(data))
        return out


def parse_event(payload: bytes) -> dict[str, Any] | None:
    """The JSON object of one event; None for [DONE] and anything that is not a JSON object."""
    if payload == DONE:
        return None
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def encode_event(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"
