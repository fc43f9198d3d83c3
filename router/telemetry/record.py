"""RequestRecord: everything known about one finished request, built once by the pipeline's account stage
and handed to every consumer (usage ledger, budgets, metrics, logs). Carries no prompt text and no key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(slots=True)
class RequestRecord:
    request_id: str
    operation: str  # chat, text_completion, embeddings (OpenTelemetry gen_ai.operation.name)
    route: str
    tenant: str | None = None
    tier: str | None = None
    model: str | None = None  # catalog name of the model that answered (or was last tried)
    upstream_model: str | None = None
    provider: str | None = None
    reason: str | None = None  # the decision's reason code
    status: int = 200
    error_type: str | None = None
    stream: bool = False
    started: float | None = None  # perf_counter at arrival
    latency_s: float = 0.0  # until the last byte went to the client
    ttft_s: float | None = None  # until the first content chunk (streams) or the whole answer (plain)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_estimated: bool = False  # counted with tiktoken because the upstream gave no usage
    cost_usd: float = 0.0
    llm_cost_usd: float = 0.0  # what the route's LLM tier would have cost for the same tokens
    fallbacks: int = 0
    retries: int = 0
    tried: tuple[str, ...] = ()  # catalog names of the models dispatch tried, in order (failed requests too)
    escalated: bool | None = None  # cascade routes only
    escalation_reason: str | None = None
    interrupted: bool = False  # the client left or the upstream failed mid-stream
    ticket: Any = None  # the tenant's admission (router.tenancy.limits.Ticket), released when accounted
    classifier_ms: float | None = None
    p_strong: float | None = None
    task_kind: str | None = None
    expert: str | None = None  # the expert model the decision placed first (or a delegate route's expert)
    session: str | None = None  # new, kept, up, overridden: what a sticky session did to the decision
    spilled: tuple[str, ...] = ()  # saturated models the decision moved behind the others
    parent_request_id: str | None = None  # a delegate route's sub-call: the request it served
    delegations: int | None = None  # a delegate route's request: expert calls made for it
    shadow: tuple[bool, str, str, float, float] | None = None  # candidate policy: changed, live/its reason, live/its cost
    extra: dict[str, str] = field(default_factory=dict)


class Observer(Protocol):
    """Anything that wants each finished request. Must not raise and must not block."""

    def observe(self, record: RequestRecord) -> None: ...
