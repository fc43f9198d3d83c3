"""The SSE framer: the same events whatever the chunking, a cap on an unfinished event, one scan per byte."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.dispatch.sse import EventFramer, EventSplitter, EventTooLarge

STREAM = b'data: {"a": 1}\r\n\r\n: keep-alive\n\ndata: {"b":\ndata: 2}\n\nevent: x\ndata: [DONE]\n\n'
EXPECTED = [b'{"a": 1}', b'{"b":\n2}', b"[DONE]"]


@settings(derandomize=True, max_examples=300)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(bounds)]
    splitter = EventSplitter()
    assert [p for chunk in chunks for p in splitter.feed(chunk)] == EXPECTED
    framer = EventFramer()
    framed = b"".join(framer.feed(chunk) for chunk in chunks)
    assert framed == STREAM.replace(b"\r\n", b"\n") and framer.rest() == b""


def test_whole_events_only_and_the_rest_at_the_end() -> None:
    framer = EventFramer()
    assert framer.feed(b"data: 1\n\ndata: 2") == b"data: 1\n\n"
    assert framer.feed(b"2\n") == b""
    assert framer.rest() == b"data: 22\n"


def test_an_unfinished_event_past_the_cap_is_refused() -> None:
    framer = EventFramer(max_event_bytes=1000)
    framer.feed(b"data: " + b"a" * 900)
    with pytest.raises(EventTooLarge):
        framer.feed(b"a" * 200)


def test_a_giant_event_is_scanned_once() -> None:
    # 20,000 chunks of one unfinished 20 MB event: re-splitting the buffer per chunk would scan ~200 GB
    framer = EventFramer(max_event_bytes=None)
    piece = b"a" * 1000
    for _ in range(20_000):
        assert framer.feed(piece) == b""
    assert framer.feed(b"\n\n").endswith(b"a\n\n")
