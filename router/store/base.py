"""The store: the one interface to every piece of state that gateway replicas must share.

Two implementations keep the same semantics and run the same contract tests:
`MemoryStore` (in-process, the embedded default for one replica) and `RedisStore` (shared by replicas).

    Rate limits   hit(key, limit, window_s, cost=1, now=None) -> RateDecision
                  adjust(key, window_s, delta, now=None, at=None) -> None
        A sliding-window log: `hit` admits `cost` units iff the units admitted in the rolling window
        (now - window_s, now] plus `cost` stay within `limit`, else refuses and says when to retry.
        Exact: never more than `limit` in any rolling window (atomic in Redis, across processes).
        cost=0 peeks (allowed while units remain) without recording anything.
        `adjust` corrects a reservation (tokens/min estimated up front, counted afterwards): `delta` units
        are booked at time `at` (the reservation's time, default now) so they expire with it; a negative
        delta refunds. An adjustment is never refused.
    Spend         add_spend(tenant, usd, now=None); spend(tenant, now=None) -> (day_usd, month_usd)
        UTC day and month totals; they expire a while after their period ends.
    Usage ledger  record_usage(UsageRecord); usage(tenant | None, day_from, day_to) -> list[UsageRow]
        Summed per (tenant, model, UTC day), with requests per route; kept forever (no TTL).
    Breakers      breaker_state(model, cfg, now=None); breaker_report(model, ok, cfg, now=None)
                  breaker_try_probe(model, cfg, now=None) -> bool
        Per catalog model: closed -> open on `consecutive_failures` in a row, or an error rate above
        `error_rate` over `window_s` (10 buckets) with at least `min_requests`; open for `open_s`; then
        half_open, where `breaker_try_probe` grants at most `half_open_probes` probes (True in state closed,
        False while open). A successful report in half_open closes it, a failure reopens it. Reports that
        arrive while open are ignored. A probe that never reports frees its slot after `open_s`.
        With `tenant`, a report also says whose request it was: a breaker does not open on the failures of
        one tenant alone while another tenant's traffic in the window is healthy (successes, no failures);
        that tenant's own breaker (a name of the caller's, e.g. "model#tenant") opens instead.
        `breaker_report_many` applies several reports in order in one round trip; `breaker_views` reads
        many breakers in one round trip (how a replica keeps its local copy fresh).
    Admission     admit(AdmitRequest) -> AdmitResult; settle(settlements) -> None
        One atomic step per request (one Redis round trip): requests/min and tokens/min (sliding-window
        logs, as `hit`), in-flight requests (leases that expire after `lease_s` if never settled) and the
        USD budgets per UTC day and month. Either everything is booked or nothing is. A budget admits while
        spent + reserved < cap and then reserves the request's maximum cost, so spend can pass the cap by at
        most one request's maximum. `settle` (many at once, off the request path) ends leases, turns
        reservations into real spend and corrects the tokens/min reservation, atomically per tenant.
    Adapters      put_adapter, put_adapters (bulk), delete_adapter, get_adapter, list_adapters
        Tenants' LoRA adapters registered at run time; lookups are hash lookups, O(1) in the registry size.
    Sessions      put_session(tenant, session, value, ttl_s, now=None); get_session(tenant, session, now=None)
        A session's pinned routing choice (a short string), per tenant: one tenant can never read or write
        another's. Expires ttl_s after the last put. `session` is a digest of the caller's id.
    Responses     put_response(tenant, response_id, doc, ttl_s, now=None); get_response(tenant, response_id, now=None)
        Stored Responses-API responses (a JSON document each) that `previous_response_id` continues, per
        tenant: one tenant never reads another's. Each expires `ttl_s` after it was put.
    Health        ping() -> bool; aclose(); stats: StoreStats

Times are UNIX seconds (`time.time()`, the caller's clock; replicas need NTP-synchronised clocks) and
`now` is a seam for tests. Store keys carry tenant names, model names and the caller's rate-limit keys:
callers must never put API keys (or any secret) in them.
"""

from __future__ import annotations

import abc
import functools
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar, Literal

BreakerStatus = Literal["closed", "open", "half_open"]
DAY_TTL_S = 3 * 86400  # spend of a UTC day is kept this long after its first write
MONTH_TTL_S = 40 * 86400  # and of a UTC month


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The answer of `hit`: what a 429 and the x-ratelimit-* headers need."""

    allowed: bool
    limit: int
    remaining: int  # units left in the window after this hit
    reset_s: float  # seconds until the window is empty again
    retry_after_s: float  # 0 when allowed; else seconds until `cost` would fit (window_s if it never can)


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One request's usage (or several, with requests > 1), as `account` reports it."""

    tenant: str
    model: str  # catalog model name
    route: str
    tier: str  # "slm" | "llm"
    day: str  # YYYY-MM-DD, UTC
    requests: int = 1
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    llm_cost_usd: float = 0.0  # what the same traffic would have cost on the route's LLM tier


@dataclass(frozen=True, slots=True)
class UsageRow:
    """The ledger's sum for one (tenant, model, day)."""

    tenant: str
    model: str
    day: str
    tier: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    llm_cost_usd: float
    routes: Mapping[str, int] = field(default_factory=dict)  # requests per route

    @property
    def saved_usd(self) -> float:
        return self.llm_cost_usd - self.cost_usd


class UsageRows(list[UsageRow]):
    """Usage rows, and whether they are only part of the ledger (`partial`: the shared store did not
    answer, so only this process's not yet written rows are in it)."""

    partial: bool = False

    def __init__(self, rows: Iterable[UsageRow] = (), partial: bool = False) -> None:
        super().__init__(rows)
        self.partial = partial


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    consecutive_failures: int = 5
    error_rate: float = 0.5  # opens when failures / requests over the window exceeds this ...
    min_requests: int = 20  # ... and the window holds at least this many requests
    window_s: float = 30.0
    open_s: float = 15.0
    half_open_probes: int = 1


@dataclass(frozen=True, slots=True)
class BreakerState:
    state: BreakerStatus
    consecutive_failures: int = 0
    window_requests: int = 0
    window_failures: int = 0
    retry_in_s: float = 0.0  # while open: seconds until half_open


@dataclass(frozen=True, slots=True)
class BreakerEvent:
    """One report for `breaker_report_many`."""

    ok: bool
    now: float
    tenant: str | None = None


@dataclass(frozen=True, slots=True)
class AdmitRequest:
    """What one request asks of its tenant's limits; None means no such limit."""

    tenant: str
    lease: str  # unique per request: names its reservation until `settle`
    rpm: int | None = None
    tpm: int | None = None
    tokens: int = 0  # reserved against tokens/min
    max_concurrent: int | None = None
    lease_s: float = 660.0  # a lease never settled (crashed replica) frees its slot and budget after this
    usd_day: float | None = None
    usd_month: float | None = None
    usd: float = 0.0  # the request's maximum cost, reserved against the budgets
    downgrade: bool = False  # budget exhausted: admit flagged as downgraded (True) or refuse (False)
    fail_open: bool = True  # store unavailable: admit (True) or refuse (False)
    window_s: float = 60.0


@dataclass(frozen=True, slots=True)
class AdmitResult:
    allowed: bool
    refused: Literal["requests", "tokens", "concurrency", "budget", "store"] | None = None
    requests: RateDecision | None = None
    tokens: RateDecision | None = None
    in_flight: int = 0  # after this request
    budget_left_usd: float | None = None  # min over budgets of cap - spent - reserved, before this request
    downgraded: bool = False
    reserved_usd: float = 0.0
    reserved_tokens: int = 0
    retry_after_s: float = 0.0
    degraded: bool = False  # answered without the backend (store outage): nothing was booked


@dataclass(frozen=True, slots=True)
class Settlement:
    """The end of one admitted request: what it reserved and what it really used."""

    tenant: str
    lease: str
    at: float  # the admission's time: a token correction is booked then, so it expires with the reservation
    reserved_tokens: int = 0
    tokens: int = 0
    reserved_usd: float = 0.0
    usd: float = 0.0


@dataclass(frozen=True, slots=True)
class Adapter:
    tenant: str
    name: str  # what the tenant's clients put in "model"
    base_model: str  # the catalog model that carries it
    adapter_module: str  # the adapter's module name on the base server


@dataclass(slots=True)
class StoreStats:
    """Counters of one store instance (per process), exported as metrics by telemetry."""

    errors: int = 0  # backend calls that failed (timeouts, refused connections, ...)
    outages: int = 0  # transitions from up to down
    fallbacks: int = 0  # calls answered by a fallback (fail open/closed, buffer, local view) instead of the backend
    dropped: int = 0  # buffered writes lost because the outage buffer was full
    buffered: int = 0  # writes buffered during outages
    flushed: int = 0  # buffered writes written back after an outage


def utc_day(now: float) -> str:
    """The UTC date of a Unix time, as YYYY-MM-DD (called per request: formatted once per day)."""
    return _day_text(int(now // 86400))


def utc_month(now: float) -> str:
    """The UTC month of a Unix time, as YYYY-MM."""
    return _day_text(int(now // 86400))[:7]


@functools.lru_cache(maxsize=64)
def _day_text(day: int) -> str:
    return datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%d")


def clock(now: float | None) -> float:
    return time.time() if now is None else now


def check_day(day: str) -> str:
    """Validate a YYYY-MM-DD day, so ranges compare as strings."""
    datetime.strptime(day, "%Y-%m-%d")
    if len(day) != 10:
        raise ValueError(f"day must be YYYY-MM-DD, got {day!r}")
    return day


class Store(abc.ABC):
    """All shared state of the gateway. See the module docstring for the semantics of each method."""

    stats: StoreStats
    backend: ClassVar[str] = "memory"  # what metrics and /readyz name the store by

    @property
    def available(self) -> bool:
        """Whether the backend answers right now (an in-process store always does)."""
        return True

    # Rate limits
    @abc.abstractmethod
    async def hit(self, key: str, limit: int, window_s: float, cost: int = 1, now: float | None = None) -> RateDecision: ...

    @abc.abstractmethod
    async def adjust(self, key: str, window_s: float, delta: int, now: float | None = None, at: float | None = None) -> None: ...

    # Spend
    @abc.abstractmethod
    async def add_spend(self, tenant: str, usd: float, now: float | None = None) -> None: ...

    @abc.abstractmethod
    async def spend(self, tenant: str, now: float | None = None) -> tuple[float, float]: ...

    # Usage ledger
    @abc.abstractmethod
    async def record_usage(self, record: UsageRecord) -> None: ...

    @abc.abstractmethod
    async def usage(self, tenant: str | None, day_from: str, day_to: str) -> list[UsageRow]:
        """Rows with day_from <= day <= day_to, sorted by (day, tenant, model); tenant None means all.
        A store that could read only part of its ledger returns UsageRows with partial=True."""

    # Circuit breakers
    @abc.abstractmethod
    async def breaker_state(self, model: str, cfg: BreakerConfig, now: float | None = None) -> BreakerState: ...

    @abc.abstractmethod
    async def breaker_report(
        self, model: str, ok: bool, cfg: BreakerConfig, now: float | None = None, tenant: str | None = None
    ) -> BreakerState: ...

    @abc.abstractmethod
    async def breaker_report_many(
        self, reports: Mapping[str, Sequence[BreakerEvent]], cfg: BreakerConfig
    ) -> dict[str, BreakerState]: ...

    @abc.abstractmethod
    async def breaker_views(self, models: Sequence[str], cfg: BreakerConfig, now: float | None = None) -> dict[str, BreakerState]:
        """Many breakers' states at once; an empty dict when the backend cannot be read."""

    # Admission
    @abc.abstractmethod
    async def admit(self, req: AdmitRequest, now: float | None = None) -> AdmitResult: ...

    @abc.abstractmethod
    async def settle(self, settlements: Sequence[Settlement], now: float | None = None) -> None: ...

    async def in_flight(self, tenant: str, now: float | None = None) -> int:
        """Leases of the tenant not yet settled (for tests and diagnostics)."""
        return 0

    @abc.abstractmethod
    async def breaker_try_probe(self, model: str, cfg: BreakerConfig, now: float | None = None) -> bool: ...

    # Adapters
    @abc.abstractmethod
    async def put_adapter(self, tenant: str, name: str, base_model: str, adapter_module: str) -> Adapter: ...

    @abc.abstractmethod
    async def put_adapters(self, adapters: Iterable[Adapter]) -> int:
        """Register many adapters at once (one round trip per batch in Redis); returns how many."""

    @abc.abstractmethod
    async def delete_adapter(self, tenant: str, name: str) -> bool: ...

    @abc.abstractmethod
    async def get_adapter(self, tenant: str, name: str) -> Adapter | None: ...

    @abc.abstractmethod
    async def list_adapters(self, tenant: str) -> list[Adapter]:
        """The tenant's adapters sorted by name."""

    # Sessions
    @abc.abstractmethod
    async def put_session(self, tenant: str, session: str, value: str, ttl_s: float, now: float | None = None) -> None: ...

    @abc.abstractmethod
    async def get_session(self, tenant: str, session: str, now: float | None = None) -> str | None: ...
    # Stored responses
    @abc.abstractmethod
    async def put_response(self, tenant: str, response_id: str, doc: bytes, ttl_s: float, now: float | None = None) -> None: ...

    @abc.abstractmethod
    async def get_response(self, tenant: str, response_id: str, now: float | None = None) -> bytes | None: ...

    # Health
    @abc.abstractmethod
    async def ping(self) -> bool: ...

    @abc.abstractmethod
    async def aclose(self) -> None: ...
