"""Experts over HTTP: a route sends each task kind to its expert model per tier, with capability-aware
fallback; explain, headers, the access log and metrics show the task kind and the expert."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.experts import CHAT_PROMPT, CODE_PROMPT, IMAGE, MATH_PROMPT, PROOF_PROMPT, Fleet, dumps, experts_policy, fleet
from tests.support.procs import Gateway, run_router, start_gateway


@pytest.fixture(scope="module")
def ups() -> Iterator[Fleet]:
    with fleet() as f:
        yield f


@pytest.fixture(scope="module")
def gw(ups: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    g = start_gateway(dumps(experts_policy(ups)), tmp_path_factory.mktemp("experts"))
    yield g
    g.stop()


@pytest.fixture(autouse=True)
def _clean(ups: Fleet) -> None:
    ups.reset()


def chat(gw: Gateway, content: Any, **extra: Any) -> httpx.Response:
    body = {"model": "auto", "messages": [{"role": "user", "content": content}], **extra}
    return httpx.post(gw.base_url + "/chat/completions", json=body, timeout=30)


@pytest.mark.parametrize(
    ("prompt", "kind", "model", "reason", "upstream"),
    [
        (CODE_PROMPT, "code", "local-coder", "expert", "coder"),
        (MATH_PROMPT, "math", "local-math", "expert", "maths"),
        (CHAT_PROMPT, "chat", "local-phi3", "threshold", "general"),
        (PROOF_PROMPT, "math", "hosted-llm", "threshold", "llm"),  # hard: the llm tier, which has no math expert
    ],
)
def test_each_task_kind_goes_to_its_expert(
    gw: Gateway, ups: Fleet, prompt: str, kind: str, model: str, reason: str, upstream: str
) -> None:
    r = chat(gw, prompt)
    assert r.status_code == 200, r.text
    assert r.headers["x-router-model"] == model
    assert r.headers["x-router-task-kind"] == kind
    assert r.headers["x-router-reason"] == reason
    assert r.headers.get("x-router-expert") == (model if reason == "expert" else None)
    assert r.json()["choices"][0]["message"]["content"].startswith(f"[{upstream}]")
    assert len(getattr(ups, upstream).received()) == 1


def test_images_go_to_the_vision_expert(gw: Gateway, ups: Fleet) -> None:
    content = [{"type": "text", "text": "what is in this picture?"}, {"type": "image_url", "image_url": {"url": IMAGE}}]
    r = chat(gw, content)
    assert r.status_code == 200, r.text
    assert (r.headers["x-router-model"], r.headers["x-router-task-kind"]) == ("local-vision", "vision")
    assert [x["body"]["model"] for x in ups.vision.received()] == ["llava"]


def test_fallback_stays_capability_aware(gw: Gateway, ups: Fleet) -> None:
    """The coder takes no tools: a coding request with tools goes to the general SLM, not the coder."""
    tools = [{"type": "function", "function": {"name": "run_tests", "parameters": {"type": "object", "properties": {}}}}]
    r = chat(gw, CODE_PROMPT, tools=tools)
    assert r.status_code == 200, r.text
    assert r.headers["x-router-model"] == "local-phi3"
    assert r.headers["x-router-task-kind"] == "code"
    assert "x-router-expert" not in r.headers
    assert ups.coder.received() == []
    # a failing expert falls back to its tier's general model
    ups.coder.control(mode="status", status=503)
    r = chat(gw, CODE_PROMPT)
    assert r.status_code == 200, r.text
    assert (r.headers["x-router-model"], r.headers["x-router-fallbacks"]) == ("local-phi3", "1")


def test_explain_shows_task_kind_and_expert(gw: Gateway, ups: Fleet, tmp_path: Path) -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content": CODE_PROMPT}]}
    out = httpx.post(gw.url + "/router/explain", json=body).json()
    assert out["classification"]["task_kind"] == "code"
    decision = out["decision"]
    assert (decision["model"], decision["expert"], decision["reason"]) == ("local-coder", "local-coder", "expert")
    assert decision["candidates"][:2] == ["local-coder", "local-phi3"]
    assert "task kind code" in decision["detail"]
    assert all(not u.received() for u in ups.all())  # no model called
    (tmp_path / "p.yaml").write_text(gw.policy.read_text())
    cli = run_router("explain", "--policy", str(tmp_path / "p.yaml"), MATH_PROMPT)
    assert cli.returncode == 0, cli.stderr
    shown = json.loads(cli.stdout)
    assert (shown["decision"]["model"], shown["decision"]["task_kind"]) == ("local-math", "math")


def test_access_log_and_metrics_show_the_expert(gw: Gateway) -> None:
    r = chat(gw, MATH_PROMPT)
    rid = r.headers["x-request-id"]
    metrics = httpx.get(gw.url + "/metrics").text  # a scrape flushes the reporting batch, the access log too
    assert 'router_expert_requests_total{expert="local-math",route="auto",task_kind="math"}' in metrics
    line = next(json.loads(x) for x in gw.logs().splitlines() if rid in x and x.startswith("{"))
    assert (line["task_kind"], line["expert"], line["model"], line["reason"]) == ("math", "local-math", "local-math", "expert")


def test_experts_are_checked_at_load(tmp_path: Path, ups: Fleet) -> None:
    policy = experts_policy(ups)
    policy["routes"]["auto"]["experts"]["code"] = {"slm": ["local-math"]}  # declares math, not code
    policy["routes"]["auto"]["experts"]["math"] = {"llm": ["local-math"]}  # wrong tier
    (tmp_path / "bad.yaml").write_text(dumps(policy))
    out = run_router("policy", "validate", str(tmp_path / "bad.yaml"))
    assert out.returncode == 1
    assert "does not declare skill 'code'" in out.stderr
    assert "is tier slm, listed under llm" in out.stderr


def test_policy_examples_validate_and_route_by_kind(root: Path) -> None:
    examples = [str(root / "policies" / name) for name in ("experts.yaml", "experts-candidate.yaml", "delegate.yaml")]
    out = run_router("policy", "validate", *examples)
    assert out.returncode == 0, out.stderr
    for prompt, model in ((CODE_PROMPT, "local-coder"), (MATH_PROMPT, "local-math"), (CHAT_PROMPT, "local-phi3")):
        shown = run_router("explain", "--policy", str(root / "policies" / "experts.yaml"), prompt)
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["decision"]["model"] == model
    agent = run_router("explain", "--policy", str(root / "policies" / "delegate.yaml"), "--route", "agent", CODE_PROMPT)
    decision = json.loads(agent.stdout)["decision"]
    assert (decision["strategy"], decision["model"], decision["reason"]) == ("delegate", "hosted-gpt4o", "delegate")
    assert "ask_code (local-coder)" in decision["detail"]
