"""The Gateway: everything a running process holds, built in the app's lifespan and passed explicitly.

No module globals: tests build as many gateways as they like in one process.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field

from router.classify.classifier import Classifier
from router.classify.heuristic import HeuristicScorer
from router.classify.scores import Scorer
from router.classify.tokens import TokenCounter
from router.dispatch.board import BreakerBoard
from router.dispatch.pool import ModelPools
from router.dispatch.reliability import Guard, RetryBudget, breaker_config
from router.policy.compiled import Policy
from router.policy.reload import PolicyHolder
from router.settings import Settings
from router.store import open_store
from router.store.base import Store
from router.store.memory import MemoryStore
from router.telemetry.batch import Batched
from router.telemetry.latency import LatencyTracker
from router.telemetry.logs import AccessLog
from router.telemetry.metrics import PrometheusObserver
from router.telemetry.record import Observer
from router.tenancy.auth import admin_key_digest
from router.tenancy.limits import Admitter
from router.tenancy.usage import UsageLedger
from router.upstream.base import Target, Upstream
from router.upstream.openai_compat import OpenAICompatUpstream, make_transport

log = logging.getLogger("router")


def load_scorer(kind: str) -> Scorer:
    """The learned scorer with its shipped weights; the heuristic one when asked, or if weights are absent."""
    if kind == "learned":
        try:
            from router.classify.learned import LearnedScorer

            scorer: Scorer = LearnedScorer.from_package()
            return scorer
        except (ImportError, OSError, ValueError) as exc:
            log.warning("learned scorer unavailable (%s); using the heuristic scorer", exc)
    return HeuristicScorer()


@dataclass(slots=True)
class Gateway:
    settings: Settings
    policies: PolicyHolder
    classifier: Classifier
    fast: Upstream
    slow: Upstream | None = None  # litellm, created on first use
    draining: bool = False
    admin_digest: str | None = field(default_factory=admin_key_digest)  # sha256 of ROUTER_ADMIN_KEY
    scorers: dict[str, Scorer] = field(default_factory=dict)
    store: Store = field(default_factory=MemoryStore)
    latency: LatencyTracker = field(default_factory=LatencyTracker)
    ledger: UsageLedger | None = None
    board: BreakerBoard | None = None  # breakers as this process reads them (built on the store)
    pools: ModelPools = field(default_factory=ModelPools)  # connection slots per model
    admitter: Admitter | None = None  # tenants' limits (built on the store)
    retry_budget: RetryBudget = field(default_factory=RetryBudget)
    rng: random.Random = field(default_factory=random.Random)  # backoff jitter
    metrics: PrometheusObserver | None = None  # renders GET /metrics
    access_log: AccessLog | None = None
    _guard: tuple[Policy, Guard] | None = field(default=None, init=False, repr=False)  # per policy version
    reporting: Batched = field(default_factory=Batched)  # told of every finished request; feeds its consumers in batches

    @classmethod
    def build(cls, settings: Settings) -> Gateway:
        policies = PolicyHolder(settings.policy_path)
        fast = OpenAICompatUpstream(make_transport(settings.transport))
        store = open_store(settings.redis_url)
        gateway = cls(settings, policies, Classifier(TokenCounter()), fast, store=store)
        gateway.ledger = UsageLedger(store)
        gateway.metrics = PrometheusObserver(gateway)
        gateway.access_log = AccessLog.open(settings.access_log)
        consumers: list[Observer] = [gateway.latency, gateway.ledger, gateway.metrics, gateway.access_log]
        gateway.reporting = Batched(consumers, then=[gateway.access_log])
        gateway.scorer(policies.current.spec.server.scorer)  # load weights at start, not on a request
        return gateway

    def __post_init__(self) -> None:
        if self.board is None:
            self.board = BreakerBoard(self.store)
        if self.admitter is None:
            self.admitter = Admitter(self.store)

    def scorer(self, kind: str) -> Scorer:
        """The scorer a policy asks for, loaded once per process."""
        scorer = self.scorers.get(kind)
        if scorer is None:
            scorer = self.scorers[kind] = load_scorer(kind)
        return scorer

    def guard(self, policy: Policy) -> Guard:
        """Breakers, retries and the retry budget, as this request's policy version sets them (built once
        per policy version)."""
        built = self._guard
        if built is None or built[0] is not policy:
            server = policy.spec.server
            assert self.board is not None
            self.board.watch(policy.models)
            guard = Guard(self.board, breaker_config(server.breaker), server.retries, self.retry_budget, self.rng, self.pools,
                          server.model_connections, server.tenant_model_share)  # fmt: skip
            built = self._guard = (policy, guard)
        return built[1]

    def breaker_snapshot(self) -> dict[str, str]:
        """Circuit-breaker state per catalog model (closed, open, half_open), as last seen by this process."""
        assert self.board is not None
        return {name: state for name, state in self.board.states.items() if "#" not in name}

    def upstream_for(self, target: Target) -> Upstream:
        if target.spec.endpoint.fast_path:
            return self.fast
        if self.slow is None:
            from router.upstream.litellm_adapter import LiteLLMUpstream

            self.slow = LiteLLMUpstream()
        return self.slow

    def flush_reports(self) -> None:
        """Hand every request answered so far to latency, ledger, metrics and the access log."""
        self.reporting.flush()

    async def aclose(self) -> None:
        self.flush_reports()
        if self.ledger is not None:
            await self.ledger.drain()
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
