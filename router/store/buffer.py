"""OutageBuffer: writes that RedisStore could not send, kept in process until Redis is back.

Why coalesce: during an outage every request still adds spend and usage. Summing them per Redis key
(spend per tenant and period, usage per (tenant, model, day)) bounds the buffer by the number of distinct
keys instead of the number of requests, so a long outage at high traffic loses nothing. Only new keys
beyond `max_entries` are dropped, and counted. Breaker reports are kept as a bounded recent queue (old
ones no longer matter to a rolling window) and adapter writes last-write-wins per (tenant, name).
`drain` hands everything over and empties the buffer; `restore` puts back what a failed flush took.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

from router.store.base import Adapter, BreakerConfig, StoreStats, UsageRecord, UsageRow
from router.store.memory import LedgerEntry

AdapterKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class BreakerReport:
    model: str
    ok: bool
    cfg: BreakerConfig
    now: float
    tenant: str | None = None


@dataclass(slots=True)
class Pending:
    """What one flush writes: spend per (tenant, period), ledger sums, breaker reports, adapter writes."""

    spend: dict[tuple[str, str], float] = field(default_factory=dict)  # (tenant, "d:day" | "m:month") -> usd
    ledger: dict[tuple[str, str, str], LedgerEntry] = field(default_factory=dict)  # (tenant, model, day)
    reports: deque[BreakerReport] = field(default_factory=deque)
    adapters: OrderedDict[AdapterKey, Adapter | None] = field(default_factory=OrderedDict)  # None: delete

    def __len__(self) -> int:
        return len(self.spend) + len(self.ledger) + len(self.reports) + len(self.adapters)


class OutageBuffer:
    def __init__(self, stats: StoreStats, max_entries: int = 10_000, max_reports: int = 1_000) -> None:
        self.stats = stats
        self.max_entries = max_entries
        self.max_reports = max_reports
        self.pending = Pending()

    def __len__(self) -> int:
        return len(self.pending)

    def _room(self, present: bool) -> bool:
        if present or len(self.pending) < self.max_entries:
            self.stats.buffered += 1
            return True
        self.stats.dropped += 1
        return False

    def add_spend(self, tenant: str, periods: tuple[str, str], usd: float) -> None:
        for period in periods:
            key = (tenant, period)
            if self._room(key in self.pending.spend):
                self.pending.spend[key] = self.pending.spend.get(key, 0.0) + usd

    def add_usage(self, record: UsageRecord) -> None:
        key = (record.tenant, record.model, record.day)
        if self._room(key in self.pending.ledger):
            self.pending.ledger.setdefault(key, LedgerEntry()).add(record)

    def add_report(self, report: BreakerReport) -> None:
        if len(self.pending.reports) >= self.max_reports:
            self.pending.reports.popleft()
            self.stats.dropped += 1
        self.pending.reports.append(report)
        self.stats.buffered += 1

    def put_adapter(self, key: AdapterKey, adapter: Adapter | None) -> None:
        if self._room(key in self.pending.adapters):
            self.pending.adapters[key] = adapter
            self.pending.adapters.move_to_end(key)

    def spend_delta(self, tenant: str, period: str) -> float:
        return self.pending.spend.get((tenant, period), 0.0)

    def rows(self, tenant: str | None, day_from: str, day_to: str) -> list[UsageRow]:
        return [
            entry.row(t, model, day)
            for (t, model, day), entry in self.pending.ledger.items()
            if day_from <= day <= day_to and (tenant is None or t == tenant)
        ]

    def drain(self) -> Pending:
        pending, self.pending = self.pending, Pending()
        return pending

    def restore(self, old: Pending) -> None:
        """Put back a drained batch that failed to flush, merged with what arrived meanwhile."""
        new, self.pending = self.pending, old
        for (tenant, period), usd in new.spend.items():
            old.spend[tenant, period] = old.spend.get((tenant, period), 0.0) + usd
        for key, entry in new.ledger.items():
            mine = old.ledger.setdefault(key, LedgerEntry())
            mine.tier = entry.tier or mine.tier
            mine.requests += entry.requests
            mine.prompt_tokens += entry.prompt_tokens
            mine.completion_tokens += entry.completion_tokens
            mine.cost_usd += entry.cost_usd
            mine.llm_cost_usd += entry.llm_cost_usd
            mine.routes.update(entry.routes)
        old.reports.extend(new.reports)
        while len(old.reports) > self.max_reports:
            old.reports.popleft()
            self.stats.dropped += 1
        for name_key, adapter in new.adapters.items():
            old.adapters[name_key] = adapter
            old.adapters.move_to_end(name_key)
