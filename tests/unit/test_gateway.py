"""The gateway is built from its services, each given what it reads: the metrics get the policy, the
breakers and the store, never the gateway."""

from __future__ import annotations

import json
import time
from pathlib import Path

from router.gateway import Gateway, MetricSources
from router.settings import Settings
from router.store.base import utc_day
from router.telemetry.record import RequestRecord

POLICY = {
    "version": 1,
    "models": {"small": {"tier": "slm", "endpoint": {"base_url": "http://127.0.0.1:9/v1", "model": "s"}}},
    "routes": {"auto": {"strategy": "fixed", "models": ["small"]}},
    "server": {"scorer": "heuristic"},
}


async def test_metrics_read_explicit_sources_and_see_the_breakers(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(json.dumps(POLICY))
    gw = Gateway.build(Settings(path, access_log="off"))
    try:
        assert gw.metrics is not None and gw.board is not None
        sources = gw.metrics.state
        assert isinstance(sources, MetricSources) and sources.store is gw.store and sources.board is gw.board
        gw.board.states.update({"small": "open", "small#acme": "open"})  # a tenant's own breaker is not a model's
        assert gw.breaker_snapshot() == {"small": "open"}
        text = gw.metrics.render()[0].decode()
        assert 'router_breaker_state{model="small",state="open"} 1.0' in text
        assert 'router_breaker_state{model="small#acme"' not in text
    finally:
        await gw.aclose()


async def test_one_call_settles_what_was_answered_into_the_ledger(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(json.dumps(POLICY))
    gw = Gateway.build(Settings(path, access_log="off"))
    try:
        record = RequestRecord("r1", "chat", "auto", tier="slm", model="small", prompt_tokens=3, completion_tokens=4)
        gw.reporting.observe(record)  # batched: not yet handed to the ledger, which writes on its own timer
        today = utc_day(time.time())
        assert await gw.store.usage(None, today, today) == []
        await gw.settle_reports()
        rows = await gw.store.usage(None, today, today)
        assert [(r.model, r.requests, r.prompt_tokens, r.completion_tokens) for r in rows] == [("small", 1, 3, 4)]
    finally:
        await gw.aclose()
