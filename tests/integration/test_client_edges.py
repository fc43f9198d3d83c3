"""Where the gateway used to differ from the server behind it (issue 14's edges), checked with the official
openai client or plain HTTP: model retrieval, long plain generations, upstream error fields, headers both
ways, CORS, large bodies and lone UTF-16 surrogates."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.support.procs import Gateway, Upstream, start_gateway, two_tier_policy

MSG = [{"role": "user", "content": "hi"}]
TIMEOUTS = {"connect": 1, "first_token": 1, "idle": 1, "total": 4}


def edge_policy(slm: Upstream, llm: Upstream, **server: object) -> str:
    p = json.loads(two_tier_policy(slm.base_url, llm.base_url))
    for model in ("local-slm", "hosted-llm"):
        p["models"][model]["timeouts"] = TIMEOUTS
    p["models"]["hosted-llm"]["capabilities"] = {"vision": True}
    p["server"] |= {"forward_headers": ["x-team-trace"], "cors": {"origins": ["https://app.example.com"]}, **server}
    return json.dumps(p)


@pytest.fixture(scope="module")
def egw(slm: Upstream, llm: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = start_gateway(edge_policy(slm, llm), tmp_path_factory.mktemp("edges"))
    yield gw
    gw.stop()


def client(gw: Gateway, retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key="not-needed", max_retries=retries)


# 3. models


def test_retrieve_a_model_and_embeddings_are_listed(egw: Gateway) -> None:
    c = client(egw)
    assert c.models.retrieve("auto").id == "auto"
    assert c.models.retrieve("embedder").id == "embedder"
    with pytest.raises(openai.NotFoundError) as err:
        c.models.retrieve("no-such-model")
    assert isinstance(err.value.body, dict) and err.value.body["code"] == "model_not_found"
    ids = [m.id for m in c.models.list()]
    assert {"auto", "gpt-4o", "small", "local-slm", "hosted-llm", "embedder"} <= set(ids)
    assert c.embeddings.create(model="embedder", input="x").data  # what is listed can be used


def test_retrieve_a_stored_response(egw: Gateway) -> None:
    c = client(egw)
    made = c.responses.create(model="small", input="keep this")
    got = c.responses.retrieve(made.id)
    assert got.id == made.id and got.output_text == made.output_text
    with pytest.raises(openai.NotFoundError):
        c.responses.retrieve("resp_unknown")


# 4. long plain generations and retries


def test_plain_generation_longer_than_first_token_and_idle_is_not_cut(egw: Gateway, slm: Upstream) -> None:
    slm.control(delay_ms=2200)  # first_token and idle are 1 s; total 4 s
    started = time.monotonic()
    r = client(egw).chat.completions.with_raw_response.create(model="small", messages=MSG)
    assert r.parse().choices[0].message.content == "[slm] you said: hi"
    assert 2.1 < time.monotonic() - started < 4
    assert len(slm.received()) == 1


def test_timeout_after_acceptance_is_not_generated_again(egw: Gateway, slm: Upstream, llm: Upstream) -> None:
    slm.control(mode="hang")
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as err:
        client(egw, retries=2).chat.completions.create(model="auto", messages=MSG)  # the client would retry a 504
    assert err.value.status_code == 504 and err.value.response.headers["x-should-retry"] == "false"
    assert 3.9 < time.monotonic() - started < 7  # one total timeout: no client retry, no fallback
    assert len(slm.received()) == 1 and llm.received() == []


def test_policy_may_allow_fallback_after_a_timeout(
    slm: Upstream, llm: Upstream, tmp_path_factory: pytest.TempPathFactory
) -> None:
    text = edge_policy(slm, llm, retries={"attempts": 0, "fallback_after_timeout": True})
    gw = start_gateway(text, tmp_path_factory.mktemp("fallback"))
    try:
        slm.control(mode="hang")
        r = client(gw).chat.completions.with_raw_response.create(model="auto", messages=MSG)
        assert r.headers["x-router-model"] == "hosted-llm"
    finally:
        gw.stop()


def test_errors_the_gateway_retried_say_do_not_retry(
    slm: Upstream, llm: Upstream, tmp_path_factory: pytest.TempPathFactory
) -> None:
    gw = start_gateway(edge_policy(slm, llm, retries={"attempts": 1, "base_delay_s": 0.01}), tmp_path_factory.mktemp("retry"))
    try:
        slm.control(mode="status", status=503)
        llm.control(mode="status", status=503)
        with pytest.raises(openai.APIStatusError) as err:
            client(gw, retries=2).chat.completions.create(model="auto", messages=MSG)
        assert err.value.status_code == 502 and err.value.response.headers["x-should-retry"] == "false"
        assert len(slm.received()) == 2 and len(llm.received()) == 2  # one retry each, then no more from the client
    finally:
        gw.stop()


# 5. upstream error fields


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, {"message": "maximum context length is 4096 tokens", "type": "invalid_request_error", "param": "messages",
               "code": "context_length_exceeded"}),
        (400, {"message": "temperature must be <= 2", "type": "invalid_request_error", "param": "temperature", "code": None}),
        (413, {"message": "request too large for the model", "type": "invalid_request_error", "param": None, "code": "too_large"}),
        (422, {"message": "unprocessable", "type": "BadRequestError", "param": "n", "code": "invalid_value"}),
    ],
)  # fmt: skip
def test_upstream_errors_keep_status_type_param_and_code(
    egw: Gateway, slm: Upstream, status: int, error: dict[str, object]
) -> None:
    slm.control(mode="status", status=status, error=error)
    r = httpx.post(egw.base_url + "/chat/completions", json={"model": "small", "messages": MSG})
    assert r.status_code == status
    assert r.json()["error"] == error


def test_upstream_rate_limit_passes_with_its_headers(egw: Gateway, slm: Upstream) -> None:
    slm.control(mode="status", status=429, retry_after=7, headers={"x-ratelimit-remaining-requests": "0"})
    r = httpx.post(egw.base_url + "/chat/completions", json={"model": "small", "messages": MSG})
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
    assert r.headers["x-ratelimit-remaining-requests"] == "0"
    assert r.json()["error"]["type"] == "server_error"


# 6. headers both ways, and a model name the client can send back


def test_trace_context_and_allow_listed_headers_reach_the_upstream(egw: Gateway, slm: Upstream) -> None:
    headers = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tracestate": "vendor=value",
        "x-request-id": "req-edge-1",
        "x-team-trace": "t-9",
        "x-secret-internal": "no",
        "cookie": "session=abc",
    }
    client(egw).chat.completions.create(model="small", messages=MSG, extra_headers=headers)
    got = {k.lower(): v for k, v in slm.received()[-1]["headers"].items()}
    for name in ("traceparent", "tracestate", "x-request-id", "x-team-trace"):
        assert got[name] == headers[name]
    assert "x-secret-internal" not in got and "cookie" not in got
    assert got.get("authorization") != "Bearer not-needed"  # the client's key never reaches the upstream


def test_a_forwarded_header_the_upstream_could_not_take_is_dropped_not_a_500(egw: Gateway, slm: Upstream) -> None:
    # header values arrive as bytes; anything but visible ASCII (here the UTF-8 of "é", a Latin-1 byte) is
    # not passed on, and the request is answered as if the header were absent (this was a 500)
    for raw in (b"00-caf\xc3\xa9", b"t\xffx"):
        r = httpx.post(
            egw.base_url + "/chat/completions",
            json={"model": "small", "messages": MSG},
            headers=[(b"traceparent", raw), (b"x-team-trace", raw)],
        )
        assert r.status_code == 200, r.text
        got = {k.lower() for k in slm.received()[-1]["headers"]}
        assert "traceparent" not in got and "x-team-trace" not in got


def test_upstream_rate_limit_headers_come_back(egw: Gateway, slm: Upstream) -> None:
    slm.control(headers={"x-ratelimit-remaining-tokens": "1234", "x-ratelimit-limit-tokens": "5000", "x-upstream-secret": "s"})
    raw = client(egw).chat.completions.with_raw_response.create(model="small", messages=MSG)
    assert raw.headers["x-ratelimit-remaining-tokens"] == "1234" and raw.headers["x-ratelimit-limit-tokens"] == "5000"
    assert "x-upstream-secret" not in raw.headers
    chunks = client(egw).chat.completions.with_raw_response.create(model="small", messages=MSG, stream=True)
    assert chunks.headers["x-ratelimit-remaining-tokens"] == "1234"


def test_response_model_is_a_name_the_gateway_accepts(egw: Gateway, slm: Upstream) -> None:
    c = client(egw)
    first = c.chat.completions.create(model="auto", messages=MSG)
    assert first.model == "auto" and slm.received()[-1]["body"]["model"] == "phi-3-mini"
    again = c.chat.completions.create(model=first.model, messages=MSG)  # sent back as it came
    assert again.model == "auto"
    chunks = list(c.chat.completions.create(model="small", messages=MSG, stream=True))
    assert {chunk.model for chunk in chunks} == {"small"}
    assert c.completions.create(model="small", prompt="hi").model == "small"


# 7. CORS


def test_cors_preflight_and_headers_for_allowed_origins_only(egw: Gateway) -> None:
    origin = "https://app.example.com"
    pre = httpx.options(
        egw.base_url + "/chat/completions",
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization,content-type",
        },
    )
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == origin
    assert "POST" in pre.headers["access-control-allow-methods"]
    assert "authorization" in pre.headers["access-control-allow-headers"].lower()
    r = httpx.post(egw.base_url + "/chat/completions", json={"model": "small", "messages": MSG}, headers={"origin": origin})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == origin
    assert "x-router-model" in r.headers["access-control-expose-headers"]
    err = httpx.post(egw.base_url + "/chat/completions", json={"model": "nope", "messages": MSG}, headers={"origin": origin})
    assert err.status_code == 404 and err.headers["access-control-allow-origin"] == origin  # errors too
    other = httpx.post(
        egw.base_url + "/chat/completions", json={"model": "small", "messages": MSG}, headers={"origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in other.headers
    bad = httpx.options(
        egw.base_url + "/chat/completions", headers={"origin": "https://evil.example", "access-control-request-method": "POST"}
    )
    assert bad.status_code == 400 and "access-control-allow-origin" not in bad.headers


def test_cors_is_off_by_default(gateway: Gateway) -> None:
    origin = "https://app.example.com"
    r = httpx.post(gateway.base_url + "/chat/completions", json={"model": "small", "messages": MSG}, headers={"origin": origin})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    pre = httpx.options(
        gateway.base_url + "/chat/completions", headers={"origin": origin, "access-control-request-method": "POST"}
    )
    assert pre.status_code == 405 and "access-control-allow-origin" not in pre.headers


# 8. request size


def test_six_mib_base64_image_is_accepted_and_the_default_limit_is_32_mib(egw: Gateway, llm: Upstream) -> None:
    image = "data:image/png;base64," + base64.b64encode(b"\x89PNG" + bytes(range(256)) * (6 * 1024 * 1024 // 256)).decode()
    assert len(image) > 6 * 1024 * 1024
    content = [{"type": "text", "text": "describe"}, {"type": "image_url", "image_url": {"url": image}}]
    r = client(egw).chat.completions.with_raw_response.create(model="auto", messages=[{"role": "user", "content": content}])
    assert r.headers["x-router-model"] == "hosted-llm"  # the vision model
    assert llm.received()[-1]["body"]["messages"][0]["content"][1]["image_url"]["url"] == image
    too_big = b'{"model": "small", "messages": [{"role": "user", "content": "' + b"x" * (32 * 1024 * 1024) + b'"}]}'
    r2 = httpx.post(egw.base_url + "/chat/completions", content=too_big, headers={"content-type": "application/json"}, timeout=60)
    assert r2.status_code == 413 and r2.json()["error"]["code"] == "request_too_large"


# 9. lone surrogates


def test_lone_utf16_surrogate_is_accepted_and_passed_on(egw: Gateway, slm: Upstream) -> None:
    raw = b'{"model": "small", "messages": [{"role": "user", "content": "half an emoji: \\ud83d"}]}'
    r = httpx.post(egw.base_url + "/chat/completions", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert slm.received()[-1]["body"]["messages"][0]["content"] == "half an emoji: \ud83d"
    r = httpx.post(egw.base_url + "/responses", content=raw.replace(b'"messages": [{"role": "user", "content": ', b'"input": ').replace(b"}]}", b"}"),
                   headers={"content-type": "application/json"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert slm.received()[-1]["body"]["messages"][0]["content"] == "half an emoji: \ud83d"
    for bad in (b'{"model": "small", "messages": NaN}', b'{"model": "small"', b"[" * 100_000):
        r = httpx.post(egw.base_url + "/chat/completions", content=bad, headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
