"""Sticky sessions: a session id pins the model chosen for it, in the store, so every replica agrees.

The id comes from the `x-router-session` header or, when the route allows, the body's
`metadata.session_id` or `user`. It is the caller's own string: bounded in length (400 beyond
MAX_SESSION_ID), stored only as a digest, and scoped to the calling tenant, so tenant A can neither read
nor pin tenant B's session however it names it. What the pin does to a decision is pure and lives in
router.policy.decide (`_hold_session`); this module only reads and writes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from router.errors import BadRequest
from router.policy.decide import TIER_RANK, Decision, Hints, SessionPin
from router.policy.schema import RouteSpec
from router.store.base import Store
from router.upstream.base import Target

HEADER = "x-router-session"
MAX_SESSION_ID = 256


def header_session(headers: Mapping[str, str]) -> str | None:
    return _checked(headers.get(HEADER), HEADER)


def _checked(value: Any, param: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{param} must be a non-empty string", param=param)
    if len(value) > MAX_SESSION_ID:
        raise BadRequest(f"{param} is longer than {MAX_SESSION_ID} characters", param=param)
    return value


def session_of(route: RouteSpec, body: dict[str, Any], hints: Hints) -> str | None:
    """The request's session id for this route, or None when the route keeps no sessions."""
    spec = route.session
    if spec is None:
        return None
    if hints.session is not None:
        return hints.session
    if not spec.from_body:
        return None
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and metadata.get("session_id") is not None:
        return _checked(metadata["session_id"], "metadata.session_id")
    return _checked(body.get("user"), "user") if body.get("user") is not None else None


def _digest(session: str) -> str:
    return hashlib.sha256(session.encode()).hexdigest()[:32]


def _decode(raw: str | None) -> SessionPin | None:
    if raw is None:
        return None
    tier, _, model = raw.partition(":")
    return SessionPin(model, tier) if tier in TIER_RANK and model else None  # type: ignore[arg-type]


async def attach(store: Store, tenant: str, route: RouteSpec, body: dict[str, Any], hints: Hints) -> Hints:
    """The hints with the session id and its pin (one store read, only for requests with a session)."""
    if route.session is None and hints.session is None:
        return hints
    session = session_of(route, body, hints)
    if session is None:
        return replace(hints, session=None) if hints.session is not None else hints
    return replace(hints, session=session, pin=_decode(await store.get_session(tenant, _digest(session))))


async def remember(store: Store, tenant: str, route: RouteSpec, hints: Hints, decision: Decision, answered: Target) -> None:
    """Pin (or refresh) the session on the model that answered; an overridden turn pins only upward."""
    if route.session is None or hints.session is None or decision.session is None:
        return
    pin, model, tier = hints.pin, answered.name, answered.spec.tier
    if decision.session == "overridden" and pin is not None and TIER_RANK[tier] <= TIER_RANK[pin.tier]:
        model, tier = pin.model, pin.tier  # keep the pin (and its TTL running from this turn)
    await store.put_session(tenant, _digest(hints.session), f"{tier}:{model}", route.session.ttl_s)
