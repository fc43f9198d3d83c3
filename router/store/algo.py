"""The rate-limit and circuit-breaker algorithms in Python: the twins of the Lua scripts in lua.py.

MemoryStore runs these directly (asyncio makes each call atomic); RedisStore runs the Lua versions so
that replicas share one exact state, and keeps a local breaker here for outages. Change both together:
the contract tests hold them to the same behaviour.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Literal

from router.store.base import (
    AdmitRequest,
    AdmitResult,
    BreakerConfig,
    BreakerState,
    BreakerStatus,
    RateDecision,
    Settlement,
)

BUCKETS = 10  # breaker error-rate window resolution: window_s / BUCKETS


@dataclass(slots=True)
class RateLog:
    """Sliding-window log for one key: (time, units) entries in time order, and their running total."""

    entries: list[tuple[float, int, int]] = field(default_factory=list)  # (time, seq, units)
    total: int = 0
    seq: int = 0

    def _prune(self, cutoff: float) -> None:
        i = bisect.bisect_right(self.entries, (cutoff, math.inf, 0))
        if i:
            self.total -= sum(units for _, _, units in self.entries[:i])
            del self.entries[:i]
        if not self.entries:
            self.total = 0

    def _add(self, at: float, units: int) -> None:
        self.seq += 1
        bisect.insort(self.entries, (at, self.seq, units))
        self.total += units

    def hit(self, limit: int, window_s: float, cost: int, now: float) -> RateDecision:
        decision = self.peek(limit, window_s, cost, now)
        if decision.allowed and cost > 0:
            return self.book(limit, window_s, cost, now)
        return decision

    def peek(self, limit: int, window_s: float, cost: int, now: float) -> RateDecision:
        """What `hit` would answer, without booking anything."""
        self._prune(now - window_s)
        used = max(self.total, 0)
        allowed = used + cost <= limit if cost > 0 else used < limit
        retry = 0.0
        if not allowed:
            retry = window_s if cost > limit else self._retry_after(used + cost - limit, window_s, now)
        return RateDecision(allowed, limit, max(limit - used, 0), self.reset_s(window_s, now), retry)

    def book(self, limit: int, window_s: float, cost: int, now: float) -> RateDecision:
        self._add(now, cost)
        return RateDecision(True, limit, max(limit - max(self.total, 0), 0), self.reset_s(window_s, now), 0.0)

    def adjust(self, window_s: float, delta: int, now: float, at: float) -> None:
        self._prune(now - window_s)
        if delta and at > now - window_s:
            self._add(at, delta)

    def _retry_after(self, need: int, window_s: float, now: float) -> float:
        freed = 0
        for at, _, units in self.entries:
            freed += units
            if freed >= need:
                return max(at + window_s - now, 0.0)
        return window_s

    def reset_s(self, window_s: float, now: float) -> float:
        return max(self.entries[-1][0] + window_s - now, 0.0) if self.entries else 0.0

    def expires_at(self, window_s: float) -> float:
        return self.entries[-1][0] + window_s if self.entries else 0.0


@dataclass(slots=True)
class Breaker:
    """One model's breaker: state plus a ring of BUCKETS (epoch, ok, failed) counters over window_s."""

    state: BreakerStatus = "closed"
    opened_at: float = 0.0
    consecutive: int = 0
    probes: int = 0
    probe_at: float = 0.0
    ring: list[tuple[int, int, int]] = field(default_factory=lambda: [(-1, 0, 0)] * BUCKETS)
    tenants: dict[str, tuple[float, float]] = field(default_factory=dict)  # tenant -> (last ok, last failure)

    def _settle(self, cfg: BreakerConfig, now: float) -> None:
        """open -> half_open once open_s has passed (state is kept lazily, computed on each call)."""
        if self.state == "open" and now - self.opened_at >= cfg.open_s:
            self.state, self.probes, self.probe_at = "half_open", 0, 0.0

    def _window(self, cfg: BreakerConfig, now: float) -> tuple[int, int]:
        epoch = math.floor(now / (cfg.window_s / BUCKETS))
        requests = failures = 0
        for t, ok, failed in self.ring:
            if epoch - BUCKETS < t <= epoch:
                requests += ok + failed
                failures += failed
        return requests, failures

    def _rate_exceeded(self, cfg: BreakerConfig, now: float) -> bool:
        requests, failures = self._window(cfg, now)
        return requests >= cfg.min_requests and failures / requests > cfg.error_rate

    def _reset_counts(self) -> None:
        self.consecutive, self.probes, self.probe_at = 0, 0, 0.0
        self.ring = [(-1, 0, 0)] * BUCKETS

    def _open(self, now: float) -> None:
        self._reset_counts()
        self.state, self.opened_at = "open", now

    def view(self, cfg: BreakerConfig, now: float) -> BreakerState:
        self._settle(cfg, now)
        requests, failures = self._window(cfg, now)
        retry = max(self.opened_at + cfg.open_s - now, 0.0) if self.state == "open" else 0.0
        return BreakerState(self.state, self.consecutive, requests, failures, retry)

    def _witness(self, tenant: str, ok: bool, cfg: BreakerConfig, now: float) -> None:
        last_ok, last_fail = self.tenants.get(tenant, (-math.inf, -math.inf))
        self.tenants[tenant] = (now, last_fail) if ok else (last_ok, now)
        if len(self.tenants) > 1:  # one tenant alone is never pruned (it is this report's)
            cutoff = now - cfg.window_s
            for name in [t for t, (o, f) in self.tenants.items() if max(o, f) <= cutoff]:
                del self.tenants[name]

    def _vetoed(self, tenant: str | None, cfg: BreakerConfig, now: float) -> bool:
        """One tenant alone may not open the shared breaker while another tenant's traffic is healthy:
        another tenant succeeded within the window and no other tenant failed within it."""
        if tenant is None:
            return False
        cutoff = now - cfg.window_s
        others = [(o, f) for t, (o, f) in self.tenants.items() if t != tenant]
        return any(o > cutoff for o, _ in others) and not any(f > cutoff for _, f in others)

    def report(self, ok: bool, cfg: BreakerConfig, now: float, tenant: str | None = None) -> BreakerState:
        self._settle(cfg, now)
        if tenant is not None:
            self._witness(tenant, ok, cfg, now)
        if self.state == "half_open":
            if ok:
                self._reset_counts()
                self.state = "closed"
            else:
                self._open(now)
        elif self.state == "closed":
            epoch = math.floor(now / (cfg.window_s / BUCKETS))
            slot = epoch % BUCKETS
            t, n_ok, n_failed = self.ring[slot]
            if t < epoch:
                t, n_ok, n_failed = epoch, 0, 0
            if t == epoch:  # a report older than its slot's bucket only counts toward `consecutive`
                self.ring[slot] = (t, n_ok + ok, n_failed + (not ok))
            self.consecutive = 0 if ok else self.consecutive + 1
            tripped = not ok and (self.consecutive >= cfg.consecutive_failures or self._rate_exceeded(cfg, now))
            if tripped and not self._vetoed(tenant, cfg, now):
                self._open(now)
        return self.view(cfg, now)

    def try_probe(self, cfg: BreakerConfig, now: float) -> bool:
        self._settle(cfg, now)
        if self.state == "closed":
            return True
        if self.state == "open":
            return False
        if self.probes < cfg.half_open_probes or now - self.probe_at >= cfg.open_s:
            self.probes = 1 if self.probes >= cfg.half_open_probes else self.probes + 1
            self.probe_at = now
            return True
        return False


@dataclass(slots=True)
class TenantLimits:
    """One tenant's admission state: the twin of lua.ADMIT and lua.SETTLE (MemoryStore runs it)."""

    rpm: RateLog = field(default_factory=RateLog)
    tpm: RateLog = field(default_factory=RateLog)
    leases: dict[str, tuple[float, float]] = field(default_factory=dict)  # lease -> (expires at, usd reserved)
    reserved_usd: float = 0.0
    next_expiry: float = math.inf  # no lease expires before this: most calls need no scan

    def prune(self, now: float) -> None:
        if now < self.next_expiry:
            return
        for lease in [k for k, (exp, _) in self.leases.items() if exp <= now]:
            self.reserved_usd -= self.leases.pop(lease)[1]
        self.next_expiry = min((exp for exp, _ in self.leases.values()), default=math.inf)
        if not self.leases:
            self.reserved_usd = 0.0

    def admit(self, req: AdmitRequest, spent: tuple[float, float], now: float) -> AdmitResult:
        self.prune(now)
        rpm = self.rpm.peek(req.rpm, req.window_s, 1, now) if req.rpm else None
        tokens = min(max(1, req.tokens), req.tpm) if req.tpm else 0  # one huge request must still be admissible
        tpm = self.tpm.peek(req.tpm, req.window_s, tokens, now) if req.tpm else None
        in_flight = len(self.leases)
        caps = [(cap, s) for cap, s in ((req.usd_day, spent[0]), (req.usd_month, spent[1])) if cap]
        left = min(cap - s - self.reserved_usd for cap, s in caps) if caps else None
        refused: Literal["requests", "tokens", "concurrency", "budget"] | None = None
        retry = 0.0
        if rpm is not None and not rpm.allowed:
            refused, retry = "requests", rpm.retry_after_s
        elif tpm is not None and not tpm.allowed:
            refused, retry = "tokens", tpm.retry_after_s
        elif req.max_concurrent and in_flight >= req.max_concurrent:
            refused, retry = "concurrency", 1.0
        elif left is not None and left <= 0 and not req.downgrade:
            refused, retry = "budget", 3600.0
        if refused is not None:
            return AdmitResult(False, refused, rpm, tpm, in_flight, left, retry_after_s=retry)
        downgraded = left is not None and left <= 0
        usd = 0.0 if downgraded or left is None else req.usd
        if rpm is not None and req.rpm:
            rpm = self.rpm.book(req.rpm, req.window_s, 1, now)
        if tpm is not None and req.tpm:
            tpm = self.tpm.book(req.tpm, req.window_s, tokens, now)
        self.leases[req.lease] = (now + req.lease_s, usd)
        self.next_expiry = min(self.next_expiry, now + req.lease_s)
        self.reserved_usd += usd
        return AdmitResult(True, None, rpm, tpm, in_flight + 1, left, downgraded, usd, tokens)

    def settle(self, s: Settlement, window_s: float, now: float) -> None:
        held = self.leases.pop(s.lease, None)
        if held is not None:
            self.reserved_usd -= held[1]
            if not self.leases:
                self.reserved_usd = 0.0
        if s.tokens != s.reserved_tokens and s.reserved_tokens:
            self.tpm.adjust(window_s, s.tokens - s.reserved_tokens, now, s.at)

    def idle(self, now: float, window_s: float) -> bool:
        return not self.leases and self.rpm.expires_at(window_s) <= now and self.tpm.expires_at(window_s) <= now
