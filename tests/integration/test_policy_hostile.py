"""Hostile policy files: an alias bomb, a file far over the size cap, thousands of nested brackets.

Each is refused by a running gateway (reported at GET /router/policy and logged) while the gateway keeps
answering, and the next good edit still applies; `router policy validate` refuses each with a line.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support.procs import Gateway, run_router

MSG = [{"role": "user", "content": "hello"}]
ALIAS_BOMB = "version: 1\na: &a [" + ",".join(['"lol"'] * 9) + "]\n"
for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
    ALIAS_BOMB += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
ALIAS_BOMB += "models: *i\n"  # 9**9 values once expanded
NESTED = "version: 1\nmodels: " + "[" * 5000 + "\n"


def oversized() -> str:
    """Valid YAML of about 6 MB: a slow parse on its own, over the 4 MiB cap."""
    return "version: 1\nmodels:\n" + "".join(f"  m{i}: {{tier: slm}}\n" for i in range(300_000))


class Traffic:
    """Requests sent one after another from a thread; records each status and how long it took."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.results: list[tuple[int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self._stop.is_set():
            start = time.monotonic()
            try:
                r = httpx.post(self.gw.base_url + "/chat/completions", json={"model": "small", "messages": MSG}, timeout=30)
                status = r.status_code
            except httpx.HTTPError:
                status = 0
            self.results.append((status, time.monotonic() - start))
            time.sleep(0.02)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)


def test_hostile_files_are_refused_and_the_watcher_lives_on(gateway: Gateway, policy_text: str) -> None:
    good_version = gateway.policy_version()
    with Traffic(gateway) as traffic:
        try:
            for text, expected in (
                (ALIAS_BOMB, "aliases expand to more than"),
                (NESTED, "nesting deeper than"),
                (oversized(), "larger than"),
                (ALIAS_BOMB.replace("version: 1", "version: 1 "), "aliases expand to more than"),
            ):
                status = gateway.rewrite_policy(text, timeout=30)
                assert status["version"] == good_version
                assert status["last_reload_error"] is not None, f"no refusal reported for {expected!r}"
                assert expected in status["last_reload_error"]["message"]
            # the watcher is alive: a good edit after all that is applied
            policy = json.loads(policy_text)
            policy["routes"]["extra"] = {"strategy": "fixed", "models": ["hosted-llm"]}
            status = gateway.rewrite_policy(json.dumps(policy), timeout=30)
            assert status["last_reload_error"] is None and status["version"] != good_version
            r = httpx.post(gateway.base_url + "/chat/completions", json={"model": "extra", "messages": MSG}, timeout=30)
            assert r.status_code == 200 and r.headers["x-router-model"] == "hosted-llm"
        finally:
            gateway.rewrite_policy(policy_text)
    logs = gateway.logs()
    assert logs.count("policy reload refused") >= 4
    assert "Traceback" not in logs
    # the gateway answered throughout, and no request waited on a parse
    assert len(traffic.results) >= 5
    assert all(status == 200 for status, _ in traffic.results), traffic.results
    assert max(took for _, took in traffic.results) < 5.0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (ALIAS_BOMB, "YAML refused: aliases expand to more than 10000 values"),
        (NESTED, "YAML refused: nesting deeper than 64 levels"),
        ("version: 1\nmodels: &a {x: *a}\n", "YAML refused: alias *a names no anchor defined before it"),
        (None, "policy file is larger than 4194304 bytes"),
    ],
)
def test_validate_refuses_hostile_files_quickly(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(oversized() if content is None else content)
    started = time.monotonic()
    result = run_router("policy", "validate", str(path), timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"{path}:") and line.endswith(message)
    assert time.monotonic() - started < 30  # a parse of the bomb alone took minutes
