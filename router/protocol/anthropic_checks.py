"""The checks an Anthropic Messages request must pass before routing, with Anthropic-style field paths.

A malformed request gets a 400 that names the field (`messages.0.content.1.source.data: ...`), as
Anthropic's API does, instead of a translation that silently drops what it cannot read. Only the
structure the gateway translates is checked; values Anthropic's API would judge (model ids, beta
fields) are left to the upstream when the request is passed through natively.
"""

from __future__ import annotations

from typing import Any

from router.errors import BadRequest

MAX_DEPTH = 100  # nesting allowed inside free-form JSON (tool inputs, input schemas, metadata)
ROLES = ("user", "assistant")
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
# blocks the gateway reads; other block types (server tool results, search results, ...) pass the check:
# a native upstream reads them, the chat translation leaves them out
KNOWN_BLOCKS = frozenset({"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"})
TOOL_RESULT_REFUSED = frozenset({"tool_use", "tool_result", "thinking", "redacted_thinking"})  # not inside a result
TOOL_CHOICES = ("auto", "any", "tool", "none")


def _fail(where: str, message: str) -> BadRequest:
    return BadRequest(f"{where}: {message}", param=where)


def _need(value: Any, kind: type | tuple[type, ...], where: str, expected: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _fail(where, f"Input should be {expected}" if value is not None else "Field required")
    return value


def _shallow(value: Any, where: str) -> None:
    """Free-form JSON nested at most MAX_DEPTH deep: deeper is refused here, not left to a serialiser."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _fail(where, f"JSON nested more than {MAX_DEPTH} levels deep")
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def _optional(body: dict[str, Any], field: str, kind: type | tuple[type, ...], expected: str) -> None:
    if body.get(field) is not None:
        _need(body[field], kind, field, expected)


def _source(source: Any, where: str, kind: str) -> None:
    _need(source, dict, where, "an object")
    stype = source.get("type")
    if stype == "base64":
        media = _need(source.get("media_type"), str, f"{where}.media_type", "a string")
        if kind == "image" and media not in IMAGE_TYPES:
            raise _fail(f"{where}.media_type", f"Input should be one of {', '.join(sorted(IMAGE_TYPES))}")
        _need(source.get("data"), str, f"{where}.data", "a base64 string")
    elif stype == "url":
        url = _need(source.get("url"), str, f"{where}.url", "a string")
        if not url.startswith(("http://", "https://")):
            raise _fail(f"{where}.url", "Input should be an http or https URL")
    elif stype == "text" and kind == "document":
        _need(source.get("data"), str, f"{where}.data", "a string")
    else:  # another kind of source (a Files API file, custom content): for a native upstream to read
        _need(stype, str, f"{where}.type", "a string")


def _block(block: Any, where: str, refused: frozenset[str] = frozenset()) -> None:
    _need(block, dict, where, "an object")
    kind = _need(block.get("type"), str, f"{where}.type", "a string")
    if kind in refused:
        raise _fail(f"{where}.type", f"Input should not be {kind!r} here")
    if kind == "text":
        _need(block.get("text"), str, f"{where}.text", "a string")
    elif kind in ("image", "document"):
        _source(block.get("source"), f"{where}.source", kind)
    elif kind == "tool_use":
        _need(block.get("id"), str, f"{where}.id", "a string")
        _need(block.get("name"), str, f"{where}.name", "a string")
        _shallow(_need(block.get("input"), dict, f"{where}.input", "an object"), f"{where}.input")
    elif kind == "tool_result":
        _need(block.get("tool_use_id"), str, f"{where}.tool_use_id", "a string")
        content = block.get("content")
        if content is not None and not isinstance(content, str):
            for j, inner in enumerate(_need(content, list, f"{where}.content", "a string or an array")):
                _block(inner, f"{where}.content.{j}", TOOL_RESULT_REFUSED)
        if block.get("is_error") is not None:
            _need(block["is_error"], bool, f"{where}.is_error", "a boolean")
    elif kind == "thinking":
        _need(block.get("thinking"), str, f"{where}.thinking", "a string")
    elif kind == "redacted_thinking":
        _need(block.get("data"), str, f"{where}.data", "a string")


def _messages(body: dict[str, Any]) -> None:
    messages = _need(body.get("messages"), list, "messages", "an array of messages")
    if not messages:
        raise _fail("messages", "List should have at least 1 item")
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        _need(message, dict, where, "an object")
        if message.get("role") not in ROLES:
            raise _fail(f"{where}.role", "Input should be 'user' or 'assistant'")
        content = message.get("content")
        if isinstance(content, str):
            continue
        for j, block in enumerate(_need(content, list, f"{where}.content", "a string or an array of content blocks")):
            _block(block, f"{where}.content.{j}")


def _system(body: dict[str, Any]) -> None:
    system = body.get("system")
    if system is None or isinstance(system, str):
        return
    for j, block in enumerate(_need(system, list, "system", "a string or an array of text blocks")):
        where = f"system.{j}"
        if _need(block, dict, where, "an object").get("type") != "text":
            raise _fail(f"{where}.type", "Input should be 'text'")
        _need(block.get("text"), str, f"{where}.text", "a string")


def _tools(body: dict[str, Any]) -> None:
    tools = body.get("tools")
    if tools is not None:
        for i, tool in enumerate(_need(tools, list, "tools", "an array")):
            where = f"tools.{i}"
            _need(tool, dict, where, "an object")
            if tool.get("type") not in (None, "custom"):  # a server tool (web search, ...), Anthropic's to run
                _need(tool.get("type"), str, f"{where}.type", "a string")
                continue
            _need(tool.get("name"), str, f"{where}.name", "a string")
            _shallow(_need(tool.get("input_schema"), dict, f"{where}.input_schema", "an object"), f"{where}.input_schema")
            if tool.get("description") is not None:
                _need(tool["description"], str, f"{where}.description", "a string")
    choice = body.get("tool_choice")
    if choice is not None:
        _need(choice, dict, "tool_choice", "an object")
        if choice.get("type") not in TOOL_CHOICES:
            raise _fail("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'")
        if choice["type"] == "tool":
            _need(choice.get("name"), str, "tool_choice.name", "a string")


def _sampling(body: dict[str, Any]) -> None:
    _optional(body, "stream", bool, "a boolean")
    _optional(body, "metadata", dict, "an object")
    for field in ("temperature", "top_p"):
        _optional(body, field, (int, float), "a number")
    _optional(body, "top_k", int, "an integer")
    stops = body.get("stop_sequences")
    if stops is not None:
        for i, stop in enumerate(_need(stops, list, "stop_sequences", "an array of strings")):
            _need(stop, str, f"stop_sequences.{i}", "a string")


def _model(body: dict[str, Any]) -> None:
    model = _need(body.get("model"), str, "model", "a string")
    if not model:
        raise _fail("model", "String should have at least 1 character")


def check_count_tokens(body: dict[str, Any]) -> None:
    """POST /v1/messages/count_tokens: a Messages request without max_tokens."""
    _model(body)
    _messages(body)
    _system(body)
    _tools(body)
    if body.get("metadata") is not None:
        _shallow(_need(body["metadata"], dict, "metadata", "an object"), "metadata")


def check_messages(body: dict[str, Any]) -> None:
    """POST /v1/messages."""
    check_count_tokens(body)
    max_tokens = _need(body.get("max_tokens"), int, "max_tokens", "an integer")
    if max_tokens < 1:
        raise _fail("max_tokens", "Input should be greater than or equal to 1")
    _sampling(body)
