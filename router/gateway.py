"""The Gateway: everything a running process holds, built in the app's lifespan and passed explicitly.

No module globals: tests build as many gateways as they like in one process.
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from router.classify.classifier import Classifier
from router.classify.heuristic import HeuristicScorer
from router.classify.scores import Scorer
from router.classify.tokens import TokenCounter
from router.dispatch.board import BreakerBoard
from router.dispatch.load import LoadTracker
from router.dispatch.pool import ModelPools
from router.dispatch.reliability import DispatchGuard, RetryBudget, breaker_config
from router.policy.compiled import Policy
from router.policy.reload import PolicyHolder
from router.policy.shadow import ShadowTally
from router.settings import Settings
from router.store import open_store
from router.store.base import Store
from router.store.memory import MemoryStore
from router.telemetry.batch import Batched
from router.telemetry.latency import LatencyTracker
from router.telemetry.logs import AccessLog
from router.telemetry.metrics import PrometheusObserver
from router.telemetry.scrape import Exposition
from router.tenancy.auth import admin_key_digest
from router.tenancy.limits import Admitter
from router.tenancy.usage import UsageLedger
from router.upstream.base import Target, Upstream
from router.upstream.openai_compat import OpenAICompatUpstream, make_transport

log = logging.getLogger("router")


def load_scorer(kind: str, weights: Path | None = None) -> Scorer:
    """The learned scorer with the given weights (default: the shipped ones); the heuristic one when asked.
    Weights that cannot be read fall back to the shipped ones, then to the heuristic scorer, with a log line:
    a bad file must not take classification down."""
    if kind == "learned":
        from router.classify.learned import LearnedScorer

        if weights is not None:
            try:
                return LearnedScorer.from_file(weights)
            except (OSError, ValueError, KeyError) as exc:
                log.error("scorer weights %s unusable (%s); using the packaged weights", weights, exc)
        try:
            return LearnedScorer.from_package()
        except (OSError, ValueError, KeyError) as exc:
            log.warning("learned scorer unavailable (%s); using the heuristic scorer", exc)
    return HeuristicScorer()


def weights_path(policy: Policy) -> Path | None:
    """The policy's `server.scorer_weights`, relative paths read from the policy file's directory."""
    name = policy.spec.server.scorer_weights
    if name is None:
        return None
    path = Path(name).expanduser()
    return path if path.is_absolute() else Path(policy.source).parent / path


def shadow_holder(settings: Settings, policy: Policy) -> PolicyHolder | None:
    """The candidate policy decided alongside the live one: --shadow-policy, else the policy's server.shadow
    (relative to the policy file)."""
    shadow = settings.shadow_policy or policy.spec.server.shadow
    if shadow is None:
        return None
    path = Path(shadow)
    return PolicyHolder(path if path.is_absolute() else settings.policy_path.parent / path)


@dataclass(slots=True)
class MetricSources:
    """What the metrics read at scrape time, given to them explicitly (not the whole gateway)."""

    policies: PolicyHolder
    board: BreakerBoard
    store: Store

    def breaker_snapshot(self) -> dict[str, str]:
        return self.board.catalog_states()


@dataclass(slots=True)
class Gateway:
    settings: Settings
    policies: PolicyHolder
    classifier: Classifier
    fast: Upstream
    slow: Upstream | None = None  # litellm, created on first use
    draining: bool = False
    admin_digest: str | None = field(default_factory=admin_key_digest)  # sha256 of ROUTER_ADMIN_KEY
    scorers: dict[tuple[str, str, int], Scorer] = field(default_factory=dict)  # (kind, weights, mtime_ns)
    store: Store = field(default_factory=MemoryStore)
    latency: LatencyTracker = field(default_factory=LatencyTracker)
    ledger: UsageLedger | None = None
    board: BreakerBoard | None = None  # breakers as this process reads them (built on the store)
    pools: ModelPools = field(default_factory=ModelPools)  # connection slots per model
    admitter: Admitter | None = None  # tenants' limits (built on the store)
    retry_budget: RetryBudget = field(default_factory=RetryBudget)
    rng: random.Random = field(default_factory=random.Random)  # backoff jitter
    metrics: PrometheusObserver | None = None  # the metrics fed by finished requests
    exposition: Exposition | None = None  # renders GET /metrics off the event loop
    access_log: AccessLog | None = None
    _guard: tuple[Policy, DispatchGuard] | None = field(default=None, init=False, repr=False)  # per policy version
    reporting: Batched = field(default_factory=Batched)  # told of every finished request; feeds its consumers in batches
    load: LoadTracker = field(default_factory=LoadTracker)  # in-flight requests and server queues, for spill
    shadow: PolicyHolder | None = None  # a candidate policy decided alongside the live one
    shadow_tally: ShadowTally = field(default_factory=ShadowTally)
    _counted: dict[int, Upstream] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def build(cls, settings: Settings) -> Gateway:
        """Every service built first, each given what it reads, then the gateway that holds them: no
        field is assigned afterwards, and nothing holds the gateway itself."""
        policies = PolicyHolder(settings.policy_path)
        store = open_store(settings.redis_url)
        board = BreakerBoard(store)
        latency, ledger = LatencyTracker(), UsageLedger(store)
        metrics = PrometheusObserver(MetricSources(policies, board, store))
        access_log = AccessLog.open(settings.access_log)
        reporting = Batched([latency, ledger, metrics, access_log], then=[access_log])
        gateway = cls(
            settings,
            policies,
            Classifier(TokenCounter()),
            OpenAICompatUpstream(make_transport(settings.transport)),
            store=store,
            board=board,
            admitter=Admitter(store),
            latency=latency,
            ledger=ledger,
            metrics=metrics,
            exposition=Exposition(metrics),
            access_log=access_log,
            reporting=reporting,
            shadow=shadow_holder(settings, policies.current),
        )
        gateway.scorer(policies.current)  # load weights at start, not on a request
        return gateway

    def __post_init__(self) -> None:
        if self.board is None:
            self.board = BreakerBoard(self.store)
        if self.admitter is None:
            self.admitter = Admitter(self.store)

    def scorer(self, policy: Policy) -> Scorer:
        """The scorer a policy asks for (kind and weights file), loaded once per weights file version: an
        edit pointing at other weights, or new weights written over the named file, apply on the next
        request. Costs one stat per request when the policy names a file."""
        kind = policy.spec.server.scorer
        path = weights_path(policy) if kind == "learned" else None
        try:
            stamp = os.stat(path).st_mtime_ns if path is not None else 0
        except OSError:
            stamp = -1
        key = (kind, str(path or ""), stamp)
        scorer = self.scorers.get(key)
        if scorer is None:
            if len(self.scorers) >= 8:  # old weight versions are not kept forever
                self.scorers.clear()
            scorer = self.scorers[key] = load_scorer(kind, path)
        return scorer

    def guard(self, policy: Policy) -> DispatchGuard:
        """Breakers, retries and the retry budget, as this request's policy version sets them (built once
        per policy version)."""
        built = self._guard
        if built is None or built[0] is not policy:
            server = policy.spec.server
            assert self.board is not None
            self.board.watch(policy.models)
            guard = DispatchGuard(self.board, breaker_config(server.breaker), server.retries, self.retry_budget, self.rng, self.pools,
                          server.model_connections, server.tenant_model_share)  # fmt: skip
            built = self._guard = (policy, guard)
        return built[1]

    def breaker_snapshot(self) -> dict[str, str]:
        """Circuit-breaker state per catalog model (closed, open, half_open), as last seen by this process."""
        assert self.board is not None
        return self.board.catalog_states()

    def upstream_for(self, target: Target) -> Upstream:
        if target.spec.endpoint.fast_path:
            upstream = self.fast
        else:
            if self.slow is None:
                from router.upstream.litellm_adapter import LiteLLMUpstream

                self.slow = LiteLLMUpstream()
            upstream = self.slow
        if target.spec.max_in_flight is None:
            return upstream
        counted = self._counted.get(id(upstream))
        if counted is None:
            counted = self._counted[id(upstream)] = self.load.wrap(upstream)
        return counted

    async def scrape(self) -> tuple[bytes, str]:
        """The Prometheus exposition, with every request already answered counted."""
        assert self.exposition is not None
        self.flush_reports()
        return await self.exposition.render()

    def flush_reports(self) -> None:
        """Hand every request answered so far to latency, ledger, metrics and the access log."""
        self.reporting.flush()

    async def settle_reports(self) -> None:
        """Every request answered so far reported and its usage written to the store: what a reader of
        the ledger (GET /router/usage) and shutdown wait for."""
        self.flush_reports()
        if self.ledger is not None:
            await self.ledger.drain()

    async def aclose(self) -> None:
        await self.settle_reports()
        if self.admitter is not None:
            await self.admitter.drain()
        if self.board is not None:
            await self.board.aclose()
        await self.store.aclose()
        await self.fast.aclose()
        if self.slow is not None:
            await self.slow.aclose()
        if self.access_log is not None:
            self.access_log.close()
