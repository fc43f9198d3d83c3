"""What dispatch needs from an upstream, whichever wire it speaks.

Target        one catalog model, resolved for this request (adapter name applied)
Upstream      complete(...) -> Reply; open_stream(...) -> ByteStream
UpstreamStatus(UpstreamError) an HTTP error status from the upstream, with its body's message
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from router.errors import UpstreamError
from router.policy.schema import ModelSpec


@dataclass(frozen=True, slots=True)
class Target:
    name: str  # catalog name, reported in x-router-model
    spec: ModelSpec
    upstream_model: str  # the id sent upstream: endpoint.model, or a LoRA adapter's module name
    load_path: str | None = None  # a LoRA adapter the base server can load at run time, if it is not loaded


@dataclass(frozen=True, slots=True)
class Reply:
    body: bytes  # the upstream's JSON document, passed to the client unchanged
    data: dict[str, Any]  # the same, parsed (usage, finish_reason, logprobs)


class ByteStream(Protocol):
    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class UpstreamStatus(UpstreamError):
    """The upstream answered with an error status."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"upstream answered {status}: {message}")
        self.upstream_status = status
        self.upstream_message = message
        self.retry_after = retry_after

    @property
    def client_fault(self) -> bool:
        """400/413/422: the request itself is wrong for this model; another model would refuse it too."""
        return self.upstream_status in (400, 413, 422)


class Upstream(Protocol):
    async def complete(self, target: Target, path: str, body: dict[str, Any]) -> Reply: ...

    async def open_stream(self, target: Target, path: str, body: dict[str, Any]) -> ByteStream: ...

    async def aclose(self) -> None: ...
