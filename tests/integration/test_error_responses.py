"""A model that cannot be called for want of an API key says so, instead of passing on a 401 from the
hosted API. Real upstream processes, a real gateway."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from router.upstream.keys import MissingKey
from tests.support.procs import ROOT, Gateway, Upstream, start_gateway

MSG = [{"role": "user", "content": "hi"}]


def post(gw: Gateway, path: str, body: dict[str, Any], request_id: str) -> httpx.Response:
    return httpx.post(f"{gw.base_url}/{path}", json=body, headers={"x-request-id": request_id}, timeout=30)


@pytest.fixture(scope="module")
def default_gw(slm: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The packaged default policy with no OpenAI key set, its SLM pointed at a test server."""
    text = (ROOT / "router" / "policy" / "default.yaml").read_text()
    env = {"OPENAI_API_KEY": "", "SLM_BASE_URL": slm.base_url}
    gw = start_gateway(text, Path(tmp_path_factory.mktemp("default")), env=env)
    yield gw
    gw.stop()


def test_the_default_policy_without_a_key_says_which_key_is_missing(default_gw: Gateway, slm: Upstream) -> None:
    r = post(default_gw, "chat/completions", {"model": "gpt-4o", "messages": MSG}, "no-key-1")
    assert r.status_code == 503, r.text
    error = r.json()["error"]
    assert error["code"] == MissingKey.code == "upstream_key_missing"
    assert "hosted-gpt4o" in error["message"] and "OPENAI_API_KEY" in error["message"]
    assert "api.openai.com" in error["message"]
    slm.control(mode="status", status=500)  # the SLM down too: the summary names the missing key as well
    r = post(default_gw, "chat/completions", {"model": "auto", "messages": MSG}, "no-key-2")
    assert r.status_code == 502, r.text
    assert "local-phi3" in r.json()["error"]["message"] and "OPENAI_API_KEY" in r.json()["error"]["message"]
    r = post(default_gw, "embeddings", {"model": "embed", "input": "hi"}, "no-key-3")
    assert r.status_code == 503 and "OPENAI_API_KEY" in r.json()["error"]["message"], r.text


def test_a_missing_key_never_opens_the_breaker(default_gw: Gateway) -> None:
    for i in range(8):  # more than the default breaker's consecutive failures
        r = post(default_gw, "chat/completions", {"model": "gpt-4o", "messages": MSG}, f"no-key-b{i}")
        assert r.json()["error"]["code"] == "upstream_key_missing", r.text
    assert httpx.get(f"{default_gw.url}/readyz").json()["breakers"].get("hosted-gpt4o", "closed") == "closed"
