"""Only a request's model parameters reach an upstream: a tenant's body cannot redirect the call (and the
policy's API key) to a host of its choosing, on the fast path or through litellm, and no error body
carries a traceback, an exception's repr, a file path, an upstream URL or an upstream key.

A real socket listens on 127.0.0.1 for the whole module: every hostile field points at it, and it must
never see a connection."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.procs import Gateway, Upstream, free_port, run_router, start_gateway
from tests.support.trap import Trap

KEYS = {"FAST_KEY": "sk-fast-secret-1", "ANT_KEY": "sk-ant-secret-2", "CUSTOM_KEY": "sk-custom-secret-3", "AZ_KEY": "az-secret-4"}
TIMEOUTS = {"connect": 2, "first_token": 10, "idle": 5, "total": 20}


def hostile(trap: Trap) -> dict[str, Any]:
    """Every connection and credential setting litellm, the OpenAI SDK or a proxy might honour."""
    return {
        "base_url": trap.url,
        "api_base": trap.url,
        "azure_endpoint": trap.url,
        "aws_bedrock_runtime_endpoint": trap.url,
        "vertex_ai_location": "x",
        "aws_access_key_id": "AKIAHOSTILE",
        "aws_secret_access_key": "hostile",
        "api_key": "sk-attacker",
        "api_version": "1999-01-01",
        "organization": "org-attacker",
        "extra_headers": {"x-evil": "1", "host": "evil.example"},
        "headers": {"x-evil": "1"},
        "extra_body": {"api_base": trap.url},
        "custom_llm_provider": "openai",
        "mock_response": "pwned",
        "num_retries": 5,
        "timeout": 0.001,
        "litellm_params": {"api_base": trap.url},
    }


@pytest.fixture(scope="module")
def trap() -> Iterator[Trap]:
    with Trap() as t:
        yield t


def _model(provider: str, base_url: str, model: str, key: str, **extra: Any) -> dict[str, Any]:
    endpoint = {"provider": provider, "base_url": base_url, "model": model, "api_key": "${" + key + "}", **extra}
    return {"tier": "llm", "endpoint": endpoint, "timeouts": TIMEOUTS}


@pytest.fixture(scope="module")
def gw(llm: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    root, dead = f"http://127.0.0.1:{llm.port}", f"http://127.0.0.1:{free_port()}"
    models = {
        "fast": _model("openai", llm.base_url, "gpt-4o", "FAST_KEY", extra_params=["guided_json"]),
        "native": _model("openai", llm.base_url, "gpt-4.1", "FAST_KEY", apis=["chat", "responses"]),
        "claude": _model("anthropic", root, "claude-x", "ANT_KEY"),
        "custom": _model("custom_openai", llm.base_url, "gpt-4o", "CUSTOM_KEY"),
        "azure": _model("azure", root, "gpt4-deploy", "AZ_KEY", api_version="2024-02-01"),
        "dead-fast": _model("openai", dead + "/v1", "gpt-4o", "FAST_KEY"),
        "dead-claude": _model("anthropic", dead, "claude-x", "ANT_KEY"),
        "fast-embed": {**_model("openai", llm.base_url, "emb", "FAST_KEY"), "kind": "embeddings"},
        "azure-embed": {**_model("azure", root, "emb-deploy", "AZ_KEY", api_version="2024-02-01"), "kind": "embeddings"},
    }
    policy = {
        "version": 1,
        "models": models,
        "routes": {name: {"strategy": "fixed", "models": [name]} for name in models},
        "server": {"scorer": "heuristic", "retries": {"attempts": 0}},
    }
    gateway = start_gateway(json.dumps(policy), Path(tmp_path_factory.mktemp("params")), env=KEYS)
    yield gateway
    gateway.stop()


POLICY_KEY = {"fast": "FAST_KEY", "native": "FAST_KEY", "claude": "ANT_KEY", "custom": "CUSTOM_KEY", "azure": "AZ_KEY"}


def _check_sent(llm: Upstream, trap: Trap, route: str, fields: dict[str, Any]) -> None:
    assert trap.received == [], "a request body sent the upstream call elsewhere"
    sent = llm.received()
    assert sent, "the configured upstream was not called"
    for call in sent:
        leaked = set(fields) & set(call["body"])
        assert not leaked, f"{route}: body fields passed upstream: {sorted(leaked)}"
        headers = {k.lower(): v for k, v in call["headers"].items()}
        assert "x-evil" not in headers and "sk-attacker" not in json.dumps(headers)
        assert KEYS[POLICY_KEY[route]] in json.dumps(headers)  # the policy's key, to the policy's host only


def _streamed_text(text: str) -> str:
    assert text.rstrip().endswith("data: [DONE]"), text
    events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
    return "".join(c["delta"].get("content") or "" for e in events for c in e.get("choices", []))


@pytest.mark.parametrize("route", ["fast", "claude", "custom", "azure"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_connection_fields_in_a_chat_body_never_leave_the_policy(
    gw: Gateway, llm: Upstream, trap: Trap, route: str, stream: bool
) -> None:
    fields = hostile(trap)
    body = {"model": route, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 20, "stream": stream, **fields}
    r = httpx.post(f"{gw.base_url}/chat/completions", json=body, timeout=30)
    assert r.status_code == 200, r.text
    assert "you said: hello" in (_streamed_text(r.text) if stream else r.json()["choices"][0]["message"]["content"])
    assert "pwned" not in r.text
    _check_sent(llm, trap, route, fields)


def test_a_policy_may_pass_more_model_parameters_but_not_settings(gw: Gateway, llm: Upstream, tmp_path: Path) -> None:
    body = {"model": "fast", "messages": [{"role": "user", "content": "x"}], "guided_json": {"type": "object"}, "vendor": 1}
    assert httpx.post(f"{gw.base_url}/chat/completions", json=body, timeout=30).status_code == 200
    sent = llm.received()[-1]["body"]
    assert sent["guided_json"] == {"type": "object"} and "vendor" not in sent
    bad = {"version": 1, "models": {"m": _model("openai", llm.base_url, "x", "FAST_KEY", extra_params=["api_base"])}}
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(bad))
    result = run_router("policy", "validate", str(path), env=KEYS)
    assert result.returncode == 1
    assert "extra_params may name model parameters only" in result.stdout + result.stderr


@pytest.mark.parametrize("route", ["native", "fast", "claude", "azure"])  # passed through natively, or translated
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_connection_fields_in_a_responses_body_never_leave_the_policy(
    gw: Gateway, llm: Upstream, trap: Trap, route: str, stream: bool
) -> None:
    fields = hostile(trap)
    body = {"model": route, "input": "hello", "max_output_tokens": 20, "stream": stream, **fields}
    r = httpx.post(f"{gw.base_url}/responses", json=body, timeout=30)
    assert r.status_code == 200, r.text
    assert "hello" in r.text and "pwned" not in r.text
    _check_sent(llm, trap, route, fields)
    if route == "native":
        assert llm.received()[-1]["path"] == "/v1/responses"


def test_legacy_completions_pass_model_parameters_only(gw: Gateway, llm: Upstream, trap: Trap) -> None:
    fields = hostile(trap)
    body = {"model": "fast", "prompt": "hello", "max_tokens": 5, "top_k": 3, "echo": False, **fields}
    r = httpx.post(f"{gw.base_url}/completions", json=body, timeout=30)
    assert r.status_code == 200, r.text
    _check_sent(llm, trap, "fast", fields)
    sent = llm.received()[-1]["body"]
    assert (sent["prompt"], sent["max_tokens"], sent["top_k"], sent["echo"]) == ("hello", 5, 3, False)


@pytest.mark.parametrize("route", ["fast-embed", "azure-embed"])
def test_connection_fields_in_an_embeddings_body_never_leave_the_policy(
    gw: Gateway, llm: Upstream, trap: Trap, route: str
) -> None:
    fields = hostile(trap)
    r = httpx.post(f"{gw.base_url}/embeddings", json={"model": route, "input": ["a", "b"], "dimensions": 8, **fields}, timeout=30)
    assert r.status_code == 200, r.text
    assert len(r.json()["data"]) == 2
    _check_sent(llm, trap, "fast" if route == "fast-embed" else "azure", fields)
    assert llm.received()[-1]["body"].get("dimensions") == 8


def _assert_clean(text: str) -> None:
    for needle in ("Traceback", 'File "', ".py", "127.0.0.1", "http://", "litellm", "Error(", "<", *KEYS.values()):
        assert needle not in text, f"{needle!r} in error body: {text}"


@pytest.mark.parametrize("route", ["dead-fast", "dead-claude"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_an_unreachable_upstream_error_says_nothing_internal(gw: Gateway, route: str, stream: bool) -> None:
    body = {"model": route, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    r = httpx.post(f"{gw.base_url}/chat/completions", json=body, timeout=30)
    assert r.status_code == 502, r.text
    assert r.json()["error"]["code"] == "bad_gateway"
    _assert_clean(r.text)


@pytest.mark.parametrize("route", ["fast", "claude", "custom", "azure"])
@pytest.mark.parametrize("status", [401, 400, 500])
def test_an_upstream_error_that_echoes_the_key_is_redacted(gw: Gateway, llm: Upstream, route: str, status: int) -> None:
    key = KEYS[POLICY_KEY[route]]
    message = f'Incorrect API key provided: {key}. at {llm.base_url} Traceback (most recent call last):\n  File "/srv/x.py"'
    llm.control(mode="status", status=status, error={"message": message, "type": "invalid_request_error", "code": key})
    body = {"model": route, "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(f"{gw.base_url}/chat/completions", json=body, timeout=30)
    assert r.status_code in (400, 502), r.text
    assert r.json()["error"]["message"]
    _assert_clean(r.text)
    assert key not in gw.logs()
