"""API keys: `Authorization: Bearer KEY` (or `x-api-key: KEY`, as Anthropic's clients send it) to a
tenant, and the separate admin key.

Keys are held only as SHA-256 digests (the policy may give them so), looked up by digest and compared
in constant time; a key never appears in a log, an error body or a metric. Without a `tenants:` section
the gateway is single-tenant and asks for no key.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping

from router.errors import Unauthorized
from router.policy.compiled import Policy, key_digest

SINGLE_TENANT = "default"
_DUMMY = "0" * 64


def bearer(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def api_key(headers: Mapping[str, str]) -> str | None:
    """The caller's key: the Bearer token, else `x-api-key` (Anthropic's header)."""
    return bearer(headers) or headers.get("x-api-key", "").strip() or None


def authenticate(policy: Policy, headers: Mapping[str, str]) -> str:
    """The calling tenant's name; raises Unauthorized (401) for a missing or unknown key."""
    if not policy.multi_tenant:
        return SINGLE_TENANT
    token = api_key(headers)
    if token is None:
        raise Unauthorized("You didn't provide an API key. Send it as 'Authorization: Bearer KEY' or 'x-api-key: KEY'.")
    digest = key_digest(token)
    tenant = policy.key_index.get(digest)
    expected = digest if tenant is not None else _DUMMY
    if not hmac.compare_digest(expected, digest) or tenant is None:
        raise Unauthorized("Incorrect API key provided.")
    return tenant


def admin_key_digest(env: Mapping[str, str] | None = None) -> str | None:
    key = (os.environ if env is None else env).get("ROUTER_ADMIN_KEY")
    return key_digest(key) if key else None


def check_admin(policy: Policy, headers: Mapping[str, str], expected_digest: str | None) -> None:
    """Admin endpoints: the admin key when one is set; open only to a single-tenant gateway without one."""
    if expected_digest is None:
        if policy.multi_tenant:
            raise Unauthorized("admin endpoints need ROUTER_ADMIN_KEY to be set on the gateway")
        return
    token = bearer(headers)
    if token is None or not hmac.compare_digest(key_digest(token), expected_digest):
        raise Unauthorized("admin endpoints need the admin key")
