"""The rate-limit and circuit-breaker algorithms in Python: the twins of the Lua scripts in lua.py.

MemoryStore runs these directly (asyncio makes each call atomic); RedisStore runs the Lua versions so
that replicas share one exact state, and keeps a local breaker here for outages. Change both together:
the contract tests hold them to the same behaviour.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from router.store.base import BreakerConfig, BreakerState, BreakerStatus, RateDecision

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
        self._prune(now - window_s)
        used = max(self.total, 0)
        allowed = used + cost <= limit if cost > 0 else used < limit
        if allowed and cost > 0:
            self._add(now, cost)
        retry = 0.0
        if not allowed:
            retry = window_s if cost > limit else self._retry_after(used + cost - limit, window_s, now)
        return RateDecision(allowed, limit, max(limit - max(self.total, 0), 0), self.reset_s(window_s, now), retry)

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

    def report(self, ok: bool, cfg: BreakerConfig, now: float) -> BreakerState:
        self._settle(cfg, now)
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
            if not ok and (self.consecutive >= cfg.consecutive_failures or self._rate_exceeded(cfg, now)):
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
