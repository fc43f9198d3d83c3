"""Sticky sessions over HTTP, on two gateway replicas sharing one real Redis: a session keeps its model,
moves up a tier when a turn needs it and never down, rules (vision) still win, and session ids are
scoped to the tenant and bounded in length."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.experts import CHAT_PROMPT, CODE_PROMPT, IMAGE, PROOF_PROMPT, Fleet, dumps, experts_policy, fleet
from tests.support.procs import Gateway, start_gateway
from tests.support.redis_server import REDIS_SERVER, RedisServer

KEYS = {"A_KEY": "sk-tenant-a", "B_KEY": "sk-tenant-b"}
pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")


@pytest.fixture(scope="module")
def ups() -> Iterator[Fleet]:
    with fleet() as f:
        yield f


@pytest.fixture(scope="module")
def replicas(ups: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, Gateway]]:
    tmp = tmp_path_factory.mktemp("sessions")
    (tmp / "r").mkdir()
    redis = RedisServer(tmp / "r").start()
    tenants = {"a": {"api_keys": ["${A_KEY}"]}, "b": {"api_keys": ["${B_KEY}"]}}
    policy = dumps(experts_policy(ups, tenants=tenants))
    a = start_gateway(policy, tmp / "a", KEYS, ["--redis-url", redis.url])
    b = start_gateway(policy, tmp / "b", KEYS, ["--redis-url", redis.url])
    yield a, b
    a.stop()
    b.stop()
    redis.stop()


def turn(gw: Gateway, content: Any, session: str | None = "s1", key: str = "sk-tenant-a", **body: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"}
    if session is not None:
        headers["x-router-session"] = session
    payload = {"model": "auto", "messages": [{"role": "user", "content": content}], **body}
    return httpx.post(gw.base_url + "/chat/completions", json=payload, headers=headers, timeout=30)


def seen(r: httpx.Response) -> tuple[str, str, str]:
    assert r.status_code == 200, r.text
    return r.headers["x-router-model"], r.headers["x-router-session"], r.headers["x-router-reason"]


def test_a_session_moves_up_never_down_across_replicas(replicas: tuple[Gateway, Gateway]) -> None:
    a, b = replicas
    assert seen(turn(a, CHAT_PROMPT, "up-1")) == ("local-phi3", "new", "threshold")
    assert seen(turn(b, CHAT_PROMPT, "up-1")) == ("local-phi3", "kept", "session")  # the other replica agrees
    assert seen(turn(b, PROOF_PROMPT, "up-1"))[:2] == ("hosted-llm", "up")  # a hard turn moves it up
    assert seen(turn(a, CHAT_PROMPT, "up-1")) == ("hosted-llm", "kept", "session")  # and it never comes down
    assert seen(turn(a, CHAT_PROMPT, "other"))[:2] == ("local-phi3", "new")  # another session decides afresh


def test_rules_still_win_and_the_pin_stays(replicas: tuple[Gateway, Gateway]) -> None:
    a, b = replicas
    assert seen(turn(a, CODE_PROMPT, "rules-1"))[:2] == ("local-coder", "new")
    image = [{"type": "text", "text": "and this screenshot?"}, {"type": "image_url", "image_url": {"url": IMAGE}}]
    assert seen(turn(b, image, "rules-1"))[:2] == ("local-vision", "overridden")  # the coder cannot see images
    assert seen(turn(a, CHAT_PROMPT, "rules-1")) == ("local-coder", "kept", "session")  # back on the pinned model


def test_body_user_and_metadata_name_a_session(replicas: tuple[Gateway, Gateway]) -> None:
    a, b = replicas
    assert seen(turn(a, PROOF_PROMPT, None, user="user-42"))[:2] == ("hosted-llm", "new")
    assert seen(turn(b, CHAT_PROMPT, None, user="user-42"))[:2] == ("hosted-llm", "kept")
    assert seen(turn(b, CHAT_PROMPT, None, metadata={"session_id": "user-42"}))[:2] == ("hosted-llm", "kept")
    r = turn(a, CHAT_PROMPT, None)
    assert r.status_code == 200 and "x-router-session" not in r.headers  # no session, no pin


def test_sessions_are_tenant_scoped(replicas: tuple[Gateway, Gateway]) -> None:
    a, b = replicas
    assert seen(turn(a, PROOF_PROMPT, "shared-name"))[0] == "hosted-llm"  # tenant a pins it to the llm
    # tenant b using the same id neither reads a's pin nor changes it
    assert seen(turn(b, CHAT_PROMPT, "shared-name", key="sk-tenant-b"))[:2] == ("local-phi3", "new")
    explained = httpx.post(
        b.url + "/router/explain",
        json={"model": "auto", "messages": [{"role": "user", "content": CHAT_PROMPT}]},
        headers={"authorization": "Bearer sk-tenant-b", "x-router-session": "shared-name"},
    ).json()["decision"]
    assert (explained["model"], explained["session"], explained["reason"]) == ("local-phi3", "kept", "session")
    assert seen(turn(a, CHAT_PROMPT, "shared-name"))[:2] == ("hosted-llm", "kept")


def test_explain_shows_the_pin_without_writing_it(replicas: tuple[Gateway, Gateway]) -> None:
    a, _ = replicas
    body = {"model": "auto", "messages": [{"role": "user", "content": PROOF_PROMPT}]}
    headers = {"authorization": "Bearer sk-tenant-a", "x-router-session": "explain-1"}
    out = httpx.post(a.url + "/router/explain", json=body, headers=headers).json()["decision"]
    assert (out["model"], out["session"]) == ("hosted-llm", "new")
    assert seen(turn(a, CHAT_PROMPT, "explain-1"))[:2] == ("local-phi3", "new")  # explain pinned nothing


def test_session_ids_are_bounded(replicas: tuple[Gateway, Gateway], tmp_path: Path) -> None:
    a, _ = replicas
    r = turn(a, CHAT_PROMPT, "x" * 257)
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "x-router-session"
    r = turn(a, CHAT_PROMPT, None, user="u" * 1000)
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "user"
    assert seen(turn(a, CHAT_PROMPT, "x" * 256))[1] == "new"  # at the bound: fine, stored as a digest
