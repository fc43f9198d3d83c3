"""What passes between a client and an upstream besides the body: the client's trace context, request id
and the policy's allow-list of headers go up; the upstream's rate-limit headers come back (see
openai_compat.passed_headers); the upstream's own model id in an answer is renamed to what the client
asked for, so a client can send `response.model` back as `model`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

TRACE_HEADERS = ("traceparent", "tracestate")


_FIELD_VALUE = re.compile(r"[\x20-\x7e\t]*")  # visible ASCII, space and tab (RFC 9110 without obs-text)


def forwarded(headers: Mapping[str, str], allowed: list[str], request_id: str) -> dict[str, str]:
    """Trace context, the request id and the policy's allow-list of client headers, for the upstream.
    A value that is not visible ASCII (obs-text, control characters) is left out: the upstream's client
    could not send it, and a caller's header must not turn its request into a gateway error."""
    out = {"x-request-id": request_id}
    for name in (*TRACE_HEADERS, *allowed):
        value = headers.get(name.lower())
        if value is not None and _FIELD_VALUE.fullmatch(value):
            out[name.lower()] = value
    return out


def renamer(upstream_model: str, name: str) -> Callable[[bytes], bytes]:
    """Rename `"model": "<upstream id>"` in stream chunks to the name the client asked for."""
    if upstream_model == name:
        return lambda chunk: chunk
    pattern = re.compile(rb'("model"\s*:\s*)' + re.escape(orjson.dumps(upstream_model)))
    replacement = rb"\1" + orjson.dumps(name).replace(b"\\", b"\\\\")
    return lambda chunk: pattern.sub(replacement, chunk)


def dumps(data: Any) -> bytes:
    """JSON bytes; a lone UTF-16 surrogate (valid JSON, which orjson will not encode) is escaped as \\udXXX."""
    try:
        return orjson.dumps(data)
    except TypeError:
        return json.dumps(data, ensure_ascii=True, separators=(",", ":")).encode()


def loads(raw: bytes) -> Any:
    """orjson's parse, falling back to Python's json for what only it accepts (lone surrogate escapes)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            return json.loads(raw, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            raise orjson.JSONDecodeError("invalid JSON", raw.decode("utf-8", "replace")[:100], 0) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
