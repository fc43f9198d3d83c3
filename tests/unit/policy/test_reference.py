"""docs/policy.md documents every field of the policy format (a new field without a line there fails)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from router.policy.schema import json_schema

DOC = Path(__file__).resolve().parents[3] / "docs" / "policy.md"


def _field_names(schema: dict[str, Any]) -> set[str]:
    names: set[str] = set(schema.get("properties", {}))
    for definition in schema.get("$defs", {}).values():
        names |= set(definition.get("properties", {}))
    return names


def test_every_policy_field_is_in_the_reference() -> None:
    documented = set(re.findall(r"`([a-z_][a-z0-9_]*)`", DOC.read_text()))
    missing = sorted(_field_names(json_schema()) - documented)
    assert not missing, f"docs/policy.md does not describe: {missing}"
