"""The compiled policy: a validated PolicyFile plus the lookups the hot path needs, built once per load.

A Policy is immutable; reload swaps the whole object, so a request that read it once sees one version.
"""

from __future__ import annotations

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

    @property
    def models(self) -> dict[str, ModelSpec]:
        return self.spec.models

    @property
    def tenants(self) -> dict[str, TenantSpec]:
        return self.spec.tenants

    def model(self, name: str) -> ModelSpec:
        return self.spec.models[name]


def compile_policy(spec: PolicyFile, *, source: str, digest: str) -> Policy:
    routes = dict(spec.routes)
    if spec.server.expose_models:
        for name, _model in spec.models.items():
            routes.setdefault(name, RouteSpec(strategy="fixed", models=[name]))
    adapters = {(t, a): ad for t, tenant in spec.tenants.items() for a, ad in tenant.adapters.items()}
    embedding = tuple(name for name, m in spec.models.items() if m.kind == "embeddings")
    return Policy(
        spec=spec,
        source=source,
        digest=digest,
        loaded_at=time.time(),
        routes=routes,
        embedding_models=embedding,
        adapters=adapters,
    )
