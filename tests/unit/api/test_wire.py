"""The wire checks: each bad request is a 400 naming its field, a body is read within its limit, and
request ids are the caller's only when they are sane tokens."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from router.api.wire import ClientDisconnected, check_chat, check_completion, check_embeddings, make_request_id, read_body
from router.errors import BadRequest, PayloadTooLarge

OK = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": OK}, "model"),
        ({"model": "", "messages": OK}, "model"),
        ({"model": "auto"}, "messages"),
        ({"model": "auto", "messages": []}, "messages"),
        ({"model": "auto", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"model": "auto", "messages": [{"role": "user"}]}, "messages[0].content"),
        ({"model": "auto", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"model": "auto", "messages": [{"role": "user", "content": [{"text": 1}]}]}, "messages[0].content[0].text"),
        ({"model": "auto", "messages": [{"role": "assistant", "tool_calls": {}}]}, "messages[0].tool_calls"),
        (
            {"model": "auto", "messages": [{"role": "assistant", "tool_calls": [{"function": {"arguments": {}}}]}]},
            "messages[0].tool_calls[0].function.arguments",
        ),
        ({"model": "auto", "messages": OK, "n": 0}, "n"),
        ({"model": "auto", "messages": OK, "max_tokens": True}, "max_tokens"),
        ({"model": "auto", "messages": OK, "stream": "yes"}, "stream"),
        ({"model": "auto", "messages": OK, "temperature": "hot"}, "temperature"),
        ({"model": "auto", "messages": OK, "tools": {}}, "tools"),
    ],
)
def test_a_bad_chat_request_names_its_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(BadRequest) as info:
        check_chat(body)
    assert info.value.param == param and info.value.status == 400


def test_good_requests_pass() -> None:
    check_chat({"model": "auto", "messages": [*OK, {"role": "assistant", "content": None, "tool_calls": []}], "n": 2})
    check_completion({"model": "auto", "prompt": ["a", "b"]})
    check_embeddings({"model": "embed", "input": "hi"})


@pytest.mark.parametrize(("body", "param"), [({"model": "e"}, "input"), ({"model": "e", "input": []}, "input")])
def test_bad_embeddings_and_completions_name_their_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(BadRequest) as info:
        check_embeddings(body)
    assert info.value.param == param
    with pytest.raises(BadRequest) as other:
        check_completion({"model": "auto"})
    assert other.value.param == "prompt"


def _receive(*messages: dict[str, Any]) -> Callable[[], Awaitable[dict[str, Any]]]:
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    return receive


async def test_a_body_is_read_in_parts_within_its_limit() -> None:
    parts = _receive({"type": "http.request", "body": b'{"a":', "more_body": True}, {"type": "http.request", "body": b"1}"})
    assert await read_body(parts, {}, 100) == {"a": 1}
    with pytest.raises(PayloadTooLarge):
        await read_body(_receive(), {"content-length": "101"}, 100)  # refused before reading
    with pytest.raises(PayloadTooLarge):
        await read_body(_receive({"type": "http.request", "body": b"x" * 101}), {}, 100)
    with pytest.raises(ClientDisconnected):
        await read_body(_receive({"type": "http.disconnect"}), {}, 100)
    with pytest.raises(BadRequest):
        await read_body(_receive({"type": "http.request", "body": b"[1]"}), {}, 100)  # not an object
    deep = b'{"a":' + b"[" * 300 + b"]" * 300 + b"}"
    with pytest.raises(BadRequest, match="nested too deeply"):
        await read_body(_receive({"type": "http.request", "body": deep}), {}, 1 << 20)


def test_a_request_id_is_the_callers_only_when_it_is_a_sane_token() -> None:
    assert make_request_id("abc-123") == "abc-123"
    for bad in (None, "", "has space", "x" * 1000, "new\nline"):
        fresh = make_request_id(bad)
        assert fresh != bad and len(fresh) == 32
