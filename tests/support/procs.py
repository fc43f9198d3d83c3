"""Start real processes for tests: fake upstream model servers and the gateway itself (`router serve`)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


@dataclass
class Upstream:
    name: str
    proc: subprocess.Popen[str]
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def control(self, **settings: Any) -> None:
        httpx.post(f"http://127.0.0.1:{self.port}/_control", json=settings or {"mode": "ok"}).raise_for_status()

    def received(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"http://127.0.0.1:{self.port}/_received").json())

    def reset(self) -> None:
        httpx.post(f"http://127.0.0.1:{self.port}/_reset").raise_for_status()

    def stop(self) -> None:
        stop(self.proc)


def start_upstream(name: str, port: int = 0) -> Upstream:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.upstream", "--port", str(port), "--name", name],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("READY"):
        stop(proc)
        raise RuntimeError(f"upstream {name} did not start: {line!r}")
    return Upstream(name, proc, int(line.split()[1]))


@dataclass
class Gateway:
    proc: subprocess.Popen[bytes]
    port: int
    policy: Path
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def policy_version(self) -> str:
        return str(httpx.get(f"{self.url}/router/policy").json()["version"])

    def rewrite_policy(self, text: str, timeout: float = 5.0) -> dict[str, Any]:
        """Replace the policy file as an editor would, and wait until the gateway reports on it."""
        before = httpx.get(f"{self.url}/router/policy").json()
        tmp = self.policy.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.policy)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = httpx.get(f"{self.url}/router/policy").json()
            if now["version"] != before["version"] or now["last_reload_error"] != before["last_reload_error"]:
                return dict(now)
            time.sleep(0.05)
        return dict(httpx.get(f"{self.url}/router/policy").json())

    def logs(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        stop(self.proc)


def start_gateway(
    policy_text: str,
    tmp: Path,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> Gateway:
    tmp.mkdir(parents=True, exist_ok=True)
    policy = tmp / "policy.yaml"
    policy.write_text(policy_text)
    port = free_port()
    log = tmp / f"gateway-{port}.log"
    full_env = child_env(env)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "router", "serve", "--policy", str(policy), "--port", str(port), *(args or [])],
            cwd=ROOT,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec_fn,  # e.g. resource limits for the gateway process
        )
    gw = Gateway(proc, port, policy, log, full_env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited with {proc.returncode}:\n{gw.logs()}")
        try:
            if httpx.get(f"{gw.url}/healthz", timeout=0.5).status_code == 200:
                return gw
        except httpx.HTTPError:
            time.sleep(0.1)
    stop(proc)
    raise RuntimeError(f"gateway did not become healthy:\n{gw.logs()}")


def stop(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def two_tier_policy(slm_url: str, llm_url: str, **extra: Any) -> str:
    """A policy with one SLM, one LLM, an embeddings model, route auto (classify) and pinned routes."""
    policy: dict[str, Any] = {
        "version": 1,
        "models": {
            "local-slm": {
                "tier": "slm",
                "endpoint": {"base_url": slm_url, "model": "phi-3-mini", "api_key": "${SLM_KEY:-}"},
                "context_window": 4096,
                "capabilities": {"tools": False},
                "timeouts": {"connect": 2, "first_token": 5, "idle": 2, "total": 20},
            },
            "hosted-llm": {
                "tier": "llm",
                "endpoint": {"base_url": llm_url, "model": "gpt-4o", "api_key": "${LLM_KEY:-sk-test-llm}"},
                "context_window": 128000,
                "price": {"input_per_mtok": 2.5, "output_per_mtok": 10.0},
                "timeouts": {"connect": 2, "first_token": 5, "idle": 2, "total": 20},
            },
            "embedder": {
                "tier": "slm",
                "kind": "embeddings",
                "endpoint": {"base_url": slm_url, "model": "text-embedding-3-small"},
            },
        },
        "routes": {
            "auto": {
                "strategy": "classify",
                "tiers": {"slm": ["local-slm"], "llm": ["hosted-llm"]},
                "threshold": 0.5,
                "fallback": ["hosted-llm"],
            },
            "gpt-4o": {"strategy": "fixed", "models": ["hosted-llm"]},
            "small": {"strategy": "fixed", "models": ["local-slm"]},
        },
        # breakers and retries are tested on their own; elsewhere a failure must not leak into the next test
        "server": {
            "reload_interval_s": 0.2,
            "scorer": "heuristic",
            "breaker": {"consecutive_failures": 10_000, "min_requests": 10_000},
            "retries": {"attempts": 0},
        },
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(policy.get(key), dict):
            policy[key] = {**policy[key], **value}
        else:
            policy[key] = value
    return json.dumps(policy, indent=2)  # JSON is YAML


def run_router(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`python -m router ARGS` as a user would run it, from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "router", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=child_env(env),
        timeout=timeout,
    )
