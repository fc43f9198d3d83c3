"""Shared fixtures: real upstream model servers and a real gateway process for integration tests.

Nothing skips silently: every skip names what is missing (`-rs` lists them), and in CI (`CI=true`) a skip
is a failure, because .ci/run installs everything the suite needs (and CI has ../shared beside the clone).
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from pluggy import Result

from tests.support.procs import Gateway, Upstream, start_gateway, start_upstream, two_tier_policy

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Result[pytest.TestReport], None]:
    """In CI a skipped test fails, with the skip's reason: a missing tool or data set must not pass as green."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and in_ci() and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where nothing may skip ({reason}): install what it needs in .ci/run"


@pytest.fixture(scope="session")
def slm() -> Iterator[Upstream]:
    up = start_upstream("slm")
    yield up
    up.stop()


@pytest.fixture(scope="session")
def llm() -> Iterator[Upstream]:
    up = start_upstream("llm")
    yield up
    up.stop()


@pytest.fixture(autouse=True)
def _clean_upstreams(request: pytest.FixtureRequest) -> None:
    for name in ("slm", "llm"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()


@pytest.fixture(scope="module")
def gateway(slm: Upstream, llm: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One gateway per test module on the two-tier policy; tests that edit the policy restore it."""
    gw = start_gateway(two_tier_policy(slm.base_url, llm.base_url), tmp_path_factory.mktemp("gw"))
    yield gw
    gw.stop()


@pytest.fixture
def policy_text(slm: Upstream, llm: Upstream) -> str:
    return two_tier_policy(slm.base_url, llm.base_url)


@pytest.fixture
def root() -> Path:
    return Path(__file__).resolve().parents[1]
