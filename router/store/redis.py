"""RedisStore: the Store on Redis, shared by every replica of the gateway.

The key layout and value codecs are in keys.py; no key ever holds an API key.

Rate limits, admission and breakers run as Lua scripts (lua.py), so they are atomic and exact across
processes. A request's admission is one script call (lua.ADMIT: requests/min, tokens/min, concurrency,
budget reservation), and concurrent requests' calls share one pipelined round trip (coalesce.py);
settlements go in batches, one pipelined round trip per batch (lua.SETTLE per tenant). Breakers are
read on the request path from dispatch.board's local copy, which this store keeps fresh with
`breaker_views` and `breaker_report_many` (one round trip each for many breakers). `breaker_state`
called without an explicit `now` is cached for `breaker_cache_s` (default 0.5 s).

A run-time adapter found in Redis is answered from this process's copy for `adapter_cache_s` (default
1 s), so naming one costs a round trip per adapter and second, not per request. What this process
registers or deletes applies here at once; another replica's delete or re-registration is seen within
`adapter_cache_s`. A name that is not found is asked again every time (it is about to be a 404).

Redis outages never reach callers (see guard.py): every call has `timeout_s` (default 0.25 s) socket and
connect timeouts and no retries; `hit` then fails open (default) or closed, `admit` as its request says
(the policy's `server.limits_fail_open`); writes (settled spend among them) go to the outage
buffer (buffer.py) and are flushed when Redis is back; reads answer from the local view (last values
read plus buffered deltas; breakers from an in-process twin that sees every report of this process).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any, ClassVar

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from router.store import lua
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
    UsageRows,
    check_day,
    clock,
    utc_day,
    utc_month,
)
from router.store.buffer import BreakerReport, OutageBuffer, Pending
from router.store.coalesce import Coalescer
from router.store.guard import Down, Guard, log
from router.store.keys import (
    COUNTS,
    MONEY,
    Keys,
    decode_adapter,
    decode_breaker,
    decode_row,
    encode_adapter,
    ledger_member,
    parse_member,
    spend_ttl,
)
from router.store.memory import MemoryStore


class RedisStore(Store):
    backend: ClassVar[str] = "redis"

    @property
    def available(self) -> bool:
        return self.guard.up

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "router:",
        timeout_s: float = 0.25,
        fail_open: bool = True,
        fail_closed_retry_s: float = 1.0,
        breaker_cache_s: float = 0.5,
        adapter_cache_s: float = 1.0,
        reconnect_interval_s: float = 1.0,
        log_interval_s: float = 30.0,
        buffer_max: int = 10_000,
    ) -> None:
        self.prefix = prefix
        self.keys = Keys(prefix)
        self.fail_open = fail_open
        self.fail_closed_retry_s = fail_closed_retry_s
        self.breaker_cache_s = breaker_cache_s
        self.adapter_cache_s = adapter_cache_s
        self.stats = StoreStats()
        self._r: Redis = Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=Retry(NoBackoff(), 0), decode_responses=True
        )
        kw = self._r.connection_pool.connection_kwargs
        where = kw.get("path") or f"{kw.get('host', '?')}:{kw.get('port', '?')}"
        self.buffer = OutageBuffer(self.stats, buffer_max)
        self.guard = Guard(self.stats, str(where), deadline_s=2 * timeout_s + 0.05, probe=self._r.ping, flush=self._flush,
                           pending=self.buffer.__len__, reconnect_interval_s=reconnect_interval_s,
                           log_interval_s=log_interval_s)  # fmt: skip
        self._rate = self._r.register_script(lua.RATE)
        self._breaker = self._r.register_script(lua.BREAKER)
        self._admit = self._r.register_script(lua.ADMIT)
        self._settle = self._r.register_script(lua.SETTLE)
        # the request path's calls, one round trip per batch, on connections of their own without socket
        # timeouts: the batch's deadline (timeout_s, connect included) is the give-up time
        batches = Redis.from_url(
            url, socket_timeout=None, socket_connect_timeout=timeout_s, retry=Retry(NoBackoff(), 0), decode_responses=True
        )
        self._batches = batches
        self._coalescer = Coalescer(batches, self.guard, deadline_s=timeout_s)
        self._local = MemoryStore()  # breakers and adapters as this process last saw them
        self._spend_seen: dict[str, dict[str, float]] = {}  # tenant -> {period: last value read}
        self._breaker_cache: dict[str, tuple[float, BreakerState]] = {}  # model -> (monotonic expiry, state)
        self._adapter_fresh: dict[tuple[str, str], float] = {}  # (tenant, name) -> monotonic expiry of the copy

    # Rate limits
    async def hit(self, key: str, limit: int, window_s: float, cost: int = 1, now: float | None = None) -> RateDecision:
        keys = self.keys.rate(key)
        res = await self.guard.run(lambda: self._rate(keys, ["hit", limit, window_s, cost, clock(now)]))
        if isinstance(res, Down):
            if self.fail_open:
                return RateDecision(True, limit, limit, 0.0, 0.0)
            return RateDecision(False, limit, 0, self.fail_closed_retry_s, self.fail_closed_retry_s)
        return RateDecision(bool(res[0]), limit, int(res[1]), float(res[2]), float(res[3]))

    async def adjust(self, key: str, window_s: float, delta: int, now: float | None = None, at: float | None = None) -> None:
        now = clock(now)
        keys = self.keys.rate(key)
        # Lost during an outage: counters are ephemeral, and the window will have moved on.
        await self.guard.run(lambda: self._rate(keys, ["adjust", 0, window_s, delta, now, now if at is None else at]))

    # Admission
    async def admit(self, req: AdmitRequest, now: float | None = None) -> AdmitResult:
        t = clock(now)
        day, month = self._periods(t)
        keys = [*self.keys.tenant(req.tenant), self.keys.spend(req.tenant, day), self.keys.spend(req.tenant, month)]
        ttl_ms = int((max(req.window_s, req.lease_s) + 60) * 1000)
        args: list[Any] = [t, req.window_s, req.rpm or 0, req.tpm or 0, req.tokens, req.max_concurrent or 0, req.lease, req.lease_s,
                req.usd_day or 0, req.usd_month or 0, req.usd, int(req.downgrade), ttl_ms]  # fmt: skip
        reply = await self._coalescer.run(self._admit, keys, args)
        if isinstance(reply, Down):
            if req.fail_open:
                return AdmitResult(True, degraded=True)
            retry = self.fail_closed_retry_s
            return AdmitResult(False, "store", retry_after_s=retry, degraded=True)
        res = str(reply).split("|")
        allowed, refused = res[0] == "1", res[1] or None
        rpm = RateDecision(allowed or refused != "requests", req.rpm, int(float(res[2])), float(res[4]), 0.0) if req.rpm else None
        tpm = RateDecision(allowed or refused != "tokens", req.tpm, int(float(res[3])), float(res[5]), 0.0) if req.tpm else None
        retry = float(res[6])
        if refused == "requests" and rpm is not None:
            rpm = RateDecision(False, rpm.limit, rpm.remaining, rpm.reset_s, retry)
        if refused == "tokens" and tpm is not None:
            tpm = RateDecision(False, tpm.limit, tpm.remaining, tpm.reset_s, retry)
        left = float(res[8]) if res[8] != "" else None
        in_flight, tokens = int(float(res[7])), int(float(res[11]))
        return AdmitResult(allowed, refused, rpm, tpm, in_flight, left, res[9] == "1", float(res[10]), tokens, retry)  # type: ignore[arg-type]

    async def settle(self, settlements: Sequence[Settlement], now: float | None = None) -> None:
        """One round trip for the whole batch: one script call per tenant, pipelined."""
        t = clock(now)
        day, month = self._periods(t)
        by_tenant: dict[str, list[Settlement]] = {}
        for s in settlements:
            by_tenant.setdefault(s.tenant, []).append(s)

        calls = []
        for tenant, items in by_tenant.items():
            meta, _, tlog, leases = self.keys.tenant(tenant)
            keys = [meta, tlog, leases, self.keys.spend(tenant, day), self.keys.spend(tenant, month)]
            usd = sum(s.usd for s in items)
            args: list[Any] = [t, 60.0, DAY_TTL_S, MONTH_TTL_S, repr(usd), len(items), *(s.lease for s in items)]
            for s in items:
                if s.reserved_tokens and s.tokens != s.reserved_tokens:
                    args += [s.at, s.tokens - s.reserved_tokens]
            calls.append((self._settle, keys, args))
        if calls and isinstance(await self._coalescer.run_many(calls), Down):
            for tenant, items in by_tenant.items():  # leases expire on their own; spend must not be lost
                usd = sum(s.usd for s in items)
                if usd:
                    self.buffer.add_spend(tenant, (day, month), usd)

    async def in_flight(self, tenant: str, now: float | None = None) -> int:
        leases = self.keys.tenant(tenant)[3]
        res = await self.guard.run(lambda: self._r.zcount(leases, f"({clock(now)!r}", "+inf"))
        return 0 if isinstance(res, Down) else int(res)

    # Spend
    def _periods(self, now: float) -> tuple[str, str]:
        return "d:" + utc_day(now), "m:" + utc_month(now)

    async def add_spend(self, tenant: str, usd: float, now: float | None = None) -> None:
        periods = self._periods(clock(now))

        async def write() -> None:
            pipe = self._r.pipeline(transaction=True)
            self._spend_cmds(pipe, tenant, periods, usd)
            await pipe.execute()

        if isinstance(await self.guard.run(write), Down):
            self.buffer.add_spend(tenant, periods, usd)

    def _spend_cmds(self, pipe: Pipeline, tenant: str, periods: Iterable[str], usd: float) -> None:
        for period in periods:
            key = self.keys.spend(tenant, period)
            pipe.incrbyfloat(key, usd)
            pipe.expire(key, spend_ttl(period))

    async def spend(self, tenant: str, now: float | None = None) -> tuple[float, float]:
        day, month = self._periods(clock(now))
        res = await self.guard.run(lambda: self._r.mget([self.keys.spend(tenant, day), self.keys.spend(tenant, month)]))
        if not isinstance(res, Down):
            self._spend_seen[tenant] = {day: float(res[0] or 0), month: float(res[1] or 0)}
        seen, delta = self._spend_seen.get(tenant, {}), self.buffer.spend_delta
        return seen.get(day, 0.0) + delta(tenant, day), seen.get(month, 0.0) + delta(tenant, month)

    # Usage ledger
    def _usage_cmds(self, pipe: Pipeline, tenant: str, model: str, day: str, entry: Any, routes: Mapping[str, int]) -> None:
        """entry: a UsageRecord or a buffered LedgerEntry (same counter attributes)."""
        member = ledger_member(tenant, model)
        key = self.keys.usage(day, member)
        for name in COUNTS:
            pipe.hincrby(key, name, getattr(entry, name))
        for name in MONEY:
            pipe.hincrbyfloat(key, name, getattr(entry, name))
        if entry.tier:
            pipe.hset(key, "tier", entry.tier)
        for route, n in routes.items():
            pipe.hincrby(key, "route:" + route, n)
        pipe.sadd(self.keys.usage_index(day), member)
        pipe.zadd(self.keys.usage_days(), {day: date.fromisoformat(day).toordinal()})

    async def record_usage(self, record: UsageRecord) -> None:
        check_day(record.day)

        async def write() -> None:
            pipe = self._r.pipeline(transaction=True)
            self._usage_cmds(pipe, record.tenant, record.model, record.day, record, {record.route: record.requests})
            await pipe.execute()

        if isinstance(await self.guard.run(write), Down):
            self.buffer.add_usage(record)

    async def usage(self, tenant: str | None, day_from: str, day_to: str) -> list[UsageRow]:
        lo, hi = date.fromisoformat(check_day(day_from)).toordinal(), date.fromisoformat(check_day(day_to)).toordinal()
        res = await self.guard.run(lambda: self._read_usage(tenant, lo, hi))
        rows = self.buffer.rows(tenant, day_from, day_to) if isinstance(res, Down) else res
        return UsageRows(sorted(rows, key=lambda r: (r.day, r.tenant, r.model)), partial=isinstance(res, Down))

    async def _read_usage(self, tenant: str | None, lo: int, hi: int) -> list[UsageRow]:
        days = [str(d) for d in await self._r.zrangebyscore(self.keys.usage_days(), lo, hi)]
        pipe = self._r.pipeline(transaction=False)
        for day in days:
            pipe.smembers(self.keys.usage_index(day))
        wanted: list[tuple[str, str, str, str]] = []
        for day, members in zip(days, await pipe.execute(), strict=True):
            for member in members:
                t, model = parse_member(member)
                if tenant is None or t == tenant:
                    wanted.append((day, t, model, member))
        pipe = self._r.pipeline(transaction=False)
        for day, _, _, member in wanted:
            pipe.hgetall(self.keys.usage(day, member))
        return [decode_row(t, model, day, h) for (day, t, model, _), h in zip(wanted, await pipe.execute(), strict=True)]

    # Circuit breakers
    def _breaker_args(self, op: str, cfg: BreakerConfig, now: float, events: Sequence[BreakerEvent] = ()) -> list[Any]:
        ttl = int(max(cfg.window_s, cfg.open_s) * 4) + 60
        args: list[Any] = [op, now, cfg.consecutive_failures, cfg.error_rate, cfg.min_requests, cfg.window_s, cfg.open_s,
                           cfg.half_open_probes, ttl]  # fmt: skip
        for e in events:
            args += [int(e.ok), e.now, e.tenant or ""]
        return args

    def _cache(self, model: str, state: BreakerState) -> BreakerState:
        if self.breaker_cache_s > 0:
            self._breaker_cache[model] = (time.monotonic() + self.breaker_cache_s, state)
        return state

    async def breaker_state(self, model: str, cfg: BreakerConfig, now: float | None = None) -> BreakerState:
        if now is None and (hit := self._breaker_cache.get(model)) and hit[0] > time.monotonic():
            return hit[1]
        t = clock(now)
        res = await self.guard.run(lambda: self._breaker([self.keys.breaker(model)], self._breaker_args("view", cfg, t)))
        if isinstance(res, Down):
            return await self._local.breaker_state(model, cfg, t)
        return self._cache(model, decode_breaker(res))

    async def breaker_report(
        self, model: str, ok: bool, cfg: BreakerConfig, now: float | None = None, tenant: str | None = None
    ) -> BreakerState:
        t = clock(now)
        return (await self.breaker_report_many({model: [BreakerEvent(ok, t, tenant)]}, cfg))[model]

    async def breaker_report_many(
        self, reports: Mapping[str, Sequence[BreakerEvent]], cfg: BreakerConfig
    ) -> dict[str, BreakerState]:
        local = await self._local.breaker_report_many(reports, cfg)
        models = [m for m, events in reports.items() if events]
        calls = [
            (self._breaker, [self.keys.breaker(m)], self._breaker_args("report", cfg, max(e.now for e in reports[m]), reports[m]))
            for m in models
        ]
        res = await self._coalescer.run_many(calls) if calls else []
        if isinstance(res, Down):
            for m in models:
                for e in reports[m]:
                    self.buffer.add_report(BreakerReport(m, e.ok, cfg, e.now, e.tenant))
            return local
        return {m: self._cache(m, decode_breaker(r)) for m, r in zip(models, res, strict=True)}

    async def breaker_views(self, models: Sequence[str], cfg: BreakerConfig, now: float | None = None) -> dict[str, BreakerState]:
        t = clock(now)
        calls = [(self._breaker, [self.keys.breaker(m)], self._breaker_args("view", cfg, t)) for m in models]
        res = await self._coalescer.run_many(calls) if calls else []
        if isinstance(res, Down):
            return {}
        return {m: self._cache(m, decode_breaker(r)) for m, r in zip(models, res, strict=True)}

    async def breaker_try_probe(self, model: str, cfg: BreakerConfig, now: float | None = None) -> bool:
        t = clock(now)
        res = await self.guard.run(lambda: self._breaker([self.keys.breaker(model)], self._breaker_args("probe", cfg, t)))
        if isinstance(res, Down):
            return await self._local.breaker_try_probe(model, cfg, t)
        self._cache(model, decode_breaker(res))
        return bool(res[5])

    # Adapters
    async def put_adapter(self, tenant: str, name: str, base_model: str, adapter_module: str) -> Adapter:
        adapter = Adapter(tenant, name, base_model, adapter_module)
        await self.put_adapters([adapter])
        return adapter

    async def put_adapters(self, adapters: Iterable[Adapter]) -> int:
        batch = list(adapters)

        async def write() -> None:
            pipe = self._r.pipeline(transaction=False)
            for a in batch:
                pipe.hset(self.keys.adapters(a.tenant), a.name, encode_adapter(a))
            await pipe.execute()

        n = await self._local.put_adapters(batch)
        fresh = time.monotonic() + self.adapter_cache_s
        for a in batch:
            self._adapter_fresh[a.tenant, a.name] = fresh
        if isinstance(await self.guard.run(write, deadline_s=max(self.guard.deadline_s, n * 1e-4)), Down):
            for a in batch:
                self.buffer.put_adapter((a.tenant, a.name), a)
        return n

    async def delete_adapter(self, tenant: str, name: str) -> bool:
        res = await self.guard.run(lambda: self._r.hdel(self.keys.adapters(tenant), name))
        self._adapter_fresh.pop((tenant, name), None)
        existed = await self._local.delete_adapter(tenant, name)
        if isinstance(res, Down):
            self.buffer.put_adapter((tenant, name), None)
            return existed
        return bool(res)

    async def get_adapter(self, tenant: str, name: str) -> Adapter | None:
        key = (tenant, name)
        if self._adapter_fresh.get(key, 0.0) > time.monotonic():
            return await self._local.get_adapter(tenant, name)
        res = await self.guard.run(lambda: self._r.hget(self.keys.adapters(tenant), name))
        if isinstance(res, Down):
            return await self._local.get_adapter(tenant, name)
        if res is None:
            self._adapter_fresh.pop(key, None)
            await self._local.delete_adapter(tenant, name)
            return None
        adapter = decode_adapter(tenant, name, str(res))
        await self._local.put_adapters([adapter])
        self._adapter_fresh[key] = time.monotonic() + self.adapter_cache_s
        return adapter

    async def list_adapters(self, tenant: str) -> list[Adapter]:
        res = await self.guard.run(lambda: self._r.hgetall(self.keys.adapters(tenant)))
        if isinstance(res, Down):
            return await self._local.list_adapters(tenant)
        adapters = sorted((decode_adapter(tenant, str(name), str(raw)) for name, raw in res.items()), key=lambda a: a.name)
        for gone in {a.name for a in await self._local.list_adapters(tenant)} - set(res):
            self._adapter_fresh.pop((tenant, gone), None)
            await self._local.delete_adapter(tenant, gone)
        await self._local.put_adapters(adapters)
        return adapters

    # Stored responses
    async def put_response(self, tenant: str, response_id: str, doc: bytes, ttl_s: float, now: float | None = None) -> None:
        ms = max(1, int(ttl_s * 1000))
        res = await self.guard.run(lambda: self._r.set(self.keys.response(tenant, response_id), doc, px=ms))
        if isinstance(res, Down):  # kept here, and read back from here, until Redis is back
            await self._local.put_response(tenant, response_id, doc, ttl_s, now)

    async def get_response(self, tenant: str, response_id: str, now: float | None = None) -> bytes | None:
        res = await self.guard.run(lambda: self._r.get(self.keys.response(tenant, response_id)))
        if isinstance(res, Down) or res is None:
            return await self._local.get_response(tenant, response_id, now)
        return res.encode() if isinstance(res, str) else bytes(res)

    # Outage buffer
    async def _flush(self) -> None:
        """Write the outage buffer back in one MULTI/EXEC: all of it or, on failure, none (then restored)."""
        pending = self.buffer.drain()
        try:
            await self._write_pending(pending)
        except BaseException:
            self.buffer.restore(pending)
            raise
        self.stats.flushed += len(pending)

    async def _write_pending(self, p: Pending) -> None:
        pipe = self._r.pipeline(transaction=True)
        for (tenant, period), usd in p.spend.items():
            self._spend_cmds(pipe, tenant, [period], usd)
        for (tenant, model, day), entry in p.ledger.items():
            self._usage_cmds(pipe, tenant, model, day, entry, entry.routes)
        for (tenant, name), adapter in p.adapters.items():
            if adapter is None:
                pipe.hdel(self.keys.adapters(tenant), name)
            else:
                pipe.hset(self.keys.adapters(tenant), name, encode_adapter(adapter))
        now = time.time()
        for r in p.reports:  # replayed at their own times; those out of every window no longer matter
            if now - r.now <= max(r.cfg.window_s, r.cfg.open_s):
                event = BreakerEvent(r.ok, r.now, r.tenant)
                await self._breaker(
                    [self.keys.breaker(r.model)], self._breaker_args("report", r.cfg, r.now, [event]), client=pipe
                )
        await pipe.execute()
        self._breaker_cache.clear()

    # Health
    # Sessions (an outage forgets pins: the next turn is decided afresh, and that is safe)
    async def put_session(self, tenant: str, session: str, value: str, ttl_s: float, now: float | None = None) -> None:
        key = self.keys.session(tenant, session)
        await self.guard.run(lambda: self._r.set(key, value, px=max(1, int(ttl_s * 1000))))

    async def get_session(self, tenant: str, session: str, now: float | None = None) -> str | None:
        res = await self.guard.run(lambda: self._r.get(self.keys.session(tenant, session)))
        return None if isinstance(res, Down) or res is None else str(res)

    async def ping(self) -> bool:
        return not isinstance(await self.guard.run(self._r.ping), Down)

    async def flush(self) -> bool:
        """Try to write the outage buffer now; True when it is empty afterwards."""
        if len(self.buffer):
            await self.guard.run(self._r.ping)  # the guard flushes before any call
        return not len(self.buffer)

    async def aclose(self) -> None:
        if not await self.flush():
            log.warning("closing with %d buffered writes that never reached redis", len(self.buffer))
        await self._r.aclose()
        await self._batches.aclose()
