"""Who is calling: the tenant a key belongs to, and the admin key."""

from __future__ import annotations

import pytest

from router.errors import Unauthorized
from router.policy.compiled import key_digest
from router.policy.loader import parse_policy
from router.tenancy.auth import SINGLE_TENANT, authenticate, check_admin

TENANTS = b"""
version: 1
models: {small: {tier: slm, endpoint: {base_url: "http://x/v1", model: s}}}
routes: {auto: {strategy: fixed, models: [small]}}
tenants:
  acme: {api_keys: ["key-acme"]}
  beta: {api_keys: ["sha256:%s"]}
"""


def test_a_key_names_its_tenant_in_either_header_or_as_a_digest() -> None:
    policy = parse_policy(TENANTS % key_digest("key-beta").encode(), "policy.yaml", {})
    assert authenticate(policy, {"authorization": "Bearer key-acme"}) == "acme"
    assert authenticate(policy, {"x-api-key": "key-acme"}) == "acme"  # Anthropic's header
    assert authenticate(policy, {"authorization": "bearer key-beta"}) == "beta"
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Basic key-acme"}):
        with pytest.raises(Unauthorized):
            authenticate(policy, headers)


def test_a_single_tenant_gateway_admits_anyone_and_guards_admin_only_with_a_key() -> None:
    policy = parse_policy(
        b"version: 1\nmodels: {small: {endpoint: {base_url: 'http://x/v1', model: s}}}\nroutes: {}\n", "p.yaml", {}
    )
    assert authenticate(policy, {}) == SINGLE_TENANT
    check_admin(policy, {}, None)  # open: one tenant, no admin key set
    with pytest.raises(Unauthorized):
        check_admin(policy, {"authorization": "Bearer nope"}, key_digest("admin"))
    check_admin(policy, {"authorization": "Bearer admin"}, key_digest("admin"))
    tenants = parse_policy(TENANTS % b"00", "policy.yaml", {})
    with pytest.raises(Unauthorized):
        check_admin(tenants, {}, None)  # with tenants, admin needs ROUTER_ADMIN_KEY
