"""The OpenAI wire format as the gateway reads it: body reading with a size cap, JSON parsing, and the
checks every request must pass before routing. Only the fields the gateway itself reads are checked
(and their shapes, so that no later stage meets a type it does not expect); of the rest, the model
parameters are passed upstream untouched (router.upstream.params) and everything else is dropped.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request

from router.errors import BadRequest, PayloadTooLarge
from router.names import valid_name

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_PLAIN_MESSAGE = frozenset({"role", "content"})
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
MAX_DEPTH = 254  # arrays and objects inside each other: orjson (which re-encodes every body) goes no deeper


class ClientDisconnected(Exception):
    """The client went away before its request body was complete: nobody is left to answer."""


def check_name(value: str, param: str) -> str:
    if not valid_name(value):
        raise BadRequest(f"'{param}' must be 1 to 128 visible ASCII characters (no spaces or control characters)", param=param)
    return value


def make_request_id(given: str | None) -> str:
    """The caller's x-request-id when it is a sane token, else a fresh one."""
    return given if given is not None and _REQUEST_ID.fullmatch(given) else secrets.token_hex(16)


def request_id(request: Request) -> str:
    rid = make_request_id(request.headers.get("x-request-id"))
    request.scope["router.request_id"] = rid
    return rid


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes, nesting: bool = True) -> dict[str, Any]:
    """orjson first; a body orjson refuses is read by Python's json, which (like the upstreams) accepts
    a lone UTF-16 surrogate escape such as a "\ud83d" JavaScript left when it cut an emoji in half."""
    if not raw:
        raise BadRequest("request body is empty; expected a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            body = json.loads(raw, parse_constant=_no_constants)
        except (ValueError, RecursionError):
            raise BadRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    if nesting and raw.count(b"[") + raw.count(b"{") > MAX_DEPTH:  # only then can it be nested too deeply
        _check_depth(body)
    return body


def _check_depth(body: dict[str, Any]) -> None:
    """orjson refuses to encode deeper than MAX_DEPTH (in C, so this costs little); Python code would
    recurse near its own limit. (Its other refusal, a lone surrogate, is encoded by the fallback.)"""
    try:
        orjson.dumps(body)
    except orjson.JSONEncodeError as exc:
        if "recursion" in str(exc).lower():
            raise BadRequest(f"request body is nested too deeply (more than {MAX_DEPTH} levels)") from None


async def read_body(receive: Any, headers: Mapping[str, str], limit: int, nesting: bool = True) -> dict[str, Any]:
    """Read the body from ASGI `receive`, refusing more than `limit` bytes, and parse it as a JSON object."""
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise BadRequest("invalid Content-Length header")
        if int(length) > limit:
            raise PayloadTooLarge(f"request body of {length} bytes exceeds the limit of {limit} bytes")
    parts: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        parts.append(chunk)
        more = message.get("more_body", False)
    return parse_json(b"".join(parts) if len(parts) != 1 else parts[0], nesting)


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The same for framework-routed endpoints."""
    return await read_body(request.receive, request.headers, limit)


def _type_error(field: str, expected: str) -> BadRequest:
    return BadRequest(f"'{field}' must be {expected}", param=field)


def _optional(body: dict[str, Any], field: str, kind: type | tuple[type, ...], expected: str, where: str | None = None) -> None:
    value = body.get(field)
    if value is None:
        return
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _type_error(where or field, expected)


def _positive_int(body: dict[str, Any], field: str) -> None:
    value = body.get(field)
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise _type_error(field, "an integer")
    if value < 1:
        raise BadRequest(f"'{field}' must be at least 1, got {value}", param=field)


def _model(body: dict[str, Any]) -> None:
    model = body.get("model")
    if model is None:
        raise BadRequest("'model' is required", param="model")
    if not isinstance(model, str) or not model:
        raise _type_error("model", "a non-empty string")


def _common(body: dict[str, Any]) -> None:
    _model(body)
    _optional(body, "stream", bool, "a boolean")
    _optional(body, "stream_options", dict, "an object")
    _positive_int(body, "max_tokens")
    _positive_int(body, "max_completion_tokens")
    _positive_int(body, "n")
    for field in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        _optional(body, field, (int, float), "a number")


def check_chat(body: dict[str, Any]) -> None:
    _common(body)
    messages = body.get("messages")
    if messages is None:
        raise BadRequest("'messages' is required", param="messages")
    if not isinstance(messages, list):
        raise _type_error("messages", "an array of message objects")
    if not messages:
        raise BadRequest("'messages' must contain at least one message", param="messages")
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise _type_error(where, "an object")
        role = msg.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise BadRequest(f"'{where}.role' must be one of {', '.join(sorted(ROLES))}", param=f"{where}.role")
        content = msg.get("content")
        if content is None and role in ("system", "developer", "user"):
            raise BadRequest(f"'{where}.content' is required", param=f"{where}.content")
        if content is not None and not isinstance(content, (str, list)):
            raise _type_error(f"{where}.content", "a string or an array of content parts")
        _message_fields(msg, where)
    _optional(body, "tools", list, "an array")
    _optional(body, "response_format", dict, "an object")


def _message_fields(msg: dict[str, Any], where: str) -> None:
    """The shapes of a message's other fields that the gateway reads (content parts, tool calls)."""
    content = msg.get("content")
    if msg.keys() <= _PLAIN_MESSAGE and not isinstance(content, list):
        return  # most messages: a role and a text
    if isinstance(content, list):
        for j, part in enumerate(content):
            if not isinstance(part, (dict, str)):
                raise _type_error(f"{where}.content[{j}]", "a content part object")
            if isinstance(part, dict) and not isinstance(part.get("text", ""), str):
                raise _type_error(f"{where}.content[{j}].text", "a string")
    for field in ("name", "tool_call_id"):
        _optional(msg, field, str, "a string", f"{where}.{field}")
    _optional(msg, "function_call", dict, "an object", f"{where}.function_call")
    calls = msg.get("tool_calls")
    if calls is None:
        return
    if not isinstance(calls, list):
        raise _type_error(f"{where}.tool_calls", "an array of tool call objects")
    for j, call in enumerate(calls):
        at = f"{where}.tool_calls[{j}]"
        if not isinstance(call, dict):
            raise _type_error(at, "a tool call object")
        _optional(call, "id", str, "a string", f"{at}.id")
        _optional(call, "type", str, "a string", f"{at}.type")
        function = call.get("function")
        if function is None:
            continue
        if not isinstance(function, dict):
            raise _type_error(f"{at}.function", "an object")
        _optional(function, "name", str, "a string", f"{at}.function.name")
        _optional(function, "arguments", str, "a string (JSON text)", f"{at}.function.arguments")


def check_completion(body: dict[str, Any]) -> None:
    _common(body)
    prompt = body.get("prompt")
    if prompt is None:
        raise BadRequest("'prompt' is required", param="prompt")
    if not isinstance(prompt, (str, list)):
        raise _type_error("prompt", "a string or an array")


def check_embeddings(body: dict[str, Any]) -> None:
    _model(body)
    value = body.get("input")
    if value is None:
        raise BadRequest("'input' is required", param="input")
    if not isinstance(value, (str, list)) or value == [] or value == "":
        raise _type_error("input", "a non-empty string or array")
