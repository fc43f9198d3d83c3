"""Policy file format, version 1: the catalog of models, the routes clients name, tenants and server limits.

The pydantic models here *are* the schema: `router policy schema` prints their JSON Schema and
policies/schema.json is generated from them. Unknown keys are refused so that a typo in an ops edit is
an error at load time, not a silently ignored setting.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from router.upstream.params import is_connection_name

Tier = Literal["slm", "llm"]
Strategy = Literal["classify", "cascade", "fixed", "delegate"]
TASK_KIND = r"^[a-z][a-z0-9_]{0,31}$"  # task kinds and expert names: short, tool-name safe
Api = Literal["chat", "responses", "messages"]

# litellm provider names that speak the OpenAI wire format: these go through the direct HTTP fast path.
OPENAI_COMPATIBLE_PROVIDERS = frozenset(
    {"openai", "openai_compatible", "openai-compatible", "vllm", "hosted_vllm", "llamacpp", "ollama_chat_openai", "lmstudio"}
)

PositiveFloat = Annotated[float, Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Endpoint(_Strict):
    """Where a model is served. Only policy files name endpoints; a request never can."""

    provider: str = Field("openai", description="litellm provider name; openai-compatible servers use the fast path")
    base_url: str | None = Field(None, description="API base URL, e.g. http://127.0.0.1:8000/v1")
    model: str = Field(..., min_length=1, description="the upstream's own model id")
    api_key: str = Field("", description="use ${ENV_VAR}: secrets live only in the environment")
    api_version: str | None = Field(None, description="for providers that need one (Azure OpenAI)")
    headers: dict[str, str] = Field(default_factory=dict, description="extra headers sent upstream")
    extra_params: list[str] = Field(
        default_factory=list,
        description="request body fields this model may receive beyond OpenAI's (e.g. vLLM's guided_json); "
        "names of connection or credential settings are refused",
    )
    apis: list[Api] = Field(
        default_factory=lambda: list[Api](["chat"]),
        description="client APIs this endpoint serves natively (passed through); others are translated to chat completions",
    )

    @property
    def fast_path(self) -> bool:
        return self.provider.lower() in OPENAI_COMPATIBLE_PROVIDERS

    @model_validator(mode="after")
    def _base_url_for_fast_path(self) -> Endpoint:
        if self.fast_path and not self.base_url:
            raise ValueError(f"provider {self.provider!r} is OpenAI-compatible and needs endpoint.base_url")
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            raise ValueError("endpoint.base_url must start with http:// or https://")
        refused = [name for name in self.extra_params if is_connection_name(name)]
        if refused:
            raise ValueError(f"endpoint.extra_params may name model parameters only, not settings like {refused[0]!r}")
        return self


class Price(_Strict):
    input_per_mtok: float = Field(0.0, ge=0, description="USD per million prompt tokens")
    output_per_mtok: float = Field(0.0, ge=0, description="USD per million completion tokens")

    def usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        """What the tokens cost: the one cost formula (decide's estimates and the ledger's costs)."""
        return (prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok) / 1e6


class Timeouts(_Strict):
    """Seconds. first_token bounds the wait for the response head or first stream chunk."""

    connect: PositiveFloat = 5.0
    first_token: PositiveFloat = 60.0
    idle: PositiveFloat = 30.0
    total: PositiveFloat = 600.0


class Capabilities(_Strict):
    tools: bool = True
    json_mode: bool = True
    vision: bool = False
    logprobs: bool = True


class ModelSpec(_Strict):
    tier: Tier = "slm"
    kind: Literal["chat", "embeddings"] = "chat"
    endpoint: Endpoint
    context_window: int = Field(8192, gt=0)
    price: Price = Field(default_factory=Price)
    capabilities: Capabilities = Field(default_factory=Capabilities)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    skills: list[Annotated[str, Field(pattern=TASK_KIND)]] = Field(
        default_factory=list, description="task kinds this model is good at (code, math, ...); a route's experts must match"
    )
    max_in_flight: int | None = Field(
        None, gt=0, description="requests this gateway process sends it at once before spilling to the next candidate"
    )
    load_probe: Literal["vllm", "llamacpp"] | None = Field(
        None, description="poll the server's own queue in the background: vLLM /metrics or llama.cpp /slots"
    )
    max_waiting: int = Field(0, ge=0, description="with load_probe: spill when more requests than this wait in its queue")


class ExpertSpec(_Strict):
    """One task kind's experts. Classify and cascade routes: models per tier (`slm`, `llm`).
    Delegate routes: one `model` offered to the core as the function tool ask_<kind>, with a `description`."""

    slm: list[str] = Field(default_factory=list, description="classify/cascade: this kind's models on the slm tier")
    llm: list[str] = Field(default_factory=list, description="classify/cascade: this kind's models on the llm tier")
    model: str | None = Field(None, description="delegate: the expert model behind the tool ask_<kind>")
    description: str = Field("", max_length=1000, description="delegate: what the expert does, shown to the core")


class SessionSpec(_Strict):
    """Sticky sessions: a session id pins the model chosen for it, in the store, for ttl_s."""

    ttl_s: float = Field(900.0, gt=0, le=7 * 86400, description="how long a session keeps its model after its last turn")
    from_body: bool = Field(True, description="also read the id from the body's `user` or `metadata.session_id`")


class CascadeSpec(_Strict):
    """When the SLM's answer looks weak enough to ask the LLM instead (strategy cascade)."""

    min_mean_logprob: float = Field(-1.0, le=0, description="escalate when the mean token log-probability is lower")
    escalate_on_length: bool = Field(True, description="escalate when the SLM stopped at max_tokens (finish_reason length)")
    escalate_on_refusal: bool = Field(True, description="escalate on an empty or refusing answer")
    refusal_patterns: list[str] = Field(
        default_factory=lambda: [
            r"^\s*(i'?m sorry|i am sorry|sorry)[, ]",
            r"\bi (can(no|')t|am unable to|'m unable to|am not able to)\b",
            r"\bas an ai( language model)?\b",
        ],
        description="case-insensitive regular expressions that mark a refusal",
    )
    hold_chunks: int = Field(8, ge=1, le=256, description="streaming: SLM chunks held and judged before committing")
    hold_ms: float = Field(1500, gt=0, description="streaming: commit after this long even if fewer chunks arrived")

    @field_validator("refusal_patterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"refusal pattern {pattern!r} is not a valid regular expression: {exc}") from None
        return patterns


class RouteSpec(_Strict):
    strategy: Strategy = "fixed"
    tiers: dict[Tier, list[str]] = Field(default_factory=dict, description="catalog models per tier, in order")
    models: list[str] = Field(default_factory=list, description="for strategy fixed: the models, in order")
    threshold: float = Field(0.5, ge=0, le=1, description="LLM tier when p_strong >= threshold")
    fallback: list[str] = Field(default_factory=list, description="tried after the chosen candidates fail")
    allow_tier_hint: bool = Field(True, description="honour the x-router-tier request header")
    fallback_other_tier: bool = Field(True, description="after the chosen tier and `fallback`, try the other tier")
    cascade: CascadeSpec = Field(default_factory=CascadeSpec)
    experts: dict[Annotated[str, Field(pattern=TASK_KIND)], ExpertSpec] = Field(
        default_factory=dict, description="task kind -> expert models; kinds without an entry use `tiers`"
    )
    core: str | None = Field(None, description="delegate: the LLM that plans, calls the experts and answers")
    max_steps: int = Field(6, ge=1, le=32, description="delegate: most turns of the core per request")
    session: SessionSpec | None = Field(None, description="pin a session's model (x-router-session) for a while")

    @model_validator(mode="after")
    def _has_models(self) -> RouteSpec:
        if self.strategy == "fixed" and not self.models:
            raise ValueError("strategy fixed needs a non-empty 'models' list")
        if self.strategy in ("classify", "cascade") and not (self.tiers.get("slm") and self.tiers.get("llm")):
            raise ValueError(f"strategy {self.strategy} needs tiers.slm and tiers.llm")
        if self.strategy == "delegate":
            if not self.core or not self.experts:
                raise ValueError("strategy delegate needs 'core' and at least one entry in 'experts'")
            for kind, expert in self.experts.items():
                if expert.model is None or expert.slm or expert.llm:
                    raise ValueError(f"delegate expert {kind!r} names one 'model' (not slm/llm lists)")
        else:
            for kind, expert in self.experts.items():
                if expert.model is not None or not (expert.slm or expert.llm):
                    raise ValueError(f"expert {kind!r} lists models per tier (slm: [...], llm: [...]), not 'model'")
        return self


class Limits(_Strict):
    requests_per_minute: int | None = Field(None, gt=0)
    tokens_per_minute: int | None = Field(None, gt=0)
    usd_per_day: float | None = Field(None, gt=0)
    usd_per_month: float | None = Field(None, gt=0)
    max_concurrent: int | None = Field(None, gt=0, description="requests in flight at once, across replicas; 429 beyond")
    on_budget_exhausted: Literal["refuse", "downgrade"] = Field(
        "refuse", description="refuse with 429 budget_exceeded, or send everything to the SLM tier"
    )


class AdapterSpec(_Strict):
    base: str = Field(..., description="the catalog model that carries the adapter")
    adapter: str = Field(..., min_length=1, description="the adapter's module name on the base server")
    path: str | None = Field(None, description="where the base server can load it from (vLLM /v1/load_lora_adapter)")


class RouteOverride(_Strict):
    """A tenant's own settings for a route it may use."""

    threshold: float | None = Field(None, ge=0, le=1)
    tiers: dict[Tier, list[str]] | None = None


class TenantSpec(_Strict):
    api_keys: list[str] = Field(default_factory=list, description='"${ENV_VAR}" or "sha256:<hex>"')
    routes: list[str] = Field(default_factory=list, description="routes and models this tenant may name")
    limits: Limits = Field(default_factory=Limits)
    adapters: dict[str, AdapterSpec] = Field(default_factory=dict)
    overrides: dict[str, RouteOverride] = Field(default_factory=dict, description="per-route settings for this tenant")


class RetrySpec(_Strict):
    """Retries of the same model before falling back to the next candidate."""

    attempts: int = Field(1, ge=0, le=5, description="extra tries of one model on 429, 5xx and connect errors")
    base_delay_s: float = Field(0.05, ge=0, description="first backoff; doubles each try, with full jitter")
    max_delay_s: float = Field(2.0, gt=0, description="longest wait; a longer Retry-After moves on to the next model")
    budget_ratio: float = Field(0.2, ge=0, le=1, description="retries may add at most this share to the traffic")
    fallback_after_timeout: bool = Field(
        False,
        description="after a model accepted a request and then timed out, try the next candidate (the generation may run twice)",
    )


class BreakerSpec(_Strict):
    """Per catalog model; shared across replicas when Redis is configured."""

    consecutive_failures: int = Field(5, ge=1)
    error_rate: float = Field(0.5, gt=0, le=1)
    min_requests: int = Field(20, ge=1)
    window_s: float = Field(30.0, gt=0)
    open_s: float = Field(15.0, gt=0, description="how long an open breaker skips its model before a probe")
    half_open_probes: int = Field(1, ge=1)


class CorsSpec(_Strict):
    """Cross-origin requests from browsers; off while `origins` is empty."""

    origins: list[str] = Field(default_factory=list, description='allowed origins, e.g. "https://app.example.com", or "*"')
    methods: list[str] = Field(default_factory=lambda: ["GET", "POST", "OPTIONS"])
    headers: list[str] = Field(
        default_factory=lambda: ["authorization", "content-type", "x-request-id", "x-router-tier", "x-router-latency-budget-ms",
                                 "x-router-max-cost-usd", "x-router-session", "x-api-key", "anthropic-version"]
    )  # fmt: skip
    allow_credentials: bool = False
    max_age_s: int = Field(600, ge=0, description="how long browsers may cache a preflight answer")


class ServerSpec(_Strict):
    max_body_bytes: int = Field(32 * 1024 * 1024, gt=0, description="larger request bodies get 413")
    max_header_bytes: int = Field(32 * 1024, ge=1024, description="a larger request head gets 431 and the connection closes")
    head_timeout_s: float = Field(10.0, gt=0, le=600, description="a request head must arrive within this (else 408, close)")
    body_timeout_s: float = Field(120.0, gt=0, le=3600, description="a request body must arrive within this after its head")
    keep_alive_s: float = Field(5.0, gt=0, le=600, description="an idle keep-alive connection is closed after this")
    max_connections: int = Field(
        4096, gt=0, description="open client connections per process; requests beyond get 503 (health probes excepted)"
    )
    max_stream_event_bytes: int = Field(
        1024 * 1024, ge=1024, description="an upstream stream event larger than this ends the stream with an error event"
    )
    reload_interval_s: float = Field(0.5, gt=0, le=60, description="how often the policy file is checked")
    scorer: Literal["learned", "heuristic"] = Field("learned", description="the classifier behind strategy classify")
    scorer_weights: str | None = Field(
        None,
        min_length=1,
        max_length=4096,
        description="weights file of the learned scorer (.npz written by `router train`); a relative path is read "
        "from the policy file's directory; default: the packaged weights. An edit applies like any policy edit",
    )
    expose_models: bool = Field(True, description="clients may name catalog models directly, as fixed routes")
    metrics_tenant_label: bool = Field(True, description="label metrics by tenant (switch off for many tenants)")
    log_prompts: bool = Field(
        False, description="reserved, does nothing: prompt text is never logged (accepted so files that set it load)"
    )
    limits_fail_open: bool = Field(True, description="when the shared store is down: admit (true) or refuse (false)")
    model_connections: int = Field(
        512, gt=0, description="requests in flight to one model per gateway process; more wait (up to connect timeout)"
    )
    tenant_model_share: float = Field(
        0.5, gt=0, le=1, description="the share of a model's model_connections one tenant may hold; 429 beyond"
    )
    retries: RetrySpec = Field(default_factory=RetrySpec)
    breaker: BreakerSpec = Field(default_factory=BreakerSpec)
    shadow: str | None = Field(
        None, description="a candidate policy file decided alongside this one (no model call), for `router shadow report`"
    )
    forward_headers: list[str] = Field(
        default_factory=list,
        description="client request headers passed on to upstreams, besides traceparent, tracestate and x-request-id",
    )
    cors: CorsSpec = Field(default_factory=CorsSpec)

    @field_validator("forward_headers")
    @classmethod
    def _forwardable(cls, names: list[str]) -> list[str]:
        framing = {"host", "content-length", "content-type", "transfer-encoding", "connection", "keep-alive", "te",
                   "upgrade", "accept-encoding", "trailer", "proxy-authorization"}  # fmt: skip
        for name in names:
            if name.lower() in framing:
                raise ValueError(f"header {name!r} is the gateway's own to set and cannot be forwarded")
        return [name.lower() for name in names]

    response_ttl_s: float = Field(
        30 * 86400, gt=0, description="how long stored Responses-API responses can be continued (previous_response_id)"
    )


class PolicyFile(_Strict):
    """A policy file, version 1."""

    version: Literal[1]
    models: dict[str, ModelSpec]
    routes: dict[str, RouteSpec] = Field(default_factory=dict)
    tenants: dict[str, TenantSpec] = Field(default_factory=dict)
    server: ServerSpec = Field(default_factory=ServerSpec)


def json_schema() -> dict[str, object]:
    """The JSON Schema that editors use to autocomplete policy files."""
    schema = PolicyFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Router gateway policy (version 1)"
    return schema
