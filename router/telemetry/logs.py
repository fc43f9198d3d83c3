"""Access log: one JSON line per finished request on the logger `router.access`.

The line is built from the RequestRecord only, which carries no prompt text and no key, so neither can
reach the log. `server.log_prompts` can therefore not add prompt text here yet: the record would have to
carry it first (deliberately not done; prompts are personal data). Field names are stable for log shippers:

    ts request_id tenant route operation tier model upstream_model provider reason status error_type code
    stream interrupted latency_ms ttft_ms classifier_ms p_strong prompt_tokens completion_tokens
    tokens_estimated cost_usd llm_cost_usd fallbacks retries escalated escalation_reason
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from router.telemetry.record import RequestRecord

ACCESS_LOGGER = "router.access"


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def access_fields(r: RequestRecord) -> dict[str, Any]:
    """The fields of one access-log line."""
    return {
        "ts": round(time.time(), 3),
        "request_id": r.request_id,
        "tenant": r.tenant,
        "route": r.route,
        "operation": r.operation,
        "tier": r.tier,
        "model": r.model,
        "upstream_model": r.upstream_model,
        "provider": r.provider,
        "reason": r.reason,
        "status": r.status,
        "error_type": r.error_type,
        "code": r.extra.get("code"),
        "stream": r.stream,
        "interrupted": r.interrupted,
        "latency_ms": _ms(r.latency_s),
        "ttft_ms": _ms(r.ttft_s),
        "classifier_ms": None if r.classifier_ms is None else round(r.classifier_ms, 3),
        "p_strong": None if r.p_strong is None else round(r.p_strong, 4),
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "tokens_estimated": r.tokens_estimated,
        "cost_usd": round(r.cost_usd, 8),
        "llm_cost_usd": round(r.llm_cost_usd, 8),
        "fallbacks": r.fallbacks,
        "retries": r.retries,
        "escalated": r.escalated,
        "escalation_reason": r.escalation_reason,
    }


class JsonLogObserver:
    """Writes the access line at INFO (WARNING for 5xx); never raises."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.log = logger or logging.getLogger(ACCESS_LOGGER)

    def observe(self, record: RequestRecord) -> None:
        level = logging.WARNING if record.status >= 500 else logging.INFO
        if not self.log.isEnabledFor(level):
            return
        try:
            self.log.log(level, orjson.dumps(access_fields(record)).decode())
        except Exception:  # a log line must never fail a request
            logging.getLogger("router.telemetry").exception("access log: could not write request %s", record.request_id)
