"""The Redis key layout of RedisStore and the codecs of its values, in one place.

All keys start with a configurable prefix (default "router:"); none ever holds an API key:

    rl:{key}:log, rl:{key}:meta        rate-limit log (zset of "seq:units" by time) and its running total
    spend:{tenant}:d:{YYYY-MM-DD}      USD spent that UTC day; TTL 3 days
    spend:{tenant}:m:{YYYY-MM}         USD spent that UTC month; TTL 40 days
    usage:{day}:["tenant","model"]     ledger hash, only HINCRBY/HINCRBYFLOAT (AOF-friendly); no TTL
    usage:idx:{day}                    set of the ["tenant","model"] members that have a ledger hash that day
    usage:days                         zset of days with data, scored by ordinal, for range queries
    breaker:{model}                    breaker state, its error-rate buckets, tenants' last ok/failure (hash)
    t:{tenant}:meta, t:{tenant}:rpm,   admission: totals and lease amounts (hash), requests/min and tokens/min
    t:{tenant}:tpm, t:{tenant}:lease   logs (zsets of "seq:units" by time), in-flight leases by expiry (zset)
    adapters:{tenant}                  name -> {"base_model", "adapter_module"} (hash)
    session:{tenant}:{digest}          a session's pinned routing choice; TTL set by the route's policy
    resp:{tenant}:{response_id}        a stored Responses-API response (JSON string); TTL set by the policy

Ledger members are JSON pairs so that names containing ":" can never collide.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from router.store.base import DAY_TTL_S, MONTH_TTL_S, Adapter, BreakerState, UsageRow

COUNTS = ("requests", "prompt_tokens", "completion_tokens")
MONEY = ("cost_usd", "llm_cost_usd")


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "router:"

    def _k(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def rate(self, key: str) -> list[str]:
        return [self._k("rl", key, "log"), self._k("rl", key, "meta")]

    def spend(self, tenant: str, period: str) -> str:
        return self._k("spend", tenant, period)

    def usage(self, day: str, member: str) -> str:
        return self._k("usage", day, member)

    def usage_index(self, day: str) -> str:
        return self._k("usage", "idx", day)

    def usage_days(self) -> str:
        return self._k("usage", "days")

    def tenant(self, tenant: str) -> list[str]:
        """meta, rpm log, tpm log, leases (lua.ADMIT's first four keys)."""
        return [self._k("t", tenant, part) for part in ("meta", "rpm", "tpm", "lease")]

    def breaker(self, model: str) -> str:
        return self._k("breaker", model)

    def adapters(self, tenant: str) -> str:
        return self._k("adapters", tenant)

    def session(self, tenant: str, session: str) -> str:
        return self._k("session", tenant, session)

    def response(self, tenant: str, response_id: str) -> str:
        return self._k("resp", tenant, response_id)


def spend_ttl(period: str) -> int:
    return DAY_TTL_S if period.startswith("d:") else MONTH_TTL_S


def ledger_member(tenant: str, model: str) -> str:
    return json.dumps([tenant, model], separators=(",", ":"))


def parse_member(member: str) -> tuple[str, str]:
    tenant, model = json.loads(member)
    return str(tenant), str(model)


def encode_adapter(a: Adapter) -> str:
    return json.dumps({"base_model": a.base_model, "adapter_module": a.adapter_module}, separators=(",", ":"))


def decode_adapter(tenant: str, name: str, raw: str) -> Adapter:
    d = json.loads(raw)
    return Adapter(tenant, name, d["base_model"], d["adapter_module"])


def decode_breaker(res: list[Any]) -> BreakerState:
    """The reply of lua.BREAKER."""
    return BreakerState(res[0], int(res[1]), int(res[2]), int(res[3]), float(res[4]))


def decode_row(tenant: str, model: str, day: str, h: Mapping[str, str]) -> UsageRow:
    routes = {f[6:]: int(v) for f, v in h.items() if f.startswith("route:")}
    counts = [int(h.get(f, 0)) for f in COUNTS]
    money = [float(h.get(f, 0.0)) for f in MONEY]
    return UsageRow(tenant, model, day, h.get("tier", ""), counts[0], counts[1], counts[2], money[0], money[1], routes)
