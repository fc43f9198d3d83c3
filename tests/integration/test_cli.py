"""The `router` command line: policy validate/schema, explain, classify, and serve's defaults."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai

from tests.support.procs import ROOT, Upstream, child_env, free_port, run_router, start_gateway, stop, two_tier_policy

EXAMPLE_POLICY = """\
version: 1
models:
  local-phi3:
    tier: slm
    endpoint:
      base_url: ${SLM_BASE_URL:-http://127.0.0.1:8000/v1}
      model: phi-3-mini-4k-instruct
      api_key: ${SLM_API_KEY:-}
    context_window: 4096
    price: {input_per_mtok: 0.0, output_per_mtok: 0.0}
  hosted-gpt4o:
    tier: llm
    endpoint:
      provider: openai
      base_url: ${LLM_BASE_URL:-https://api.openai.com/v1}
      model: gpt-4o
      api_key: ${OPENAI_API_KEY:-}
    context_window: 128000
    price: {input_per_mtok: 2.50, output_per_mtok: 10.00}
routes:
  auto:
    strategy: classify
    tiers: {slm: [local-phi3], llm: [hosted-gpt4o]}
    threshold: 0.5
    fallback: [hosted-gpt4o]
  gpt-4o:
    strategy: fixed
    models: [hosted-gpt4o]
tenants:
  acme:
    api_keys: ["${ACME_KEY}"]
    routes: [auto]
    limits: {requests_per_minute: 600, tokens_per_minute: 100000, usd_per_day: 20.0}
    adapters:
      acme-support: {base: local-phi3, adapter: acme-support-v3}
"""


def test_design_example_policy_loads_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "design.yaml"
    path.write_text(EXAMPLE_POLICY)
    ok = run_router("policy", "validate", str(path), env={"ACME_KEY": "k-123"})
    assert ok.returncode == 0, ok.stderr
    missing = run_router("policy", "validate", str(path))  # ACME_KEY unset: the secret is missing
    assert missing.returncode == 1
    assert f"{path}:31: environment variable ACME_KEY is not set" in missing.stderr


def test_validate_reports_file_line_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\n"
        "models:\n"
        "  m1:\n"
        "    tier: medium\n"
        "    endpoint: {base_url: 'http://x/v1', model: m}\n"
        "    context_windw: 100\n"
        "routes:\n"
        "  auto:\n"
        "    strategy: fixed\n"
        "    models: [m2]\n"
    )
    good = ROOT / "router" / "policy" / "default.yaml"
    result = run_router("policy", "validate", str(good), str(bad))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert f"{bad}:4: models.m1.tier: Input should be 'slm' or 'llm'" in lines
    assert f"{bad}:6: models.m1.context_windw: unknown key (not in policy format version 1)" in lines
    assert f"{good}: ok" in result.stdout
    xref = tmp_path / "xref.yaml"
    xref.write_text(
        "version: 1\nmodels:\n  m1: {endpoint: {base_url: 'http://x/v1', model: m}}\nroutes:\n  r: {models: [m1, m2]}\n"
    )
    result = run_router("policy", "validate", str(xref))
    assert result.returncode == 1 and f"{xref}:5: routes.r.models.1: unknown model 'm2'" in result.stderr
    dup = tmp_path / "dup.yaml"
    dup.write_text("version: 1\nmodels: {}\nmodels: {}\n")
    assert f"{dup}:3: duplicate key 'models'" in run_router("policy", "validate", str(dup)).stderr


def test_schema_is_committed_and_current() -> None:
    result = run_router("policy", "schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["title"].startswith("Router gateway policy")
    assert {"models", "routes", "tenants"} <= set(schema["properties"])
    assert json.loads((ROOT / "policies" / "schema.json").read_text()) == schema, (
        "regenerate: router policy schema > policies/schema.json"
    )


def test_explain_text_and_request_file(tmp_path: Path) -> None:
    out = run_router("explain", "hi there")
    assert out.returncode == 0, out.stderr
    decision = json.loads(out.stdout)["decision"]
    assert decision["route"] == "auto" and decision["tier"] in ("slm", "llm") and decision["reason"]
    request = tmp_path / "req.json"
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    request.write_text(json.dumps({"model": "auto", "messages": [{"role": "user", "content": "hi"}], "tools": tools}))
    explained = json.loads(run_router("explain", "--request", str(request)).stdout)
    assert explained["decision"]["tier"] == "llm" and explained["decision"]["reason"] == "tools"
    assert explained["classification"]["needs_tools"] is True


def test_classify_jsonl_keeps_order_and_survives_bad_lines() -> None:
    lines = [
        json.dumps({"prompt": "hello"}),
        "not json",
        json.dumps({"messages": [{"role": "user", "content": "Compute the integral of x^2 from 0 to 3, step by step."}]}),
        json.dumps({"prompt": ""}),
        json.dumps({"messages": [{"role": "system", "content": "only a system message"}]}),
    ]
    result = run_router("classify", stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(x) for x in result.stdout.splitlines()]
    assert len(rows) == len(lines)
    assert "error" in rows[1] and "<stdin>:2:" in result.stderr
    for row in (rows[0], rows[2], rows[3], rows[4]):
        assert 0 <= row["p_strong"] <= 1 and 0 <= row["reasoning"] <= 1 and 0 <= row["knowledge"] <= 1
        assert row["tier"] in ("slm", "llm") and row["model"] in ("local-phi3", "hosted-gpt4o")
    assert rows[2]["reasoning"] > rows[0]["reasoning"]


def test_serve_with_no_flags_uses_defaults() -> None:
    """`router serve` alone: 127.0.0.1:8400, packaged policy, in-memory state (port via env only if 8400 is taken)."""
    env = {"ROUTER_POLICY": "", "ROUTER_PORT": ""}
    port = 8400
    try:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 8400))
    except OSError:
        port = free_port()
        env["ROUTER_PORT"] = str(port)
    full = child_env(env)
    if not env["ROUTER_PORT"]:
        full.pop("ROUTER_PORT")
    full.pop("ROUTER_POLICY")
    proc = subprocess.Popen(
        [sys.executable, "-m", "router", "serve"], cwd=ROOT, env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        import time

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                info = httpx.get(f"http://127.0.0.1:{port}/router/policy", timeout=0.5).json()
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise AssertionError("router serve did not start")
        assert info["source"].endswith("router/policy/default.yaml")
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").json()["ready"] is True
        assert {"auto", "gpt-4o"} <= set(info["routes"])
    finally:
        stop(proc)


def test_serve_writes_the_access_log_where_asked(slm: Upstream, llm: Upstream, tmp_path: Path) -> None:
    access = tmp_path / "access.ndjson"
    gw = start_gateway(
        two_tier_policy(slm.base_url, llm.base_url),
        tmp_path,
        args=["--access-log", str(access)],
        env={"ROUTER_DRAIN_SECONDS": "0"},
    )
    try:
        client = openai.OpenAI(base_url=gw.base_url, api_key="unused", max_retries=0)
        client.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-request-id": "access-1"}
        )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "access-1" not in (access.read_text() if access.exists() else ""):
            time.sleep(0.05)
        first = [json.loads(line) for line in access.read_text().splitlines()]
        assert [(x["request_id"], x["route"], x["status"]) for x in first] == [("access-1", "auto", 200)]
        client.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-request-id": "access-2"}
        )
    finally:
        gw.stop()  # a graceful stop writes what is still waiting
    assert [json.loads(line)["request_id"] for line in access.read_text().splitlines()] == ["access-1", "access-2"]
    assert '"request_id":"access-1"' not in gw.logs()  # to the file, not also to stderr
