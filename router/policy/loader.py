"""Read a policy file into a compiled Policy, or into a list of `file:line: message` errors.

YAML is composed once into nodes so that every value keeps its line; `${VAR}` / `${VAR:-default}` are
expanded in string values only (never in the YAML text, so an environment value cannot change the
structure); pydantic validates the shape, then cross-references are checked (routes name catalog models,
adapters name a base model, tenants name routes).

Whatever a file holds, loading it is bounded: at most MAX_POLICY_BYTES are read, YAML nesting and alias
expansion are capped (router.policy.bounded_yaml), and every failure is a PolicyInvalid with a line.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from router.policy.bounded_yaml import MAX_DEPTH, YAMLRefused, compose
from router.policy.compiled import Policy, compile_policy
from router.policy.experts import expert_reference_errors
from router.policy.schema import PolicyFile

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
Loc = tuple[str | int, ...]
MAX_POLICY_BYTES = 4 * 1024 * 1024  # about 20,000 tenants; a larger file is refused unread


@dataclass(frozen=True, slots=True)
class PolicyIssue:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class PolicyInvalid(Exception):
    """A policy that must not be loaded; carries every issue found."""

    def __init__(self, issues: list[PolicyIssue]) -> None:
        super().__init__("\n".join(str(i) for i in issues))
        self.issues = issues


def default_policy_path() -> Path:
    return Path(__file__).with_name("default.yaml")


def load_policy(path: str | Path, env: Mapping[str, str] | None = None) -> Policy:
    """Load and compile the policy at `path`; raise PolicyInvalid with every issue found."""
    path = Path(path)
    return parse_policy(read_policy_bytes(path), str(path), os.environ if env is None else env)


def read_policy_bytes(path: Path) -> bytes:
    """The file's bytes, or PolicyInvalid when it cannot be read or is larger than MAX_POLICY_BYTES."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        raise PolicyInvalid([PolicyIssue(str(path), 0, f"cannot read policy: {exc.strerror or exc}")]) from exc
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyInvalid([PolicyIssue(str(path), 1, f"policy file is larger than {MAX_POLICY_BYTES} bytes")])
    return raw


def parse_policy(raw: bytes, source: str, env: Mapping[str, str]) -> Policy:
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyInvalid([PolicyIssue(source, 1, f"policy file is larger than {MAX_POLICY_BYTES} bytes")])
    try:
        text = raw.decode("utf-8")
        root = compose(text)
    except UnicodeDecodeError as exc:
        raise PolicyInvalid([PolicyIssue(source, 1, f"not UTF-8: {exc.reason}")]) from exc
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise PolicyInvalid([PolicyIssue(source, line, f"YAML syntax: {exc.problem}")]) from exc
    except YAMLRefused as exc:
        raise PolicyInvalid([PolicyIssue(source, exc.line, f"YAML refused: {exc.message}")]) from exc
    except yaml.YAMLError as exc:  # e.g. a reader error on a control character
        raise PolicyInvalid([PolicyIssue(source, 1, f"YAML syntax: {exc}")]) from exc
    if root is None:
        raise PolicyInvalid([PolicyIssue(source, 1, "policy file is empty")])
    issues: list[PolicyIssue] = []
    lines: dict[Loc, int] = {}
    try:
        data = _to_data(root, (), lines, issues, source, env, yaml.SafeLoader(""))
    except YAMLRefused as exc:
        raise PolicyInvalid([PolicyIssue(source, exc.line, f"YAML refused: {exc.message}")]) from exc
    if issues:
        raise PolicyInvalid(issues)
    try:
        spec = PolicyFile.model_validate(data)
    except ValidationError as exc:
        raise PolicyInvalid([_issue_from_error(err, source, lines) for err in exc.errors()]) from exc
    issues = [PolicyIssue(source, _line_of(loc, lines), msg) for loc, msg in cross_reference_errors(spec)]
    if issues:
        raise PolicyInvalid(issues)
    return compile_policy(spec, source=source, digest=hashlib.sha256(raw).hexdigest()[:12])


def _to_data(
    node: yaml.Node,
    loc: Loc,
    lines: dict[Loc, int],
    issues: list[PolicyIssue],
    source: str,
    env: Mapping[str, str],
    scalars: yaml.SafeLoader,
) -> Any:
    """Build plain data from YAML nodes, recording the line of every location and expanding env refs."""
    line = lines[loc] = node.start_mark.line + 1
    if len(loc) > MAX_DEPTH:  # aliases inside aliases can nest deeper than the text does
        raise YAMLRefused(line, f"nesting deeper than {MAX_DEPTH} levels once aliases are expanded")
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
            if key in out:
                issues.append(PolicyIssue(source, key_node.start_mark.line + 1, f"duplicate key {key!r}"))
            out[key] = _to_data(value_node, (*loc, key), lines, issues, source, env, scalars)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_data(item, (*loc, i), lines, issues, source, env, scalars) for i, item in enumerate(node.value)]
    try:
        value = scalars.construct_object(node)  # scalar: int, float, bool, null or str
    except (yaml.YAMLError, ValueError, TypeError) as exc:  # e.g. `!!int abc`, an unknown tag
        raise YAMLRefused(line, f"cannot read value: {getattr(exc, 'problem', None) or exc}") from None
    if isinstance(value, str) and "${" in value:
        return _expand(value, loc, lines, issues, source, env)
    return value


def _expand(value: str, loc: Loc, lines: dict[Loc, int], issues: list[PolicyIssue], source: str, env: Mapping[str, str]) -> str:
    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        issues.append(
            PolicyIssue(source, lines[loc], f"environment variable {name} is not set (write ${{{name}:-}} if optional)")
        )
        return ""

    return _ENV_REF.sub(repl, value)


def _line_of(loc: Loc, lines: Mapping[Loc, int]) -> int:
    while loc and loc not in lines:
        loc = loc[:-1]
    return lines.get(loc, 1)


def _issue_from_error(err: Any, source: str, lines: Mapping[Loc, int]) -> PolicyIssue:
    loc: Loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    where = ".".join(str(p) for p in loc) or "policy"
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown key (not in policy format version 1)"
    return PolicyIssue(source, _line_of(loc, lines), f"{where}: {message}")


def cross_reference_errors(spec: PolicyFile) -> list[tuple[Loc, str]]:
    """Names that must point at something: every reference checked, every miss reported."""
    errors: list[tuple[Loc, str]] = []
    chat_models = {name for name, m in spec.models.items() if m.kind == "chat"}

    def check(loc: Loc, name: str, allowed: set[str], what: str) -> None:
        if name not in allowed:
            errors.append((loc, f"{'.'.join(map(str, loc))}: unknown {what} {name!r}"))

    for rname, route in spec.routes.items():
        for tier, names in route.tiers.items():
            for i, name in enumerate(names):
                check(("routes", rname, "tiers", tier, i), name, set(spec.models), "model")
                if name in spec.models and spec.models[name].tier != tier:
                    errors.append(
                        (
                            ("routes", rname, "tiers", tier, i),
                            f"model {name!r} is tier {spec.models[name].tier}, listed under {tier}",
                        )
                    )
        for field in ("models", "fallback"):
            for i, name in enumerate(getattr(route, field)):
                check(("routes", rname, field, i), name, set(spec.models), "model")
        if route.strategy != "fixed":
            for name in route.tiers.get("slm", []) + route.tiers.get("llm", []):
                if name in spec.models and name not in chat_models:
                    errors.append((("routes", rname), f"route {rname!r}: {name!r} is not a chat model"))
    nameable = set(spec.routes) | set(spec.models)
    for tname, tenant in spec.tenants.items():
        for i, name in enumerate(tenant.routes):
            check(("tenants", tname, "routes", i), name, nameable, "route")
        for oname in tenant.overrides:
            check(("tenants", tname, "overrides", oname), oname, nameable, "route")
        for aname, adapter in tenant.adapters.items():
            check(("tenants", tname, "adapters", aname, "base"), adapter.base, chat_models, "base model")
            if aname in spec.routes or aname in spec.models:
                errors.append((("tenants", tname, "adapters", aname), f"adapter name {aname!r} collides with a route or model"))
    return errors + expert_reference_errors(spec)
