"""Experts: task kind -> specialised models. Cross-reference checks at load time, and the per-tier model
lists `decide` uses for a request of a given kind.

A classify or cascade route's `experts` maps a task kind to models per tier; kinds without an entry (and
tiers the entry leaves out) use the route's `tiers`. The expert models come first and the route's own
tier models follow, so when an expert cannot take a request (tools, JSON mode, images, context window)
the general model of the same tier still can: fallback stays capability-aware because `decide` filters
every list by what each model can take. A delegate route's experts are tools of its core (see
router.dispatch.delegate).
"""

from __future__ import annotations

from router.policy.schema import PolicyFile, RouteSpec, Tier

Loc = tuple[str | int, ...]
VISION = "vision"  # the kind of a request with images; its experts must declare capabilities.vision


def tier_models(route: RouteSpec, kind: str, tier: Tier) -> tuple[list[str], list[str]]:
    """(expert models, all models in order) of one tier for a request of `kind`."""
    general = route.tiers.get(tier, [])
    entry = route.experts.get(kind)
    experts = (entry.slm if tier == "slm" else entry.llm) if entry is not None else []
    if not experts:
        return [], general
    return experts, [*experts, *(n for n in general if n not in experts)]


def expert_reference_errors(spec: PolicyFile) -> list[tuple[Loc, str]]:
    """Every expert names a chat model of the catalog, of the right tier, that declares the skill."""
    errors: list[tuple[Loc, str]] = []
    models = spec.models
    for rname, route in spec.routes.items():
        if route.strategy == "delegate" and route.core is not None:
            core = models.get(route.core)
            if core is None or core.kind != "chat":
                errors.append((("routes", rname, "core"), f"routes.{rname}.core: unknown chat model {route.core!r}"))
            elif not core.capabilities.tools:
                errors.append((("routes", rname, "core"), f"core {route.core!r} must support tools (capabilities.tools)"))
        for kind, expert in route.experts.items():
            named: list[tuple[Loc, str, Tier | None]] = [
                *((("routes", rname, "experts", kind, "slm", i), n, "slm") for i, n in enumerate(expert.slm)),
                *((("routes", rname, "experts", kind, "llm", i), n, "llm") for i, n in enumerate(expert.llm)),
            ]
            if expert.model is not None:
                named.append((("routes", rname, "experts", kind, "model"), expert.model, None))
            for loc, name, tier in named:
                where = ".".join(map(str, loc))
                model = models.get(name)
                if model is None or model.kind != "chat":
                    errors.append((loc, f"{where}: unknown chat model {name!r}"))
                elif tier is not None and model.tier != tier:
                    errors.append((loc, f"{where}: model {name!r} is tier {model.tier}, listed under {tier}"))
                elif kind == VISION and not model.capabilities.vision:
                    errors.append((loc, f"{where}: model {name!r} is a vision expert but lacks capabilities.vision"))
                elif kind != VISION and kind not in model.skills:
                    errors.append((loc, f"{where}: model {name!r} does not declare skill {kind!r} (skills: [{kind}])"))
    return errors
