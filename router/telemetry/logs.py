"""Access log: one JSON line per finished request (ndjson), buffered and written in batches.

The line is built from the RequestRecord only, which carries no prompt text and no key, so neither can
reach the log. `server.log_prompts` can therefore not add prompt text here yet: the record would have to
carry it first (deliberately not done; prompts are personal data). Field names are stable for log shippers:

    ts request_id tenant route operation tier model upstream_model provider reason status error_type code
    stream interrupted latency_ms ttft_ms classifier_ms p_strong prompt_tokens completion_tokens
    tokens_estimated cost_usd llm_cost_usd fallbacks retries tried escalated escalation_reason task_kind expert
    session spilled parent_request_id delegations

Why not the `logging` module: a record through logging (LogRecord, formatter, a flushed write per line)
cost about 40 us per request in the gateway, a tenth of its whole budget at 2,000 requests/s
(tests/bench/bench_gateway.py). Lines are instead collected and written together when the gateway's
reporting batch ends (router.telemetry.batch), at once when MAX_BUFFER bytes are waiting, and on
shutdown. Where the lines go is a setting
(ROUTER_ACCESS_LOG: stderr, stdout, off, or a file path), like an HTTP server's access_log.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import IO, Any

import orjson

from router.telemetry.record import RequestRecord


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
        "tried": list(r.tried),
        "escalated": r.escalated,
        "escalation_reason": r.escalation_reason,
        "task_kind": r.task_kind,
        "expert": r.expert,
        "session": r.session,
        "spilled": list(r.spilled),
        "parent_request_id": r.parent_request_id,
        "delegations": r.delegations,
    }


MAX_BUFFER = 64 * 1024
log = logging.getLogger("router.telemetry")


class AccessLog:
    """Observer: one JSON line per request to `sink`, written by `flush` or when the buffer is full;
    never raises."""

    def __init__(self, sink: IO[bytes] | None, owns_sink: bool = False) -> None:
        self.sink = sink
        self._owns_sink = owns_sink
        self._lines: list[bytes] = []
        self._size = 0

    @classmethod
    def open(cls, where: str) -> AccessLog:
        """Lines to `stderr`, `stdout`, nowhere (`off`) or appended to a file path."""
        if where == "off":
            return cls(None)
        if where in ("stderr", "stdout"):
            return cls(getattr(sys, where).buffer)
        return cls(open(where, "ab"), owns_sink=True)  # closed by close()

    def observe(self, record: RequestRecord) -> None:
        if self.sink is None:
            return
        try:
            line = orjson.dumps(access_fields(record))
        except Exception:  # a log line must never fail a request
            log.exception("access log: could not write request %s", record.request_id)
            return
        self._lines.append(line)
        self._size += len(line) + 1
        if self._size >= MAX_BUFFER:
            self.flush()

    def flush(self) -> None:
        """Write what is waiting."""
        if not self._lines or self.sink is None:
            return
        lines, self._lines, self._size = self._lines, [], 0
        try:
            self.sink.write(b"\n".join(lines) + b"\n")
            self.sink.flush()
        except (OSError, ValueError):  # a full disk or a closed pipe must not fail requests
            log.warning("access log: could not write %d lines", len(lines))

    def close(self) -> None:
        self.flush()
        if self._owns_sink and self.sink is not None:
            self.sink.close()
