"""Small holes an attack found, each through HTTP: message shapes the gateway reads are checked (400 with
the field named, never 500), JSON nested too deeply is a 400, an upstream's malformed stream event does
not cut the stream, adapter names are checked before anything is stored or paid, a client leaving
mid-body logs no traceback, and a usage read during a Redis outage says it is partial."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.procs import Gateway, Upstream, start_gateway, two_tier_policy
from tests.support.redis_server import REDIS_SERVER, RedisServer

ADMIN, ACME = "sk-admin-hard-1", "sk-acme-hard-2"
CHAT = "/v1/chat/completions"


def _post(gw: Gateway, path: str, body: Any, key: str | None = None) -> httpx.Response:
    headers = {"content-type": "application/json", **({"authorization": f"Bearer {key}"} if key else {})}
    return httpx.post(gw.url + path, content=json.dumps(body), headers=headers, timeout=30)


def _calling(tool_calls: Any) -> dict[str, Any]:
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": tool_calls}]
    return {"model": "auto", "messages": [*messages, {"role": "tool", "tool_call_id": "c1", "content": "42"}]}


GOOD_CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


@pytest.mark.parametrize(
    ("tool_calls", "param"),
    [
        (5, "messages[1].tool_calls"),
        (1.0, "messages[1].tool_calls"),
        ("abc", "messages[1].tool_calls"),
        ({"id": "c1"}, "messages[1].tool_calls"),
        ([5], "messages[1].tool_calls[0]"),
        ([{**GOOD_CALL, "function": "f"}], "messages[1].tool_calls[0].function"),
        ([{**GOOD_CALL, "function": {"name": "f", "arguments": {"a": 1}}}], "messages[1].tool_calls[0].function.arguments"),
        ([{**GOOD_CALL, "id": 7}], "messages[1].tool_calls[0].id"),
    ],
)
@pytest.mark.parametrize("path", [CHAT, "/router/explain"])
def test_malformed_tool_calls_are_a_400_naming_the_field(
    gateway: Gateway, slm: Upstream, llm: Upstream, path: str, tool_calls: Any, param: str
) -> None:
    r = _post(gateway, path, _calling(tool_calls))
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["param"] == param and param in error["message"]
    assert slm.received() == [] and llm.received() == []  # refused before anything was paid


@pytest.mark.parametrize(
    ("message", "param"),
    [
        ({"role": "user", "content": [5]}, "messages[0].content[0]"),
        ({"role": "user", "content": [{"type": "text", "text": 5}]}, "messages[0].content[0].text"),
        ({"role": "tool", "content": "x", "tool_call_id": 1.5}, "messages[0].tool_call_id"),
        ({"role": "user", "content": "x", "name": ["a"]}, "messages[0].name"),
        ({"role": ["user"], "content": "x"}, "messages[0].role"),  # unhashable: found by the fuzz test
        ({"role": {"a": 1}, "content": "x"}, "messages[0].role"),
    ],
)
def test_other_malformed_message_fields_are_a_400(gateway: Gateway, message: dict[str, Any], param: str) -> None:
    r = _post(gateway, CHAT, {"model": "auto", "messages": [message]})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param


def test_well_formed_tool_calls_still_pass(gateway: Gateway, llm: Upstream) -> None:
    r = _post(gateway, CHAT, {**_calling([GOOD_CALL]), "model": "gpt-4o"})
    assert r.status_code == 200, r.text
    assert llm.received()[-1]["body"]["messages"][1]["tool_calls"] == [GOOD_CALL]


def _nested(depth: int) -> Any:
    return json.loads("[" * depth + "]" * depth)


@pytest.mark.parametrize("depth", [256, 300, 512, 1000, 1024, 1100])
@pytest.mark.parametrize("path", [CHAT, "/v1/completions", "/v1/embeddings", "/router/explain"])
def test_json_nested_too_deeply_is_a_400(gateway: Gateway, path: str, depth: int) -> None:
    raw = '{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "prompt": "x", "input": "x", "metadata": '
    raw += "[" * depth + "]" * depth + "}"
    r = httpx.post(gateway.url + path, content=raw, headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 400, r.text[:300]
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_json_nested_within_bounds_is_served(gateway: Gateway, llm: Upstream) -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "metadata": {"deep": _nested(200)}}
    assert _post(gateway, CHAT, body).status_code == 200


GOOD_EVENT = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
              "choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": None}]}  # fmt: skip
BAD_EVENTS = [
    {"choices": 5},
    {"choices": [{"delta": "text"}]},
    {"choices": [{"delta": {"tool_calls": 3}}]},
    {"choices": [{"message": 1}]},
    {"choices": "abc", "usage": [1]},
]


@pytest.mark.parametrize("bad", BAD_EVENTS, ids=[json.dumps(b) for b in BAD_EVENTS])
def test_a_malformed_upstream_stream_event_does_not_cut_the_stream(gateway: Gateway, llm: Upstream, bad: Any) -> None:
    llm.control(events=[json.dumps(GOOD_EVENT), json.dumps(bad), json.dumps(GOOD_EVENT), "[DONE]"])
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with httpx.stream("POST", gateway.base_url + "/chat/completions", json=body, timeout=30) as r:
        assert r.status_code == 200
        text = r.read().decode()
    assert text.count('"content": "ok"') + text.count('"content":"ok"') == 2, text
    assert text.rstrip().endswith("data: [DONE]"), text


@pytest.mark.parametrize("answer", BAD_EVENTS, ids=[json.dumps(b) for b in BAD_EVENTS])
def test_a_malformed_plain_answer_is_never_a_500(gateway: Gateway, llm: Upstream, answer: Any) -> None:
    llm.control(answer=answer)
    r = _post(gateway, CHAT, {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code in (200, 502), r.text


# ------------------------------------------------------------------------------------ tenants and admin


@pytest.fixture(scope="module")
def tgw(slm: Upstream, llm: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    p = json.loads(two_tier_policy(slm.base_url, llm.base_url))
    p["tenants"] = {"acme": {"api_keys": ["${ACME_KEY}"], "routes": ["auto", "small"]}}
    gw = start_gateway(json.dumps(p), tmp_path_factory.mktemp("hard"), env={"ACME_KEY": ACME, "ROUTER_ADMIN_KEY": ADMIN})
    yield gw
    gw.stop()


ADMIN_H = {"authorization": f"Bearer {ADMIN}"}
BAD_NAMES = ["a%0D%0Ax-evil:%201", "a%0Ab", "a%00b", "caf%C3%A9", "%E2%82%AC", "a%20b", "x" * 129]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_adapter_names_are_checked_before_anything_is_stored(tgw: Gateway, name: str) -> None:
    base = httpx.URL(tgw.url)
    url = base.copy_with(raw_path=f"/router/adapters/acme/{name}".encode("ascii"))
    r = httpx.put(url, json={"base": "local-slm", "adapter": "mod"}, headers=ADMIN_H)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "name"
    assert httpx.get(tgw.url + "/router/adapters/acme", headers=ADMIN_H).json()["data"] == []
    r = httpx.delete(url, headers=ADMIN_H)
    assert r.status_code == 400


@pytest.mark.parametrize("module", ["mod\r\nx: y", "m\x00", "mödule", "m" * 200])
def test_adapter_module_names_are_checked(tgw: Gateway, module: str) -> None:
    r = httpx.put(tgw.url + "/router/adapters/acme/ok-name", json={"base": "local-slm", "adapter": module}, headers=ADMIN_H)
    assert r.status_code == 400 and r.json()["error"]["param"] == "adapter"
    assert httpx.get(tgw.url + "/router/adapters/acme", headers=ADMIN_H).json()["data"] == []


@pytest.mark.parametrize("model", ["café", "a\nb", "€", "x" * 300])
def test_an_unusable_model_name_is_refused_before_any_upstream_is_paid(tgw: Gateway, slm: Upstream, model: str) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    r = _post(tgw, CHAT, body, key=ACME)
    assert r.status_code == 404, r.text
    assert slm.received() == []


def test_a_registered_adapter_works(tgw: Gateway, slm: Upstream) -> None:
    r = httpx.put(tgw.url + "/router/adapters/acme/acme-v1", json={"base": "local-slm", "adapter": "acme-mod"}, headers=ADMIN_H)
    assert r.status_code == 200, r.text
    try:
        body = {"model": "acme-v1", "messages": [{"role": "user", "content": "hi"}]}
        r = _post(tgw, CHAT, body, key=ACME)
        assert r.status_code == 200 and r.headers["x-router-route"] == "acme-v1"
        assert slm.received()[-1]["body"]["model"] == "acme-mod"
    finally:
        httpx.delete(tgw.url + "/router/adapters/acme/acme-v1", headers=ADMIN_H)


@pytest.mark.parametrize("path", [CHAT, "/router/explain", "/router/adapters/acme/x"])
def test_a_client_leaving_mid_body_logs_no_error(tgw: Gateway, path: str) -> None:
    before = len(tgw.logs())
    method = "PUT" if path.startswith("/router/adapters") else "POST"
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", tgw.port)) as s:
            head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN if method == 'PUT' else ACME}\r\n"
            s.sendall(f"{head}Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n".encode() + b'{"model": "au')
            time.sleep(0.2)
    assert httpx.get(tgw.url + "/healthz").status_code == 200
    time.sleep(0.5)  # the server notices the disconnects
    logged = tgw.logs()[before:]
    assert "ERROR" not in logged and "Traceback" not in logged, logged


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")
def test_usage_during_a_redis_outage_says_it_is_partial(slm: Upstream, llm: Upstream, tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    redis = RedisServer(tmp_path / "r").start()
    p = json.loads(two_tier_policy(slm.base_url, llm.base_url))
    p["tenants"] = {"acme": {"api_keys": ["${ACME_KEY}"], "routes": ["auto"]}}
    env = {"ACME_KEY": ACME, "ROUTER_ADMIN_KEY": ADMIN}
    gw = start_gateway(json.dumps(p), tmp_path / "gw", env=env, args=["--redis-url", redis.url])
    chat = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    try:
        assert _post(gw, CHAT, chat, key=ACME).status_code == 200
        whole = httpx.get(gw.url + "/router/usage", headers=ADMIN_H)
        assert whole.json()["partial"] is False and "x-router-partial" not in whole.headers
        assert sum(r["requests"] for r in whole.json()["data"]) == 1
        redis.stop()
        assert _post(gw, CHAT, chat, key=ACME).status_code == 200
        during = httpx.get(gw.url + "/router/usage", headers=ADMIN_H, timeout=30)
        assert during.status_code == 200
        assert during.json()["partial"] is True and during.headers["x-router-partial"] == "true"
        assert "unavailable" in during.json()["warning"]
    finally:
        gw.stop()
        redis.stop()
