"""The compiled policy: a validated PolicyFile plus the lookups the hot path needs, built once per load.

A Policy is immutable; reload swaps the whole object, so a request that read it once sees one version.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

from router.policy.schema import AdapterSpec, ModelSpec, PolicyFile, RouteSpec, TenantSpec


@dataclass(frozen=True, slots=True)
class Policy:
    spec: PolicyFile
    source: str
    digest: str  # sha256 prefix of the file bytes: the policy's version as seen by ops
    loaded_at: float
    routes: dict[str, RouteSpec]  # explicit routes plus, when exposed, one fixed route per catalog model
    embedding_models: tuple[str, ...]
    adapters: dict[tuple[str, str], AdapterSpec] = field(default_factory=dict)  # (tenant, adapter name)
    key_index: dict[str, str] = field(default_factory=dict)  # sha256 hex of an API key -> tenant
    tenant_routes: dict[str, dict[str, RouteSpec]] = field(default_factory=dict)  # routes each tenant may name

    @property
    def multi_tenant(self) -> bool:
        return bool(self.spec.tenants)

    @property
    def models(self) -> dict[str, ModelSpec]:
        return self.spec.models

    @property
    def tenants(self) -> dict[str, TenantSpec]:
        return self.spec.tenants

    def model(self, name: str) -> ModelSpec:
        return self.spec.models[name]


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _tenant_routes(spec: PolicyFile, routes: dict[str, RouteSpec], tenant: TenantSpec) -> dict[str, RouteSpec]:
    """The routes a tenant may name, with its overrides applied. No list means every route. A catalog
    model in the list is a fixed route to it (embedding models are named on /v1/embeddings only)."""
    own = {}
    for name in tenant.routes or list(routes):
        route = routes.get(name)
        if route is None:
            if spec.models[name].kind != "chat":
                continue
            route = RouteSpec(strategy="fixed", models=[name])
        override = tenant.overrides.get(name)
        if override is not None:
            changes = {k: v for k, v in (("threshold", override.threshold), ("tiers", override.tiers)) if v is not None}
            route = route.model_copy(update=changes)
        own[name] = route
    return own


def compile_policy(spec: PolicyFile, *, source: str, digest: str) -> Policy:
    routes = dict(spec.routes)
    if spec.server.expose_models:
        for name, model in spec.models.items():
            if model.kind == "chat":  # embedding models are named on /v1/embeddings only
                routes.setdefault(name, RouteSpec(strategy="fixed", models=[name]))
    adapters = {(t, a): ad for t, tenant in spec.tenants.items() for a, ad in tenant.adapters.items()}
    key_index = {}
    for tname, tenant in spec.tenants.items():
        for key in tenant.api_keys:
            if key.startswith("sha256:"):
                key_index[key.removeprefix("sha256:").lower()] = tname
            elif key:  # an env reference that expanded to nothing gives no key
                key_index[key_digest(key)] = tname
    embedding = tuple(name for name, m in spec.models.items() if m.kind == "embeddings")
    return Policy(
        spec=spec,
        source=source,
        digest=digest,
        loaded_at=time.time(),
        routes=routes,
        embedding_models=embedding,
        adapters=adapters,
        key_index=key_index,
        tenant_routes={name: _tenant_routes(spec, routes, tenant) for name, tenant in spec.tenants.items()},
    )
