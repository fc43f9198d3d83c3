"""What dispatch needs from an upstream, whichever wire it speaks.

Target        one catalog model, resolved for this request (adapter name applied)
Upstream      complete(...) -> Reply; open_stream(...) -> ByteStream
UpstreamStatus(UpstreamError) an HTTP error status from the upstream, with its body's message
AcceptedTimeout(UpstreamTimeout) a timeout after the upstream took the request (not a connect timeout)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from router.errors import UpstreamError, UpstreamTimeout
from router.policy.schema import ModelSpec


@dataclass(frozen=True, slots=True)
class Target:
    name: str  # catalog name, reported in x-router-model
    spec: ModelSpec
    upstream_model: str  # the id sent upstream: endpoint.model, or a LoRA adapter's module name
    load_path: str | None = None  # a LoRA adapter the base server can load at run time, if it is not loaded
    headers: Mapping[str, str] = field(default_factory=dict)  # the client's headers passed on (trace context, allow-list)


@dataclass(frozen=True, slots=True)
class Reply:
    body: bytes  # the upstream's JSON document, passed to the client unchanged
    data: dict[str, Any]  # the same, parsed (usage, finish_reason, logprobs)
    headers: Mapping[str, str] = field(default_factory=dict)  # upstream headers the client gets too (x-ratelimit-*)


class ByteStream(Protocol):
    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class UpstreamStatus(UpstreamError):
    """The upstream answered with an error status; its error's type, param and code when it gave them."""

    def __init__(
        self,
        status: int,
        message: str,
        retry_after: float | None = None,
        *,
        error_type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"upstream answered {status}: {message}", headers=headers)
        self.upstream_status = status
        self.upstream_message = message
        self.retry_after = retry_after
        self.upstream_type, self.upstream_param, self.upstream_code = error_type, param, code

    @property
    def client_fault(self) -> bool:
        """400/413/422: the request itself is wrong for this model; another model would refuse it too."""
        return self.upstream_status in (400, 413, 422)


class AcceptedTimeout(UpstreamTimeout):
    """The upstream took the request, then did not answer in time: it may still be generating."""


class Upstream(Protocol):
    async def complete(self, target: Target, path: str, body: dict[str, Any]) -> Reply: ...

    async def open_stream(self, target: Target, path: str, body: dict[str, Any]) -> ByteStream: ...

    async def aclose(self) -> None: ...


def timed_out(errors: Iterable[BaseException | None]) -> bool:
    """Whether one of the errors (an exception and its causes) is a timeout: Python's and aiohttp's
    (TimeoutError and its subclasses) or httpx's. By type, never by the class's name."""
    return any(isinstance(e, TimeoutError | httpx.TimeoutException) for e in errors)
