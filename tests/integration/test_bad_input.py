"""Bad input gets a 4xx in the OpenAI error shape; a failing upstream a 502/503/504; never a 500 or a 422."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.procs import Gateway, Upstream, start_gateway, two_tier_policy

CHAT = "/v1/chat/completions"


def post(gw: Gateway, body: object = None, content: bytes | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
    if content is None:
        content = json.dumps(body).encode()
    return httpx.post(gw.url + CHAT, content=content, headers={"content-type": "application/json", **(headers or {})}, timeout=30)


def assert_openai_error(r: httpx.Response, status: int, type_: str | None = None, code: str | None = None) -> dict[str, object]:
    assert r.status_code == status, r.text
    assert int(r.headers["content-length"]) == len(r.content)
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"]
    if type_:
        assert body["error"]["type"] == type_
    if code:
        assert body["error"]["code"] == code
    return dict(body["error"])


MSG = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("content", "param"),
    [
        (b"{not json", None),
        (b"", None),
        (b"[1, 2]", None),
        (b'{"model": "auto", "messages": [{"role": "user", "content": "\xff\xfe"}]}', None),
        (json.dumps({"messages": MSG}).encode(), "model"),
        (json.dumps({"model": 3, "messages": MSG}).encode(), "model"),
        (json.dumps({"model": "auto"}).encode(), "messages"),
        (json.dumps({"model": "auto", "messages": []}).encode(), "messages"),
        (json.dumps({"model": "auto", "messages": "hello"}).encode(), "messages"),
        (json.dumps({"model": "auto", "messages": [{"role": "wizard", "content": "x"}]}).encode(), "messages[0].role"),
        (json.dumps({"model": "auto", "messages": [{"role": "user", "content": 5}]}).encode(), "messages[0].content"),
        (json.dumps({"model": "auto", "messages": MSG, "max_tokens": -5}).encode(), "max_tokens"),
        (json.dumps({"model": "auto", "messages": MSG, "max_tokens": "many"}).encode(), "max_tokens"),
        (json.dumps({"model": "auto", "messages": MSG, "stream": "yes"}).encode(), "stream"),
        (json.dumps({"model": "auto", "messages": MSG, "temperature": True}).encode(), "temperature"),
    ],
)
def test_bad_requests_are_400(gateway: Gateway, content: bytes, param: str | None) -> None:
    error = assert_openai_error(post(gateway, content=content), 400, "invalid_request_error")
    if param:
        assert error["param"] == param


def test_bad_hint_headers_are_400(gateway: Gateway) -> None:
    r = post(gateway, {"model": "auto", "messages": MSG}, headers={"x-router-tier": "huge"})
    assert_openai_error(r, 400)
    r = post(gateway, {"model": "auto", "messages": MSG}, headers={"x-router-latency-budget-ms": "-1"})
    assert_openai_error(r, 400)


def test_unknown_model_and_unknown_path(gateway: Gateway) -> None:
    assert_openai_error(post(gateway, {"model": "gpt-17", "messages": MSG}), 404, code="model_not_found")
    assert_openai_error(httpx.post(gateway.url + "/v1/nothing", json={}), 404)
    assert_openai_error(httpx.get(gateway.url + CHAT), 405)


def test_body_over_limit_is_413(slm: Upstream, llm: Upstream, tmp_path: object) -> None:
    policy = two_tier_policy(slm.base_url, llm.base_url, server={"max_body_bytes": 10_000, "scorer": "heuristic"})
    gw = start_gateway(policy, tmp_path)  # type: ignore[arg-type]
    try:
        big = {"model": "auto", "messages": [{"role": "user", "content": "x" * 20_000}]}
        assert_openai_error(post(gw, big), 413, code="request_too_large")

        def chunks() -> object:
            yield json.dumps(big).encode()

        chunked = httpx.post(gw.url + CHAT, content=chunks(), headers={"content-type": "application/json"})  # type: ignore[arg-type]
        assert_openai_error(chunked, 413)
        assert post(gw, {"model": "auto", "messages": MSG}).status_code == 200
        assert slm.received()[-1]["body"]["messages"] == MSG
    finally:
        gw.stop()


def test_default_limit_is_32_mib(gateway: Gateway) -> None:
    """Issue 14: 4 MiB refused a 6 MiB base64 image that OpenAI and vLLM accept."""
    big = {"model": "auto", "messages": [{"role": "user", "content": "x" * (32 * 1024 * 1024 + 10)}]}
    assert_openai_error(post(gateway, big), 413)


@pytest.mark.parametrize(("mode", "status"), [("garbage", 502), ("status", 502)])
def test_failing_upstream_gives_5xx(gateway: Gateway, slm: Upstream, mode: str, status: int) -> None:
    slm.control(mode=mode, status=500)
    r = post(gateway, {"model": "small", "messages": MSG})
    assert_openai_error(r, status, "upstream_error")


def test_upstream_down_gives_502_and_timeout_504(gateway: Gateway, slm: Upstream, llm: Upstream, policy_text: str) -> None:
    from tests.support.procs import free_port

    dead = json.loads(policy_text)
    dead["models"]["local-slm"]["endpoint"]["base_url"] = f"http://127.0.0.1:{free_port()}/v1"
    dead["models"]["hosted-llm"]["timeouts"] = {"connect": 1, "first_token": 0.5, "idle": 0.5, "total": 1}
    assert gateway.rewrite_policy(json.dumps(dead))["last_reload_error"] is None
    try:
        assert_openai_error(post(gateway, {"model": "small", "messages": MSG}), 502, "upstream_error")
        llm.control(mode="hang")
        assert_openai_error(post(gateway, {"model": "gpt-4o", "messages": MSG}), 504, code="upstream_timeout")
        r = post(gateway, {"model": "gpt-4o", "messages": MSG, "stream": True})
        assert_openai_error(r, 504)
    finally:
        gateway.rewrite_policy(policy_text)


def test_upstream_client_error_passes_as_400(gateway: Gateway, slm: Upstream) -> None:
    slm.control(mode="status", status=400)
    assert_openai_error(post(gateway, {"model": "small", "messages": MSG}), 400)


def test_clients_cannot_choose_the_upstream(gateway: Gateway, slm: Upstream) -> None:
    """Fields naming URLs are passed as opaque data to the policy's endpoint; the gateway never follows them."""
    body = {"model": "small", "messages": MSG, "base_url": "http://169.254.169.254/", "api_base": "http://evil/"}
    r = post(gateway, body, headers={"x-router-base-url": "http://evil/", "host": "evil"})
    assert r.status_code == 200
    assert r.headers["x-router-model"] == "local-slm"
    assert len(slm.received()) == 1


def test_embedding_model_is_not_a_chat_model(gateway: Gateway) -> None:
    """Embedding models are named on /v1/embeddings; on chat they do not exist (they are listed: issue 14)."""
    r = post(gateway, {"model": "embedder", "messages": MSG})
    assert_openai_error(r, 404, code="model_not_found")
    ids = {m["id"] for m in httpx.get(gateway.base_url + "/models").json()["data"]}
    assert "embedder" in ids


def test_usage_days_are_checked(gateway: Gateway) -> None:
    for query in ({"day_from": "2026-13-01"}, {"day_to": "yesterday"}):
        error = assert_openai_error(httpx.get(gateway.url + "/router/usage", params=query), 400)
        assert error["param"] in ("day_from", "day_to")
