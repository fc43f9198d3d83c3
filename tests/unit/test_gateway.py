"""The gateway is built from its services, each given what it reads: the metrics get the policy, the
breakers and the store, never the gateway."""

from __future__ import annotations

import json
from pathlib import Path

from router.gateway import Gateway, MetricSources
from router.settings import Settings

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
