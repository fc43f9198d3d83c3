"""The Responses-API translator alone: request to chat body, chat answer to response object, chat stream
to semantic events. Every response and event is validated against the openai SDK's own (strict) types."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from router.errors import BadRequest
from router.protocol import openai_responses as rp
from router.protocol.openai_responses_stream import ChatToResponseEvents

EVENT = TypeAdapter(ResponseStreamEvent)
TOOL = {"type": "function", "name": "f", "description": "d", "parameters": {"type": "object", "properties": {}}, "strict": True}


def test_string_input_with_instructions_and_settings() -> None:
    body = {
        "model": "auto",
        "input": "hi",
        "instructions": "be brief",
        "max_output_tokens": 5,
        "temperature": 0.2,
        "top_p": 0.9,
        "user": "u1",
        "reasoning": {"effort": "low"},
        "stream": True,
        "metadata": {"k": "v"},
        "store": True,
    }
    assert rp.to_chat(body, []) == {
        "model": "auto",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "max_tokens": 5,
        "temperature": 0.2,
        "top_p": 0.9,
        "user": "u1",
        "reasoning_effort": "low",
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_items_history_and_tool_turns() -> None:
    history = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "q1"}]},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        rp.message_item("let me check"),
        rp.call_item("call_1", "f", '{"a": 1}'),
        rp.call_item("call_2", "f", '{"a": 2}'),
    ]
    body = {
        "model": "m",
        "input": [
            {"type": "function_call_output", "call_id": "call_1", "output": "one"},
            {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "two"}]},
            {"role": "developer", "content": "now answer"},
        ],
        "tools": [TOOL],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "text": {"format": {"type": "json_object"}},
    }
    chat = rp.to_chat(body, history)
    assert chat["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "q1"}]},
        {
            "role": "assistant",
            "content": "let me check",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
                {"id": "call_2", "type": "function", "function": {"name": "f", "arguments": '{"a": 2}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "one"},
        {"role": "tool", "tool_call_id": "call_2", "content": "two"},
        {"role": "system", "content": "now answer"},
    ]
    assert chat["tools"] == [{"type": "function", "function": {k: v for k, v in TOOL.items() if k != "type"}}]
    assert chat["tool_choice"] == "required" and chat["parallel_tool_calls"] is False
    assert chat["response_format"] == {"type": "json_object"}


def test_json_schema_format_and_named_tool_choice() -> None:
    fmt = {"type": "json_schema", "name": "A", "schema": {"type": "object"}, "strict": True}
    chat = rp.to_chat({"model": "m", "input": "x", "text": {"format": fmt}, "tool_choice": {"type": "function", "name": "f"}}, [])
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "A", "schema": {"type": "object"}, "strict": True},
    }
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert "response_format" not in rp.to_chat({"model": "m", "input": "x", "text": {"format": {"type": "text"}}}, [])


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x"}, "model"),
        ({"model": "m"}, "input"),
        ({"model": "m", "input": {"a": 1}}, "input"),
        ({"model": "m", "input": "x", "temperature": "hot"}, "temperature"),
        ({"model": "m", "input": "x", "stream": "yes"}, "stream"),
        ({"model": "m", "input": "x", "max_output_tokens": True}, "max_output_tokens"),
        ({"model": "m", "input": "x", "tools": {}}, "tools"),
    ],
)
def test_check_refuses_wrong_types(body: dict[str, Any], param: str) -> None:
    with pytest.raises(BadRequest) as err:
        rp.check(body)
    assert err.value.param == param


@pytest.mark.parametrize(
    ("input_", "param"),
    [
        ([{"role": "robot", "content": "x"}], "input[0].role"),
        (["text"], "input[0]"),
        ([{"type": "item_reference", "id": "x"}], "input[0].type"),
        ([{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}], "input[0].content[0]"),
        ([{"role": "user", "content": [{"type": "input_audio"}]}], "input[0].content[0].type"),
    ],
)
def test_unsupported_items_are_400_with_their_place(input_: list[Any], param: str) -> None:
    with pytest.raises(BadRequest) as err:
        rp.to_chat({"model": "m", "input": input_}, [])
    assert err.value.param == param


def _answer(message: dict[str, Any], finish: str = "stop") -> dict[str, Any]:
    return {
        "id": "c",
        "created": 1700000000,
        "model": "up",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13, "prompt_tokens_details": {"cached_tokens": 4}},
    }


def test_plain_answers_become_valid_responses() -> None:
    body = {"model": "auto", "input": "x", "tools": [TOOL]}
    call = {"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    r = rp.from_chat(
        body, _answer({"role": "assistant", "content": "thinking", "tool_calls": [call]}, "tool_calls"), "resp_1", "auto"
    )
    parsed = Response.model_validate(r)
    assert parsed.status == "completed" and parsed.model == "auto" and parsed.created_at == 1700000000
    assert [o.type for o in parsed.output] == ["message", "function_call"]
    assert parsed.output_text == "thinking" and parsed.output[1].call_id == "call_9"  # type: ignore[union-attr]
    assert parsed.usage is not None and parsed.usage.input_tokens_details.cached_tokens == 4 and parsed.usage.total_tokens == 13
    cut = Response.model_validate(
        rp.from_chat(body, _answer({"role": "assistant", "content": "a b"}, "length"), "resp_2", "auto")
    )
    assert (
        cut.status == "incomplete" and cut.incomplete_details is not None and cut.incomplete_details.reason == "max_output_tokens"
    )
    refused = rp.from_chat(body, _answer({"role": "assistant", "content": None, "refusal": "no"}), "resp_3", "auto")
    assert Response.model_validate(refused).output[-1].content[0].type == "refusal"  # type: ignore[union-attr]


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    data = {
        "id": "c",
        "object": "chat.completion.chunk",
        "model": "up",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(data | extra).encode() + b"\n\n"


STREAM = [
    chunk({"role": "assistant", "content": "Hel"}),
    chunk({"content": "lo"}),
    chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "f", "arguments": ""}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x":'}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": " 1}"}}]}),
    chunk({"tool_calls": [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "g", "arguments": "{}"}}]}),
    chunk({}, "tool_calls"),
    b'data: {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}}\n\n',
    b"data: [DONE]\n\n",
]


def events_of(pieces: list[bytes]) -> list[dict[str, Any]]:
    t = ChatToResponseEvents({"model": "auto", "input": "x"}, "resp_s", "auto")
    raw = t.start() + b"".join(t.feed(p) for p in pieces) + t.close()
    out = []
    for block in raw.decode().split("\n\n")[:-1]:
        name, data = block.split("\n")
        event = json.loads(data.removeprefix("data: "))
        assert name == "event: " + event["type"]
        EVENT.validate_python(event)  # the SDK's own event types, strictly
        out.append(event)
    return out


def test_stream_events_in_order_and_valid() -> None:
    events = events_of(STREAM)
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.completed",
    ]  # fmt: skip
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    final = Response.model_validate(events[-1]["response"])
    assert final.output_text == "Hello" and final.usage is not None and final.usage.output_tokens == 5
    calls = [o for o in final.output if o.type == "function_call"]
    assert [(c.call_id, c.name, c.arguments) for c in calls] == [("call_a", "f", '{"x": 1}'), ("call_b", "g", "{}")]  # type: ignore[union-attr]
    assert [e["output_index"] for e in events if e["type"] == "response.output_item.added"] == [0, 1, 2]


def test_any_chunking_gives_the_same_events() -> None:
    def normal(events: list[dict[str, Any]]) -> str:
        return re.sub(r"(msg|fc)_[0-9a-f]{48}", "ID", json.dumps(events))

    whole = b"".join(STREAM)
    reference = normal(events_of(STREAM))
    for size in (1, 7, 64, len(whole)):
        assert normal(events_of([whole[i : i + size] for i in range(0, len(whole), size)])) == reference


def test_error_mid_stream_fails_the_response_and_a_cut_stream_still_finishes() -> None:
    error = b'data: {"error": {"message": "stalled", "type": "upstream_error", "param": null, "code": "upstream_timeout"}}\n\n'
    events = events_of([STREAM[0], error, b"data: [DONE]\n\n"])
    assert [e["type"] for e in events][-2:] == ["error", "response.failed"]
    assert events[-2]["code"] == "upstream_timeout" and events[-1]["response"]["status"] == "failed"
    cut = events_of(STREAM[:2])  # no [DONE]: closed as it ended
    assert cut[-1]["type"] == "response.completed" and cut[-1]["response"]["output"][0]["content"][0]["text"] == "Hello"
    long = events_of([chunk({"content": "a"}), chunk({}, "length"), b"data: [DONE]\n\n"])
    assert long[-1]["type"] == "response.incomplete"


def test_history_and_native_body() -> None:
    body = {"model": "m", "input": "next", "previous_response_id": "resp_1", "store": True}
    past = [{"type": "message", "role": "user", "content": "first"}, rp.message_item("answer")]
    expected = {"model": "m", "input": [*past, {"type": "message", "role": "user", "content": "next"}], "store": True}
    assert rp.native_body(body, past) == expected
    assert rp.native_body({"model": "m", "input": "x"}, []) == {"model": "m", "input": "x"}
    response = {"output": [rp.message_item("second answer")]}
    assert len(rp.continued(past, body, response)) == 4
