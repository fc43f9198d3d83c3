"""A request's context (what every stage reads: one policy version, the caller, its hints) and the
Result an endpoint turns into HTTP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from router.gateway import Gateway
from router.hints import parse_hints
from router.policy.compiled import Policy
from router.policy.decide import Hints
from router.tenancy.auth import authenticate
from router.tenancy.limits import Ticket
from router.upstream.passing import forwarded


@dataclass(slots=True)
class RequestContext:
    request_id: str
    hints: Hints
    policy: Policy  # read once: the whole request sees one policy version
    started: float = field(default_factory=time.perf_counter)
    tenant: str | None = None
    response_headers: dict[str, str] = field(default_factory=dict)  # e.g. rate-limit state
    ticket: Ticket | None = None  # the tenant's admission, released when the request is accounted
    forward: dict[str, str] = field(default_factory=dict)  # client headers passed on to the upstream


def new_context(gw: Gateway, request_id: str, headers: Mapping[str, str]) -> RequestContext:
    """The request's context: one policy version, the caller's hints, the caller authenticated (401 otherwise)."""
    policy = gw.policies.current
    ctx = RequestContext(request_id, parse_hints(headers), policy)
    ctx.tenant = authenticate(policy, headers)
    ctx.forward = forwarded(headers, policy.spec.server.forward_headers, request_id)
    return ctx


@dataclass(slots=True)
class Result:
    headers: dict[str, str]
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    data: dict[str, Any] | None = None  # a plain answer, parsed
