"""Server-sent events as OpenAI streams them: split raw bytes into events, whatever the chunking.

EventFramer cuts a byte stream at event boundaries (a blank line), so the gateway relays whole events
only and can end a stream cleanly at any point; it holds at most `max_event_bytes` of an unfinished
event and raises EventTooLarge beyond that. Each byte is scanned once: the cost is linear in the stream
whatever the chunking (re-splitting a growing buffer per chunk made one 80 MB event cost minutes).
EventSplitter also parses `data:` payloads, for the places that read a stream they otherwise pass on:
the cascade's judging window and the token meter.
"""

from __future__ import annotations

from typing import Any

import orjson

DONE = b"[DONE]"
MAX_EVENT_BYTES = 1024 * 1024  # the default cap of one event; policy: server.max_stream_event_bytes


class EventTooLarge(Exception):
    """An event grew past the cap without ending."""


class EventFramer:
    """Feed raw bytes; get back the complete events among them (CRLF made LF), in order."""

    def __init__(self, max_event_bytes: int | None = MAX_EVENT_BYTES) -> None:
        self._held = bytearray()
        self._cr = False  # the last chunk ended in CR: it may pair with an LF in the next one
        self._max = max_event_bytes

    def feed(self, chunk: bytes) -> bytes:
        if self._cr:
            chunk, self._cr = b"\r" + chunk, False
        if chunk.endswith(b"\r"):
            chunk, self._cr = chunk[:-1], True
        if b"\r\n" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n")
        if not self._held and chunk.endswith(b"\n\n") and not self._cr:
            return chunk  # the usual case: whole events in one chunk
        start = max(len(self._held) - 1, 0)  # a boundary may straddle the old bytes and the new
        self._held += chunk
        end = self._held.rfind(b"\n\n", start)
        if end < 0:
            out = b""
        else:
            out = bytes(self._held[: end + 2])
            del self._held[: end + 2]
        if self._max is not None and len(self._held) > self._max:
            raise EventTooLarge(f"a stream event grew past {self._max} bytes without ending")
        return out

    @property
    def empty(self) -> bool:
        return not self._held and not self._cr

    def rest(self) -> bytes:
        """What is held of an unfinished event (at the end of a stream)."""
        rest, self._held = bytes(self._held) + (b"\r" if self._cr else b""), bytearray()
        self._cr = False
        return rest


def payloads(events: bytes) -> list[bytes]:
    """The `data:` payloads of complete events (as EventFramer returns them)."""
    out = []
    for event in events.split(b"\n\n"):
        if b"data:" in event:
            data = [line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:")]
            if data:
                out.append(b"\n".join(data))
    return out


class EventSplitter:
    """Feed raw bytes; get back complete `data:` payloads (bytes), in order."""

    def __init__(self, max_event_bytes: int | None = None) -> None:
        self._framer = EventFramer(max_event_bytes)

    @property
    def empty(self) -> bool:
        """No partial event is held."""
        return self._framer.empty

    def feed(self, chunk: bytes) -> list[bytes]:
        events = self._framer.feed(chunk)
        return payloads(events) if events else []


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
