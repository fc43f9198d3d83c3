"""MemoryStore: the in-process Store, the embedded default for a single replica.

Every method body runs without awaiting, so each call is atomic under asyncio: no locks needed. State
lives in the instance (no module globals) and is lost when the process exits, which is the point of the
Redis store. Rate logs of idle keys are swept every few thousand hits so memory tracks active keys.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from router.store.algo import Breaker, RateLog, TenantLimits
from router.store.base import (
    DAY_TTL_S,
    MONTH_TTL_S,
    Adapter,
    AdmitRequest,
    AdmitResult,
    BreakerConfig,
    BreakerEvent,
    BreakerState,
    RateDecision,
    Settlement,
    Store,
    StoreStats,
    UsageRecord,
    UsageRow,
    check_day,
    clock,
    utc_day,
    utc_month,
)

SWEEP_EVERY = 4096
MAX_SESSIONS = 100_000  # session pins kept in process at most; beyond, the least recently used are forgotten
MAX_RESPONSES = 100_000  # stored responses kept in process at most (count and bytes); the oldest go first
MAX_RESPONSE_BYTES = 256 * 1024 * 1024


@dataclass(slots=True)
class LedgerEntry:
    """A mutable running sum for one (tenant, model, day); UsageRow is its frozen snapshot."""

    tier: str = ""
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    llm_cost_usd: float = 0.0
    routes: Counter[str] = field(default_factory=Counter)

    def add(self, r: UsageRecord) -> None:
        self.tier = r.tier or self.tier
        self.requests += r.requests
        self.prompt_tokens += r.prompt_tokens
        self.completion_tokens += r.completion_tokens
        self.cost_usd += r.cost_usd
        self.llm_cost_usd += r.llm_cost_usd
        self.routes[r.route] += r.requests

    def row(self, tenant: str, model: str, day: str) -> UsageRow:
        return UsageRow(
            tenant, model, day, self.tier, self.requests, self.prompt_tokens, self.completion_tokens,
            self.cost_usd, self.llm_cost_usd, dict(self.routes),
        )  # fmt: skip


class MemoryStore(Store):
    """The Store in this process's memory."""

    def __init__(self) -> None:
        self.stats = StoreStats()
        self._rates: dict[str, tuple[RateLog, float]] = {}  # key -> (log, window_s)
        self._hits = 0
        self._spend: dict[tuple[str, str], float] = {}  # (tenant, "d:YYYY-MM-DD" | "m:YYYY-MM") -> usd
        self._ledger: dict[tuple[str, str, str], LedgerEntry] = {}  # (day, tenant, model)
        self._breakers: dict[str, Breaker] = {}
        self._adapters: dict[str, dict[str, Adapter]] = {}  # tenant -> name -> adapter
        self._sessions: dict[tuple[str, str], tuple[str, float]] = {}  # (tenant, session) -> (value, expiry)
        self._tenants: dict[str, TenantLimits] = {}
        self._window_s = 60.0
        self._responses: OrderedDict[tuple[str, str], tuple[float, bytes]] = OrderedDict()  # -> (expires, doc)
        self._response_bytes = 0

    # Rate limits
    async def hit(self, key: str, limit: int, window_s: float, cost: int = 1, now: float | None = None) -> RateDecision:
        now = clock(now)
        self._hits += 1
        if self._hits % SWEEP_EVERY == 0:
            self._sweep(now)
        entry = self._rates.get(key)
        if entry is None:
            entry = self._rates[key] = (RateLog(), window_s)
        return entry[0].hit(limit, window_s, cost, now)

    async def adjust(self, key: str, window_s: float, delta: int, now: float | None = None, at: float | None = None) -> None:
        now = clock(now)
        entry = self._rates.get(key)
        log = entry[0] if entry else self._rates.setdefault(key, (RateLog(), window_s))[0]
        log.adjust(window_s, delta, now, now if at is None else at)

    def _sweep(self, now: float) -> None:
        idle = [key for key, (log, window_s) in self._rates.items() if log.expires_at(window_s) <= now]
        for key in idle:
            del self._rates[key]
        for skey in [k for k, (_, expiry) in self._sessions.items() if expiry <= now]:
            del self._sessions[skey]
        for tenant in [t for t, lim in self._tenants.items() if lim.idle(now, self._window_s)]:
            del self._tenants[tenant]

    # Admission
    async def admit(self, req: AdmitRequest, now: float | None = None) -> AdmitResult:
        now = clock(now)
        self._hits += 1
        if self._hits % SWEEP_EVERY == 0:
            self._sweep(now)
        self._window_s = req.window_s
        limits = self._tenants.get(req.tenant)
        if limits is None:
            limits = self._tenants[req.tenant] = TenantLimits()
        spent = await self.spend(req.tenant, now) if req.usd_day or req.usd_month else (0.0, 0.0)
        return limits.admit(req, spent, now)

    async def settle(self, settlements: Sequence[Settlement], now: float | None = None) -> None:
        self.settle_now(settlements, now)

    def settle_now(self, settlements: Sequence[Settlement], now: float | None = None) -> None:
        """`settle` without a coroutine: nothing here waits, so the admitter calls it in line."""
        now = clock(now)
        for s in settlements:
            limits = self._tenants.get(s.tenant)
            if limits is not None:
                limits.settle(s, self._window_s, now)
            if s.usd:
                self._add_spend(s.tenant, s.usd, now)

    async def in_flight(self, tenant: str, now: float | None = None) -> int:
        limits = self._tenants.get(tenant)
        if limits is None:
            return 0
        limits.prune(clock(now))
        return len(limits.leases)

    # Spend
    async def add_spend(self, tenant: str, usd: float, now: float | None = None) -> None:
        self._add_spend(tenant, usd, clock(now))

    def _add_spend(self, tenant: str, usd: float, now: float) -> None:
        for period in ("d:" + utc_day(now), "m:" + utc_month(now)):
            if (tenant, period) not in self._spend:
                self._expire_spend(now)
            self._spend[tenant, period] = self._spend.get((tenant, period), 0.0) + usd

    def _expire_spend(self, now: float) -> None:
        """Forget periods as Redis would expire them (days after 3 days, months after 40), on each new key."""
        oldest_day, oldest_month = "d:" + utc_day(now - DAY_TTL_S), "m:" + utc_month(now - MONTH_TTL_S)
        for tenant, period in [k for k in self._spend if k[1] < (oldest_day if k[1][0] == "d" else oldest_month)]:
            del self._spend[tenant, period]

    async def spend(self, tenant: str, now: float | None = None) -> tuple[float, float]:
        now = clock(now)
        return self._spend.get((tenant, "d:" + utc_day(now)), 0.0), self._spend.get((tenant, "m:" + utc_month(now)), 0.0)

    # Usage ledger
    async def record_usage(self, record: UsageRecord) -> None:
        key = (check_day(record.day), record.tenant, record.model)
        entry = self._ledger.get(key)
        if entry is None:
            entry = self._ledger[key] = LedgerEntry()
        entry.add(record)

    async def usage(self, tenant: str | None, day_from: str, day_to: str) -> list[UsageRow]:
        check_day(day_from), check_day(day_to)
        return [
            entry.row(t, model, day)
            for (day, t, model), entry in sorted(self._ledger.items())
            if day_from <= day <= day_to and (tenant is None or t == tenant)
        ]

    # Circuit breakers
    def _breaker(self, model: str) -> Breaker:
        breaker = self._breakers.get(model)
        if breaker is None:
            breaker = self._breakers[model] = Breaker()
        return breaker

    async def breaker_state(self, model: str, cfg: BreakerConfig, now: float | None = None) -> BreakerState:
        return self._breaker(model).view(cfg, clock(now))

    async def breaker_report(
        self, model: str, ok: bool, cfg: BreakerConfig, now: float | None = None, tenant: str | None = None
    ) -> BreakerState:
        return self._breaker(model).report(ok, cfg, clock(now), tenant)

    async def breaker_report_many(
        self, reports: Mapping[str, Sequence[BreakerEvent]], cfg: BreakerConfig
    ) -> dict[str, BreakerState]:
        out = {}
        for model, events in reports.items():
            breaker = self._breaker(model)
            for e in events:
                out[model] = breaker.report(e.ok, cfg, e.now, e.tenant)
        return out

    async def breaker_views(self, models: Sequence[str], cfg: BreakerConfig, now: float | None = None) -> dict[str, BreakerState]:
        t = clock(now)
        return {m: self._breaker(m).view(cfg, t) for m in models}

    async def breaker_try_probe(self, model: str, cfg: BreakerConfig, now: float | None = None) -> bool:
        return self._breaker(model).try_probe(cfg, clock(now))

    # Adapters
    async def put_adapter(self, tenant: str, name: str, base_model: str, adapter_module: str) -> Adapter:
        adapter = Adapter(tenant, name, base_model, adapter_module)
        self._adapters.setdefault(tenant, {})[name] = adapter
        return adapter

    async def put_adapters(self, adapters: Iterable[Adapter]) -> int:
        n = 0
        for a in adapters:
            self._adapters.setdefault(a.tenant, {})[a.name] = a
            n += 1
        return n

    async def delete_adapter(self, tenant: str, name: str) -> bool:
        names = self._adapters.get(tenant)
        if names is None or names.pop(name, None) is None:
            return False
        if not names:
            del self._adapters[tenant]
        return True

    async def get_adapter(self, tenant: str, name: str) -> Adapter | None:
        names = self._adapters.get(tenant)
        return None if names is None else names.get(name)

    async def list_adapters(self, tenant: str) -> list[Adapter]:
        return sorted(self._adapters.get(tenant, {}).values(), key=lambda a: a.name)

    # Stored responses
    async def put_response(self, tenant: str, response_id: str, doc: bytes, ttl_s: float, now: float | None = None) -> None:
        now = clock(now)
        responses, key = self._responses, (tenant, response_id)
        if key in responses:
            self._response_bytes -= len(responses.pop(key)[1])
        while responses and (
            len(responses) >= MAX_RESPONSES
            or self._response_bytes + len(doc) > MAX_RESPONSE_BYTES
            or next(iter(responses.values()))[0] <= now
        ):
            self._response_bytes -= len(responses.popitem(last=False)[1][1])  # the oldest first
        responses[key] = (now + ttl_s, doc)
        self._response_bytes += len(doc)

    async def get_response(self, tenant: str, response_id: str, now: float | None = None) -> bytes | None:
        entry = self._responses.get((tenant, response_id))
        return entry[1] if entry is not None and entry[0] > clock(now) else None

    # Sessions
    async def put_session(self, tenant: str, session: str, value: str, ttl_s: float, now: float | None = None) -> None:
        now = clock(now)
        sessions, key = self._sessions, (tenant, session)
        sessions.pop(key, None)  # re-inserted last: the dict's order is the order of last use
        if len(sessions) >= MAX_SESSIONS:
            self._sweep(now)
            while len(sessions) >= MAX_SESSIONS:  # many live sessions: the least recently used go first
                del sessions[next(iter(sessions))]
        sessions[key] = (value, now + ttl_s)

    async def get_session(self, tenant: str, session: str, now: float | None = None) -> str | None:
        found = self._sessions.get((tenant, session))
        if found is None or found[1] <= clock(now):
            return None
        return found[0]

    # Health
    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None
