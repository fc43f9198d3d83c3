"""The Messages <-> chat translation as pure functions: request mapping, reply mapping, and the stream
translator's independence from how the upstream's bytes are chunked."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.errors import BadRequest, NotFound, RateLimited, RouterError, Unauthorized, UpstreamError, anthropic_error_parts
from router.protocol.anthropic_checks import check_messages
from router.protocol.anthropic_messages import to_chat, to_message
from router.protocol.anthropic_stream import EventTranslator
from router.telemetry.meter import StreamMeter, text_of, usage_of


def test_tool_results_come_first_and_become_tool_messages() -> None:
    body = {
        "model": "m",
        "max_tokens": 9,
        "messages": [
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "s"},
                    {"type": "text", "text": "let me look"},
                    {"type": "tool_use", "id": "t1", "name": "a", "input": {"x": 1}},
                    {"type": "tool_use", "id": "t2", "name": "b", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "here you go"},
                    {"type": "tool_result", "tool_use_id": "t1", "content": "one"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "t2",
                        "is_error": True,
                        "content": [
                            {"type": "text", "text": "two"},
                            {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                        ],
                    },
                ],
            },
        ],
    }
    check_messages(body)
    messages = to_chat(body)["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": "let me look",  # thinking has no chat form
        "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "a", "arguments": '{"x":1}'}},
            {"id": "t2", "type": "function", "function": {"name": "b", "arguments": "{}"}},
        ],
    }
    assert messages[2:] == [
        {"role": "tool", "tool_call_id": "t1", "content": "one"},
        {"role": "tool", "tool_call_id": "t2", "content": "two"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "here you go"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
        },
    ]


def test_documents_server_tools_and_choices() -> None:
    body = {
        "model": "m",
        "max_tokens": 9,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc text"}},
                    {
                        "type": "document",
                        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"},
                        "title": "a.pdf",
                    },
                ],
            }
        ],
        "tools": [{"type": "web_search_20250305", "name": "web_search"}, {"name": "f", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "auto"},
        "thinking": {"type": "enabled", "budget_tokens": 100},
        "service_tier": "auto",
    }
    check_messages(body)
    chat = to_chat(body)
    assert chat["messages"][0]["content"] == [
        {"type": "text", "text": "doc text"},
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBE"}},
    ]
    assert chat["tools"] == [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    assert chat["tool_choice"] == "auto"
    assert set(chat) == {"model", "messages", "max_tokens", "tools", "tool_choice"}  # nothing unknown is carried


@pytest.mark.parametrize(("kind", "expected"), [("auto", "auto"), ("any", "required"), ("none", "none")])
def test_tool_choice(kind: str, expected: str) -> None:
    body = {
        "model": "m",
        "max_tokens": 1,
        "messages": [{"role": "user", "content": "x"}],
        "tools": [{"name": "f", "input_schema": {}}],
        "tool_choice": {"type": kind},
    }
    assert to_chat(body)["tool_choice"] == expected


@pytest.mark.parametrize(("depth", "refused"), [(99, False), (100, True), (5000, True)])
def test_deep_free_form_json_is_a_bad_request(depth: int, refused: bool) -> None:
    deep: Any = 1
    for _ in range(depth):
        deep = [deep]
    for body, field in (
        (
            {
                "messages": [
                    {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {"a": deep}}]}
                ]
            },
            "messages.0.content.0.input",
        ),
        (
            {"messages": [{"role": "user", "content": "x"}], "tools": [{"name": "f", "input_schema": {"a": deep}}]},
            "tools.0.input_schema",
        ),
        ({"messages": [{"role": "user", "content": "x"}], "metadata": {"a": deep}}, "metadata"),
    ):
        if not refused:
            check_messages({"model": "m", "max_tokens": 1, **body})
            continue
        with pytest.raises(BadRequest) as info:
            check_messages({"model": "m", "max_tokens": 1, **body})
        assert info.value.param == field


def test_lone_surrogates_in_tool_input_are_written_escaped() -> None:
    body = {
        "model": "m",
        "max_tokens": 1,
        "messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {"s": "\ud83d"}}]}],
    }
    assert to_chat(body)["messages"][0]["tool_calls"][0]["function"]["arguments"] == '{"s":"\\ud83d"}'


@pytest.mark.parametrize(
    ("finish", "stop_reason"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("content_filter", "refusal"),
        (None, "end_turn"),
    ],
)
def test_stop_reasons(finish: str | None, stop_reason: str) -> None:
    reply = {
        "id": "c1",
        "choices": [{"message": {"content": "hi"}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
    message = to_message(reply, "auto")
    assert message["stop_reason"] == stop_reason
    assert message["usage"] == {"input_tokens": 3, "output_tokens": 1}
    assert message["content"] == [{"type": "text", "text": "hi"}]


def test_stop_sequence_named_by_vllm() -> None:
    reply = {"choices": [{"message": {"content": "a"}, "finish_reason": "stop", "stop_reason": "END"}]}
    message = to_message(reply, "auto", ["END"])
    assert (message["stop_reason"], message["stop_sequence"]) == ("stop_sequence", "END")


def test_unparseable_tool_arguments_give_an_empty_input() -> None:
    reply = {
        "choices": [
            {
                "message": {"tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{oops"}}]},
                "finish_reason": "tool_calls",
            }
        ]
    }
    assert to_message(reply, "m")["content"] == [{"type": "tool_use", "id": "c", "name": "f", "input": {}}]


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (BadRequest("x"), 400, "invalid_request_error"),
        (Unauthorized("x"), 401, "authentication_error"),
        (NotFound("x"), 404, "not_found_error"),
        (RateLimited("x"), 429, "rate_limit_error"),
        (UpstreamError("x"), 502, "api_error"),
        (RouterError("x"), 500, "api_error"),
    ],
)
def test_anthropic_error_types(error: RouterError, status: int, kind: str) -> None:
    code, headers, body = anthropic_error_parts(error, {"x-request-id": "r1"})
    assert code == status and headers["request-id"] == "r1"
    assert orjson.loads(body) == {"type": "error", "error": {"type": kind, "message": "x"}, "request_id": "r1"}


# --- the stream translator ----------------------------------------------------------------------------

Piece = tuple[str, str]  # ("text", s) or ("tool", arguments piece) or ("newtool", name)


def _chat_stream(pieces: list[Piece]) -> bytes:
    chunks: list[dict[str, Any]] = [{"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}]
    tool = -1
    for kind, value in pieces:
        if kind == "text":
            delta: dict[str, Any] = {"content": value}
        elif kind == "newtool":
            tool += 1
            delta = {"tool_calls": [{"index": tool, "id": f"call_{tool}", "function": {"name": value, "arguments": ""}}]}
        else:
            delta = {"tool_calls": [{"index": max(tool, 0), "function": {"arguments": value}}]}
        chunks.append({"id": "c", "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    chunks.append({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls" if tool >= 0 else "stop"}]})
    chunks.append({"id": "c", "choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": len(pieces)}})
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def _parse(events: bytes) -> list[dict[str, Any]]:
    out = []
    for block in events.decode().split("\n\n"):
        if block:
            name, data = block.split("\n")
            parsed = json.loads(data[6:])
            assert name == f"event: {parsed['type']}"
            out.append(parsed)
    return out


def _segment(kind: str, value: str, args: list[str]) -> list[Piece]:
    return [("text", value)] if kind == "text" else [("newtool", value), *(("tool", a) for a in args)]


# what OpenAI-compatible servers send: text, and tool calls each with its arguments in a contiguous run
segments = st.builds(
    _segment,
    st.sampled_from(["text", "call"]),
    st.text(min_size=1, max_size=8),
    st.lists(st.sampled_from(['{"a"', ": 1", "}", " "]), max_size=4),
)
pieces = st.lists(segments, max_size=6).map(lambda parts: [p for part in parts for p in part])


@settings(derandomize=True, max_examples=150, deadline=None)
@given(pieces, st.lists(st.integers(min_value=1, max_value=40), max_size=30))
def test_stream_events_do_not_depend_on_chunking(stream_pieces: list[Piece], cuts: list[int]) -> None:
    raw = _chat_stream(stream_pieces)
    whole = EventTranslator("m")
    expected = whole.feed(raw) + whole.finish()
    split = EventTranslator("m")
    got, at = b"", 0
    for size in cuts:
        got += split.feed(raw[at : at + size])
        at += size
    got += split.feed(raw[at:]) + split.finish()
    assert got == expected
    events = _parse(got)
    assert [e["type"] for e in events[:2]] == ["message_start", "ping"]
    assert [e["type"] for e in events[-2:]] == ["message_delta", "message_stop"]
    opened: list[int] = []
    for e in events:  # blocks open in index order and each closes before the next opens
        if e["type"] == "content_block_start":
            assert e["index"] == len(opened)
            opened.append(e["index"])
        elif e["type"] in ("content_block_delta", "content_block_stop"):
            assert e["index"] == opened[-1]
    assert len([e for e in events if e["type"] == "content_block_stop"]) == len(opened)
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
    assert text == "".join(v for k, v in stream_pieces if k == "text")
    assert events[-2]["usage"] == {"input_tokens": 4, "output_tokens": len(stream_pieces)}


def test_meter_reads_anthropic_streams_and_messages() -> None:
    meter = StreamMeter(0.0, len)  # len as the token counter: one token per character
    frames = [
        {"type": "message_start", "message": {"usage": {"input_tokens": 7, "cache_read_input_tokens": 3, "output_tokens": 1}}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{}"}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 12}},
        {"type": "message_stop"},
    ]
    for frame in frames:
        meter.feed(f"event: {frame['type']}\ndata: {json.dumps(frame)}\n\n".encode())
    assert meter.usage == (10, 12) and meter.finished and meter.text_tokens() == len("hi{}")
    message = {"type": "message", "content": [{"type": "text", "text": "ok"}], "usage": {"input_tokens": 2, "output_tokens": 1}}
    assert usage_of(message) == (2, 1) and text_of(message) == "ok"


def test_native_streams_recognise_the_gateways_own_error_events() -> None:
    from router.errors import UpstreamTimeout, sse_error_event
    from router.protocol.anthropic_stream import OPENAI_ERROR_EVENT

    assert sse_error_event(UpstreamTimeout("model 'x' stalled mid-stream")).startswith(OPENAI_ERROR_EVENT)


def test_block_types_without_a_chat_form_pass_the_checks_and_are_left_out() -> None:
    body = {
        "model": "m",
        "max_tokens": 9,
        "messages": [
            {"role": "user", "content": "search"},
            {
                "role": "assistant",
                "content": [
                    {"type": "server_tool_use", "id": "s1", "name": "web_search", "input": {"query": "q"}},
                    {"type": "web_search_tool_result", "tool_use_id": "s1", "content": []},
                    {"type": "text", "text": "found it"},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "file", "file_id": "file_1"}},
                    {"type": "search_result", "source": "s", "title": "t", "content": []},
                    {"type": "text", "text": "and?"},
                ],
            },
        ],
    }
    check_messages(body)
    assert to_chat(body)["messages"][1:] == [
        {"role": "assistant", "content": "found it"},
        {"role": "user", "content": "and?"},
    ]
