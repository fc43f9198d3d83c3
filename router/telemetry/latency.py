"""Live latency per model from real traffic: time to first token and decode speed, as moving averages.

An observer of finished requests; `snapshot()` is what `decide` holds against a caller's latency budget.
Streams give both figures directly; a plain answer gives its total time, from which decode speed is
estimated with the model's last known time to first token.
"""

from __future__ import annotations

from router.policy.decide import LiveLatency
from router.telemetry.record import RequestRecord

ALPHA = 0.2  # weight of the newest observation


class LatencyTracker:
    def __init__(self) -> None:
        self._live: dict[str, LiveLatency] = {}

    def observe(self, record: RequestRecord) -> None:
        if record.model is None or record.status != 200 or record.interrupted or record.operation == "embeddings":
            return
        old = self._live.get(record.model)
        if record.stream and record.ttft_s is not None:
            ttft = record.ttft_s
        else:
            ttft = old.ttft_ms / 1000 if old else record.latency_s * 0.2
        decode_s = max(record.latency_s - ttft, 1e-3)
        tps = record.completion_tokens / decode_s if record.completion_tokens else (old.tokens_per_s if old else 0.0)
        if old is None:
            self._live[record.model] = LiveLatency(ttft * 1000, tps)
        else:
            self._live[record.model] = LiveLatency(
                (1 - ALPHA) * old.ttft_ms + ALPHA * ttft * 1000, (1 - ALPHA) * old.tokens_per_s + ALPHA * tps
            )

    def snapshot(self) -> dict[str, LiveLatency]:
        return self._live  # LiveLatency values are immutable; decide only reads
