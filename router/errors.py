"""The error tree, and the one place where an error becomes an OpenAI-shaped HTTP body.

    RouterError                      every error a caller may see
    ├── BadRequest (400)             malformed JSON, wrong types, invalid UTF-8, bad values
    │   └── UnsupportedContent (400) a request no catalog model can take (e.g. images, no vision model)
    ├── Unauthorized (401)
    ├── NotFound (404)               unknown route, model or adapter: code model_not_found
    ├── PayloadTooLarge (413)
    ├── RateLimited (429)            carries Retry-After
    ├── Unavailable (503)            shutting down, or no candidate left to try
    └── UpstreamError (502)          an upstream refused, failed or answered garbage
        └── UpstreamTimeout (504)

Endpoints and the pipeline raise these; `error_parts` is the single mapping to HTTP, in OpenAI's shape,
and `anthropic_error_parts` the same mapping in Anthropic's shape for the Messages API endpoints.
A message that reaches a caller never carries a traceback, an object's repr, a file path or a URL:
`scrub` removes them (upstream adapters also remove their keys, router.upstream.redact), and every
5xx message is scrubbed again here as a last line, in either shape.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import orjson
from starlette.responses import Response


class RouterError(Exception):
    """Base of every caller-visible error."""

    status = 500
    type = "internal_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers = dict(headers or {})


class BadRequest(RouterError):
    status = 400
    type = "invalid_request_error"


class UnsupportedContent(BadRequest):
    code = "unsupported_content"


class Unauthorized(RouterError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class NotFound(RouterError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class PayloadTooLarge(RouterError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class RateLimited(RouterError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class Unavailable(RouterError):
    status = 503
    type = "service_unavailable"
    code = "service_unavailable"


class UpstreamError(RouterError):
    status = 502
    type = "upstream_error"
    code = "bad_gateway"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


def shutting_down() -> Unavailable:
    """What a new request gets while the gateway drains after SIGTERM, on any endpoint."""
    return Unavailable("the gateway is shutting down; retry on another replica", headers={"retry-after": "1"})


def internal_error() -> RouterError:
    """A fault of the gateway itself: its details go to the log, never to the caller."""
    return RouterError("internal error in the gateway")


MAX_MESSAGE = 500
_TRACEBACK = re.compile(r"Traceback \(most recent call last\).*", re.DOTALL)
_SCRUB = [
    (re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE), "[url]"),
    (re.compile(r"<[\w.]+(?: object)? at 0x[0-9a-fA-F]+>|\b0x[0-9a-fA-F]{6,}\b"), "[object]"),
    (re.compile(r"(?:\b[A-Za-z]:)?(?:[/\\][\w.@+-]+){2,}"), "[path]"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b|\blocalhost:\d+\b"), "[host]"),
    (re.compile(r"\bBearer\s+\S+", re.IGNORECASE), "Bearer [redacted]"),
    (re.compile(r"\b(?:sk|pk|rk|sess)-[\w*-]{6,}|\bAKIA[0-9A-Z]{12,}\b"), "[redacted]"),
]


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """A message fit for a caller: no traceback, object repr, file path, URL, host, key-like token or any
    of `secrets`; whitespace collapsed and the length bounded."""
    text = _TRACEBACK.sub("", text)
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    for pattern, replacement in _SCRUB:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())[:MAX_MESSAGE]


def error_body(message: str, type_: str, param: str | None, code: str | None) -> bytes:
    """The OpenAI error document."""
    return orjson.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}})


def error_parts(exc: RouterError, extra_headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """Map any RouterError to (status, headers, body): the only such mapping in the gateway."""
    headers = {"content-type": "application/json", **exc.headers, **(extra_headers or {})}
    return exc.status, headers, error_body(_public(exc), exc.type, exc.param, exc.code)


def _public(exc: RouterError) -> str:
    return scrub(exc.message) if exc.status >= 500 else exc.message


def error_response(exc: RouterError, extra_headers: Mapping[str, str] | None = None) -> Response:
    """The same mapping as a Starlette response, for the framework-routed endpoints."""
    status, headers, body = error_parts(exc, extra_headers)
    return Response(body, status_code=status, headers=headers)


def sse_error_event(exc: RouterError) -> bytes:
    """An OpenAI-style error event for a stream that already started, followed by the end marker."""
    return b"data: " + error_body(_public(exc), exc.type, exc.param, exc.code) + b"\n\ndata: [DONE]\n\n"


# Anthropic's error type per status (https://docs.claude.com/en/api/errors); other 4xx are invalid_request_error
ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def anthropic_type(status: int) -> str:
    return ANTHROPIC_TYPES.get(status, "invalid_request_error" if 400 <= status < 500 else "api_error")


def anthropic_error_body(exc: RouterError, request_id: str | None = None) -> bytes:
    """Anthropic's error document: {"type": "error", "error": {"type", "message"}, "request_id"}."""
    public = _public(exc)
    message = public if exc.param is None or exc.param in public else f"{exc.param}: {public}"
    body: dict[str, object] = {"type": "error", "error": {"type": anthropic_type(exc.status), "message": message}}
    if request_id is not None:
        body["request_id"] = request_id
    return orjson.dumps(body)


def anthropic_error_parts(exc: RouterError, extra_headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """The same mapping as `error_parts`, in Anthropic's shape, with its `request-id` header."""
    headers = {"content-type": "application/json", **exc.headers, **(extra_headers or {})}
    request_id = headers.get("x-request-id")
    if request_id is not None:
        headers["request-id"] = request_id
    return exc.status, headers, anthropic_error_body(exc, request_id)


def anthropic_sse_error_event(exc: RouterError) -> bytes:
    """Anthropic's `error` event, for a Messages stream that already started."""
    return b"event: error\ndata: " + anthropic_error_body(exc) + b"\n\n"
