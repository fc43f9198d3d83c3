"""Policy loading: env expansion, line-numbered errors, cross references, compiled lookups."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.policy.loader import MAX_POLICY_BYTES, PolicyInvalid, default_policy_path, load_policy, parse_policy

BASE = """\
version: 1
models:
  m:
    endpoint:
      base_url: ${BASE:-http://127.0.0.1:8000/v1}
      model: phi
      api_key: ${KEY}
routes:
  auto: {strategy: fixed, models: [m]}
"""


def issues(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(PolicyInvalid) as info:
        parse_policy(text.encode(), "p.yaml", env or {})
    return [str(i) for i in info.value.issues]


def test_env_expansion_and_defaults() -> None:
    p = parse_policy(BASE.encode(), "p.yaml", {"KEY": "sk-1"})
    assert p.model("m").endpoint.base_url == "http://127.0.0.1:8000/v1"
    assert p.model("m").endpoint.api_key == "sk-1"
    p = parse_policy(BASE.encode(), "p.yaml", {"KEY": "", "BASE": "http://other/v1"})
    assert p.model("m").endpoint.base_url == "http://other/v1"


def test_env_values_cannot_change_structure() -> None:
    p = parse_policy(BASE.encode(), "p.yaml", {"KEY": "x\nroutes: {}\n  evil: [1]"})
    assert p.model("m").endpoint.api_key.startswith("x\nroutes")
    assert "auto" in p.routes


def test_missing_env_is_an_error_with_line() -> None:
    assert issues(BASE) == ["p.yaml:7: environment variable KEY is not set (write ${KEY:-} if optional)"]


def test_shape_errors_point_at_lines() -> None:
    text = BASE.replace("model: phi", "model: phi\n      provider_x: 1").replace("${KEY}", "k")
    assert issues(text) == ["p.yaml:7: models.m.endpoint.provider_x: unknown key (not in policy format version 1)"]
    assert issues("version: 2\nmodels: {}\n")[0].startswith("p.yaml:1: version:")
    assert issues("")[0] == "p.yaml:1: policy file is empty"
    assert "YAML syntax" in issues("version: 1\nmodels: {a: [\n")[0]


def test_not_utf8() -> None:
    with pytest.raises(PolicyInvalid, match="not UTF-8"):
        parse_policy(b"version: 1\n\xff\n", "p.yaml", {})


def test_cross_references() -> None:
    text = BASE.replace("${KEY}", "k") + "  r2:\n    strategy: classify\n    tiers: {slm: [m], llm: [m]}\n"
    found = issues(text)
    assert found == ["p.yaml:12: model 'm' is tier slm, listed under llm"]
    text = (
        BASE.replace("${KEY}", "k") + "tenants:\n  t:\n    routes: [nope]\n    adapters:\n      a1: {base: ghost, adapter: x}\n"
    )
    assert issues(text) == [
        "p.yaml:12: tenants.t.routes.0: unknown route 'nope'",
        "p.yaml:14: tenants.t.adapters.a1.base: unknown base model 'ghost'",
    ]


def test_compiled_policy_exposes_models_as_routes() -> None:
    p = parse_policy(BASE.replace("${KEY}", "k").encode(), "p.yaml", {})
    assert set(p.routes) == {"auto", "m"}
    assert p.routes["m"].models == ["m"]
    assert len(p.digest) == 12


def test_packaged_default_policy_loads() -> None:
    p = load_policy(default_policy_path(), env={})
    assert p.routes["auto"].strategy == "classify"
    assert p.embedding_models == ("embed",)


def test_unreadable_file(tmp_path: object) -> None:
    with pytest.raises(PolicyInvalid, match="cannot read policy"):
        load_policy("/nonexistent/policy.yaml")


def test_anchors_and_aliases_within_bounds_load() -> None:
    text = BASE.replace("${KEY}", "k") + "  other: {strategy: fixed, models: &ms [m], fallback: *ms}\n"
    p = parse_policy(text.encode(), "p.yaml", {})
    assert p.routes["other"].fallback == ["m"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 1\nmodels: " + "[" * 100 + "\n", "p.yaml:2: YAML refused: nesting deeper than 64 levels"),
        ("version: 1\nmodels: &a [*a]\n", "p.yaml:2: YAML refused: alias *a names no anchor defined before it"),
        ("version: 1\n---\nversion: 1\n", "p.yaml:2: YAML refused: expected a single document in the file, found another"),
        ("version: !!int abc\n", "p.yaml:1: YAML refused: cannot read value: invalid literal for int() with base 10: 'abc'"),
        (
            "version: 1\na: &a " + "[" * 40 + "]" * 40 + "\nb: &b " + "[" * 30 + "*a" + "]" * 30 + "\nmodels: {}\n",
            "p.yaml:2: YAML refused: nesting deeper than 64 levels once aliases are expanded",
        ),
    ],
)
def test_yaml_bounds(text: str, message: str) -> None:
    assert issues(text) == [message]


def test_alias_expansion_is_bounded() -> None:
    text = "version: 1\na: &a [" + ",".join(["x"] * 100) + "]\n"
    text += "b: &b [" + ",".join(["*a"] * 100) + "]\n"  # 100 x 101 values
    [message] = issues(text)
    assert message == "p.yaml:3: YAML refused: aliases expand to more than 10000 values"


def test_size_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (MAX_POLICY_BYTES + 1))
    with pytest.raises(PolicyInvalid, match=f"larger than {MAX_POLICY_BYTES} bytes"):
        load_policy(path)
