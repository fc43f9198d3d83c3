"""Prometheus metrics: GET /metrics, fed by one RequestRecord per request plus gateway state read at scrape time.

Names follow the OpenTelemetry GenAI semantic conventions where a metric exists there, translated to
Prometheus (dots to underscores, unit as suffix, `_total` on counters):

    gen_ai_client_operation_duration_seconds   histogram  gen_ai.client.operation.duration (+ error_type)
    gen_ai_client_token_usage                  histogram  gen_ai.client.token.usage (+ gen_ai_token_type)
    gen_ai_server_time_to_first_token_seconds  histogram  gen_ai.server.time_to_first_token, buckets to 5 min
    gen_ai_server_time_per_output_token_seconds histogram gen_ai.server.time_per_output_token (streams)

with labels gen_ai_operation_name, gen_ai_provider_name, gen_ai_request_model (the route the client named)
and gen_ai_response_model (the catalog model that answered, as in x-router-model). Our own families carry
the `router_` prefix. Labels hold only bounded values from the policy (routes, models, tenants, reason
codes, statuses): never a key, a prompt or a request id. With `server.metrics_tenant_label: false` the
tenant label is left empty, which Prometheus treats as absent, so all tenants share one series.

Several workers (`router serve --workers N`): set PROMETHEUS_MULTIPROC_DIR to an empty directory that all
workers share (wipe it before the server starts). prometheus-client then keeps counters and histograms in
per-process files and any worker's /metrics sums them all. Gauges describing gateway state (policy
version, breaker state, budgets, store up) come from the worker answering the scrape, without a pid
label: the policy file and the shared store make them the same in every worker. Counters mirrored from
state (policy reloads, store errors) are synced per worker on each request and scrape, so their sum is
the total over workers. Without the variable each observer keeps its metrics in its own registry, so
several gateways in one process never collide (multiprocess files, by nature, are per process).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from router.policy.reload import PolicyHolder
from router.store.base import Store
from router.telemetry.record import RequestRecord
from router.tenancy.auth import SINGLE_TENANT

log = logging.getLogger("router.telemetry")

# OpenTelemetry's advised boundaries, extended: reasoning models take minutes to a first token.
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92, 163.84, 327.68)
OTEL_TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
TTFT_BUCKETS = (*OTEL_TTFT_BUCKETS, 30.0, 60.0, 120.0, 300.0)
TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
TOKEN_BUCKETS = tuple(float(4**i) for i in range(14))  # 1 .. 67108864, as OpenTelemetry advises
CLASSIFIER_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
BREAKER_STATES = ("closed", "open", "half_open")
REJECTION_CODES = ("rate_limit_exceeded", "budget_exceeded")
SYNC_INTERVAL_S = 1.0
STORE_COUNTERS = ("errors", "outages", "fallbacks", "dropped")
GEN_AI = ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_response_model")


class GatewayState(Protocol):
    """What the metrics read at scrape time: the policy, the breakers and the state store (none in a
    process that only renders metrics)."""

    policies: PolicyHolder

    @property
    def store(self) -> Store | None: ...

    def breaker_snapshot(self) -> dict[str, str]: ...


class _Families:
    """The metric objects fed from records, all in one registry owned by one observer."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def counter(name: str, doc: str, labels: Iterable[str] = ()) -> Counter:
            return Counter(name, doc, list(labels), registry=registry)

        def histogram(name: str, doc: str, labels: Iterable[str], buckets: tuple[float, ...]) -> Histogram:
            return Histogram(name, doc, list(labels), registry=registry, buckets=buckets)

        self.duration = histogram(
            "gen_ai_client_operation_duration_seconds", "GenAI operation duration, until the last byte went to the client",
            (*GEN_AI, "error_type"), DURATION_BUCKETS,
        )  # fmt: skip
        self.tokens = histogram(
            "gen_ai_client_token_usage", "Input and output tokens used per request", (*GEN_AI, "gen_ai_token_type"), TOKEN_BUCKETS
        )
        self.ttft = histogram(
            "gen_ai_server_time_to_first_token_seconds", "Time to the first content token of successful responses",
            GEN_AI, TTFT_BUCKETS,
        )  # fmt: skip
        self.tpot = histogram(
            "gen_ai_server_time_per_output_token_seconds", "Time per output token after the first, successful streams",
            GEN_AI, TPOT_BUCKETS,
        )  # fmt: skip
        self.requests = counter(
            "router_requests_total", "Finished requests by route, tier, model and HTTP status",
            ("tenant", "route", "tier", "model", "status"),
        )  # fmt: skip
        self.decisions = counter("router_decisions_total", "Routing decisions by route, tier, model and reason code",
                                 ("route", "tier", "model", "reason"))  # fmt: skip
        self.classifier = histogram(
            "router_classifier_duration_seconds", "Time spent classifying a request", ("route",), CLASSIFIER_BUCKETS
        )
        self.fallbacks = counter("router_fallbacks_total", "Fallbacks to a later candidate, by the model that answered",
                                 ("route", "model"))  # fmt: skip
        self.retries = counter("router_retries_total", "Retries of an upstream call", ("route", "model"))
        self.cascades = counter("router_cascade_requests_total", "Requests judged by a cascade route", ("route",))
        self.escalations = counter("router_cascade_escalations_total", "Cascade escalations to the LLM tier by reason",
                                   ("route", "reason"))  # fmt: skip
        self.rejections = counter("router_rejections_total", "Requests refused by rate limits or budgets (429)",
                                  ("tenant", "reason"))  # fmt: skip
        self.tenant_tokens = counter("router_tokens_total", "Tokens by tenant, model and type",
                                     ("tenant", "model", "gen_ai_token_type"))  # fmt: skip
        self.cost = counter("router_cost_usd_total", "Cost of the traffic in US dollars", ("tenant", "route", "tier", "model"))
        self.llm_cost = counter("router_llm_cost_usd_total", "What the same traffic would have cost on the route's LLM tier",
                                ("tenant", "route"))  # fmt: skip
        self.savings = counter("router_savings_usd_total", "LLM-tier cost minus actual cost, per request, floored at 0",
                               ("tenant", "route"))  # fmt: skip
        self.interrupted = counter("router_stream_interruptions_total", "Streams cut short by the client or the upstream",
                                   ("route", "model"))  # fmt: skip
        self.reloads = counter("router_policy_reloads_total", "Policy reloads by result (ok, failed)", ("result",))
        self.experts = counter("router_expert_requests_total",
                               "Requests by task kind and the expert model chosen for it (general: no expert)",
                               ("route", "task_kind", "expert"))  # fmt: skip
        self.delegations = counter("router_delegations_total", "Expert calls made by delegate routes' core models",
                                   ("route", "task_kind", "model", "status"))  # fmt: skip
        self.spills = counter("router_spills_total", "Requests moved off a saturated model (spill on overload)",
                              ("route", "model"))  # fmt: skip
        self.shadow = counter("router_shadow_decisions_total", "Requests also decided by the shadow (candidate) policy",
                              ("route", "changed", "live_reason", "candidate_reason"))  # fmt: skip
        self.shadow_cost = counter("router_shadow_cost_usd_total",
                                   "Estimated cost of the live and the candidate policy's choices",
                                   ("route", "policy"))  # fmt: skip
        self.store = {
            name: counter(f"router_store_{name}_total", f"Shared store (Redis) {name}, as counted by the store")
            for name in STORE_COUNTERS
        }


class StateCollector(Collector):
    """Gauges read from the gateway when scraped: policy version, breaker state, budgets, store health."""

    def __init__(self, state: GatewayState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        policies = self.state.policies
        policy = policies.current
        info = GaugeMetricFamily("router_policy_info", "The loaded policy version (content digest)", labels=["version"])
        info.add_metric([policy.digest], 1)
        yield info
        yield GaugeMetricFamily(
            "router_policy_reload_error", "1 while the last policy reload was refused", value=int(policies.last_error is not None)
        )
        breaker = GaugeMetricFamily("router_breaker_state", "Circuit breaker state per model (1 for the current state)",
                                    labels=["model", "state"])  # fmt: skip
        snapshot = self.state.breaker_snapshot()
        for model in sorted(set(policy.spec.models) | set(snapshot)):
            current = snapshot.get(model, "closed")  # a model without a breaker entry has had no failures
            for state in BREAKER_STATES:
                breaker.add_metric([model, state], int(current == state))
        yield breaker
        budget = GaugeMetricFamily("router_tenant_budget_usd", "Tenant spend limits from the policy", labels=["tenant", "period"])
        if policy.spec.server.metrics_tenant_label:
            for name, tenant in sorted(policy.spec.tenants.items()):
                for period, limit in (("day", tenant.limits.usd_per_day), ("month", tenant.limits.usd_per_month)):
                    if limit is not None:
                        budget.add_metric([name, period], limit)
        yield budget
        up = GaugeMetricFamily("router_store_up", "1 while the state store answers (memory: always)", labels=["backend"])
        store = self.state.store
        if store is not None:
            up.add_metric([store.backend], int(store.available))
        yield up


@dataclass(frozen=True, slots=True)
class _Every:
    """Labelled children that every request updates."""

    requests: Any
    decisions: Any
    duration: Any


@dataclass(frozen=True, slots=True)
class _Served:
    """Labelled children that every answered request updates."""

    input_tokens: Any
    tenant_input_tokens: Any
    ttft: Any
    cost: Any
    llm_cost: Any
    savings: Any


class PrometheusObserver:
    """Observer of finished requests and renderer of the exposition for GET /metrics."""

    def __init__(self, state: GatewayState, multiprocess_dir: str | None = None) -> None:
        self.state = state
        self.multiprocess_dir = multiprocess_dir or os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
        self.registry = CollectorRegistry()
        self.m = _Families(self.registry)
        self.collector = StateCollector(state)
        if self.multiprocess_dir is None:
            self.registry.register(self.collector)
        self._seen: dict[str, int] = {}
        self._primed: str | None = None
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._every_bundles: dict[tuple[str, ...], _Every] = {}
        self._served_bundles: dict[tuple[str, ...], _Served] = {}
        self._synced_at = float("-inf")
        self.observed = 0  # requests seen: a rendered exposition is current while this has not moved
        self._sync()

    def observe(self, record: RequestRecord) -> None:
        self.observed += 1
        try:
            self._observe(record)
            now = time.monotonic()
            if now - self._synced_at >= SYNC_INTERVAL_S:  # state counters change rarely; scrapes sync too
                self._synced_at = now
                self._sync()
        except Exception:  # metrics must never fail a request
            log.exception("metrics: could not record request %s", record.request_id)

    def render(self) -> tuple[bytes, str]:
        """The text exposition and its content type."""
        self.prepare()
        return self.generate()

    def prepare(self) -> None:
        """The part of a scrape that updates metrics: on the event loop, where requests update them too."""
        self._sync()

    def generate(self) -> tuple[bytes, str]:
        """The part of a scrape that only reads (prometheus-client locks each metric): safe in a thread."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry), CONTENT_TYPE_PLAIN_0_0_4
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        registry.register(self.collector)
        return generate_latest(registry), CONTENT_TYPE_PLAIN_0_0_4

    def _observe(self, r: RequestRecord) -> None:
        m = self.m
        tenant = (r.tenant or "") if self.state.policies.current.spec.server.metrics_tenant_label else ""
        model, tier, ok = r.model or "none", r.tier or "none", r.status < 400
        gen = (r.operation, r.provider or "openai", r.route, model)
        every = self._every(tenant, r.route, tier, model, str(r.status), r.reason or "none", r.error_type or "", *gen)
        every.requests.inc()
        every.decisions.inc()
        if r.latency_s > 0:  # failures refused before dispatch carry no time
            every.duration.observe(r.latency_s)
        if r.classifier_ms is not None:
            self._l(m.classifier, r.route).observe(r.classifier_ms / 1000)
        if r.task_kind is not None or r.parent_request_id is not None:
            self._expertise(r)
        if r.fallbacks:
            self._l(m.fallbacks, r.route, model).inc(r.fallbacks)
        if r.retries:
            self._l(m.retries, r.route, model).inc(r.retries)
        if r.escalated is not None:
            self._l(m.cascades, r.route).inc()
            if r.escalated:
                self._l(m.escalations, r.route, r.escalation_reason or "none").inc()
        code = r.extra.get("code")
        if r.status == 429 and code in REJECTION_CODES:
            self._l(m.rejections, tenant, code).inc()
        if r.interrupted:
            self._l(m.interrupted, r.route, model).inc()
        if not ok or r.model is None:
            return
        served = self._served(tenant, tier, *gen)
        served.input_tokens.observe(r.prompt_tokens)
        served.tenant_input_tokens.inc(r.prompt_tokens)
        if r.operation != "embeddings":
            self._l(m.tokens, *gen, "output").observe(r.completion_tokens)
            self._l(m.tenant_tokens, tenant, model, "output").inc(r.completion_tokens)
        if r.ttft_s is not None:
            served.ttft.observe(r.ttft_s)
            if r.stream and r.completion_tokens > 1 and r.latency_s > r.ttft_s:
                self._l(m.tpot, *gen).observe((r.latency_s - r.ttft_s) / (r.completion_tokens - 1))
        served.cost.inc(r.cost_usd)
        served.llm_cost.inc(r.llm_cost_usd)
        served.savings.inc(max(0.0, r.llm_cost_usd - r.cost_usd))

    def _expertise(self, r: RequestRecord) -> None:
        """Experts, delegations, spills and the shadow policy: only requests that have them pay for them."""
        m = self.m
        if r.parent_request_id is not None:
            if r.reason == "delegated":
                self._l(m.delegations, r.route, r.task_kind or "none", r.model or "none", str(r.status)).inc()
            return
        self._l(m.experts, r.route, r.task_kind or "none", r.expert or "general").inc()
        for model in r.spilled:
            self._l(m.spills, r.route, model).inc()
        if r.shadow is not None:
            changed, live_reason, reason, live_cost, cost = r.shadow
            self._l(m.shadow, r.route, str(changed).lower(), live_reason, reason).inc()
            self._l(m.shadow_cost, r.route, "live").inc(live_cost)
            self._l(m.shadow_cost, r.route, "candidate").inc(cost)

    def _every(self, *key: str) -> _Every:
        """What every request updates, looked up once per label combination (one dict lookup per
        request instead of three)."""
        found = self._every_bundles.get(key)
        if found is None:
            tenant, route, tier, model, status, reason, error_type, *gen = key
            m = self.m
            found = self._every_bundles[key] = _Every(
                self._l(m.requests, tenant, route, tier, model, status),
                self._l(m.decisions, route, tier, model, reason),
                self._l(m.duration, *gen, error_type),
            )
        return found

    def _served(self, tenant: str, tier: str, *gen: str) -> _Served:
        """What every answered request updates, looked up once per label combination."""
        key = (tenant, tier, *gen)
        found = self._served_bundles.get(key)
        if found is None:
            m, route, model = self.m, gen[2], gen[3]
            found = self._served_bundles[key] = _Served(
                self._l(m.tokens, *gen, "input"),
                self._l(m.tenant_tokens, tenant, model, "input"),
                self._l(m.ttft, *gen),
                self._l(m.cost, tenant, route, tier, model),
                self._l(m.llm_cost, tenant, route),
                self._l(m.savings, tenant, route),
            )
        return found

    def _l(self, metric: Any, *values: str) -> Any:
        """The labelled child, looked up once per label set (labels() per request costs more than the
        observation itself; label sets are few by design)."""
        key = (id(metric), values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def _sync(self) -> None:
        """Mirror state counters (policy reloads, store stats) into real counters, by their increase."""
        policies = self.state.policies
        self._bump(self.m.reloads.labels("ok"), "reloads", policies.reloads)
        self._bump(self.m.reloads.labels("failed"), "failed_reloads", policies.failed_reloads)
        stats = self.state.store.stats if self.state.store is not None else None
        for name in STORE_COUNTERS:
            self._bump(self.m.store[name], f"store_{name}", int(getattr(stats, name, 0)))
        if policies.current.digest != self._primed:
            self._prime()

    def _bump(self, counter: Any, key: str, value: int) -> None:
        delta = value - self._seen.get(key, 0)
        if delta > 0:
            counter.inc(delta)
        self._seen[key] = value  # a smaller value means a new store object: count on from there

    def _prime(self) -> None:
        """Start rejection counters at 0 for every tenant the policy knows, so rate() sees the first one."""
        policy = self.state.policies.current
        self._primed = policy.digest
        labelled = policy.spec.server.metrics_tenant_label
        tenants = (sorted(policy.spec.tenants) or [SINGLE_TENANT]) if labelled else [""]
        for tenant in tenants:
            for code in REJECTION_CODES:
                self.m.rejections.labels(tenant, code)
