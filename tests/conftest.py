"""Shared fixtures: real upstream model servers and a real gateway process for integration tests.

Nothing skips silently: every skip names what is missing (`-rs` lists them), and in CI (`CI=true`) a skip
is a failure, because .ci/run installs everything the suite needs (and CI has ../shared beside the clone).
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from pluggy import Result

from tests.support.procs import Gateway, Upstream, start_gateway, start_upstream, two_tier_policy

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

# Every property test sees the same inputs on every run and machine: a seed derived from the test itself,
# no example database carried between runs (a test's own @settings adds to this profile)
settings.register_profile("deterministic", derandomize=True, database=None, print_blob=True)
settings.load_profile("deterministic")


def _import_every_local_module() -> None:
    """Hypothesis also draws constants found in the source of every project module imported so far, so
    the inputs a property test sees would depend on which other tests were collected (the fuzz test met
    a case in a full run that it never met alone). Importing the same modules up front in every run makes
    that pool, and so every property test's inputs, the same whatever is selected."""
    import importlib
    import pkgutil

    import router
    import tests

    for package in (router, tests):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not info.name.startswith("tests.bench") and not info.name.endswith("__main__"):
                importlib.import_module(info.name)


_import_every_local_module()


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
