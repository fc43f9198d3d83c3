"""create_app tunes the garbage collector only for the process `router serve` owns, never for an
application that embeds the gateway."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from router.app import GC_YOUNG_THRESHOLD, create_app
from router.settings import Settings

POLICY = {
    "version": 1,
    "models": {"small": {"tier": "slm", "endpoint": {"base_url": "http://127.0.0.1:9/v1", "model": "s"}}},
    "routes": {"auto": {"strategy": "fixed", "models": ["small"]}},
    "server": {"scorer": "heuristic"},
}


@pytest.fixture
def collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


async def _started(tmp_path: Path, settle_heap: bool) -> tuple[tuple[int, ...], int]:
    path = tmp_path / "policy.yaml"
    path.write_text(json.dumps(POLICY))
    app = create_app(Settings(path, access_log="off"), settle_heap=settle_heap)
    inner = app.app.app
    assert isinstance(inner, FastAPI)
    async with inner.router.lifespan_context(inner):
        return gc.get_threshold(), gc.get_freeze_count()


async def test_an_embedded_app_leaves_the_collector_alone(tmp_path: Path, collector: None) -> None:
    before = gc.get_threshold()
    threshold, _ = await _started(tmp_path, settle_heap=False)
    assert threshold == before


async def test_router_serve_settles_the_heap(tmp_path: Path, collector: None) -> None:
    threshold, frozen = await _started(tmp_path, settle_heap=True)
    assert threshold[0] == GC_YOUNG_THRESHOLD and frozen > 0
