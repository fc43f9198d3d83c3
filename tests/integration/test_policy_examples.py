"""The example policies in policies/: each one validates, and each one serves as its comments say."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.procs import ROOT, Upstream, run_router, start_gateway

EXAMPLES = sorted((ROOT / "policies").glob("*.yaml"))
KEYS = {"ACME_KEY": "acme-secret", "GLOBEX_KEY": "globex-secret", "TEAM_A_KEY": "team-a-secret", "TEAM_B_KEY": "team-b-secret"}


def test_the_promised_examples_exist() -> None:
    names = {p.name for p in EXAMPLES}
    assert {"local-and-openai.yaml", "multi-tenant-lora.yaml", "cascade.yaml", "redis-replicas.yaml"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_validates(path: Path) -> None:
    result = run_router("policy", "validate", str(path), env=KEYS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"{path}: ok"


def test_tenant_example_names_the_keys_it_needs() -> None:
    """Without the tenants' keys in the environment, validation says which variable is missing."""
    result = run_router("policy", "validate", str(ROOT / "policies" / "multi-tenant-lora.yaml"), env={"ACME_KEY": ""})
    assert result.returncode == 1
    assert "environment variable GLOBEX_KEY is not set" in result.stdout + result.stderr


def _text(path: str) -> str:
    return (ROOT / "policies" / path).read_text()


def test_local_example_serves_from_the_local_servers(slm: Upstream, tmp_path: Path) -> None:
    env = {"VLLM_BASE_URL": slm.base_url, "LLAMACPP_BASE_URL": slm.base_url, "OLLAMA_BASE_URL": slm.base_url}
    gw = start_gateway(_text("local-and-openai.yaml"), tmp_path, env=env)
    try:
        r = httpx.post(
            f"{gw.base_url}/chat/completions", json={"model": "local", "messages": [{"role": "user", "content": "hi"}]}
        )
        assert r.status_code == 200, r.text
        assert (r.headers["x-router-model"], r.headers["x-router-tier"]) == ("local-vllm", "slm")
        assert slm.received()[-1]["body"]["model"] == "microsoft/Phi-3-mini-4k-instruct"
    finally:
        gw.stop()


def test_tenant_example_keeps_adapters_to_their_tenant(slm: Upstream, tmp_path: Path) -> None:
    gw = start_gateway(_text("multi-tenant-lora.yaml"), tmp_path, env={**KEYS, "SLM_BASE_URL": slm.base_url})
    try:
        ask = {"model": "acme-support", "messages": [{"role": "user", "content": "hi"}]}
        own = httpx.post(f"{gw.base_url}/chat/completions", json=ask, headers={"authorization": "Bearer acme-secret"})
        assert own.status_code == 200, own.text
        assert slm.received()[-1]["body"]["model"] == "acme-support-v3"
        other = httpx.post(f"{gw.base_url}/chat/completions", json=ask, headers={"authorization": "Bearer globex-secret"})
        assert other.status_code == 404
        anonymous = httpx.post(f"{gw.base_url}/chat/completions", json=ask)
        assert anonymous.status_code == 401
    finally:
        gw.stop()
