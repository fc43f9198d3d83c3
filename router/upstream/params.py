"""What of a request body may reach an upstream: its model parameters, by allow-list, per endpoint.

A tenant controls the request body; the policy controls where a call goes and with which credentials.
The two must never mix: litellm reads keyword arguments such as `api_base`, `api_key`, `extra_headers`
or `aws_secret_access_key` as connection settings, and an OpenAI-compatible proxy upstream may honour
the same names in its JSON body. So no body field is forwarded because it is merely absent from a
deny-list; each endpoint names the fields it passes (OpenAI's request fields plus a few sampling knobs
that open model servers share), and a policy may add more per model with `endpoint.extra_params`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# OpenAI's sampling extensions that vLLM, llama.cpp and Ollama understand: model parameters, not settings
SAMPLING_EXTRAS = frozenset({"top_k", "min_p", "repetition_penalty", "min_tokens"})

CHAT = frozenset(
    {
        "model",
        "messages",
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
    | SAMPLING_EXTRAS
)

COMPLETIONS = frozenset(
    {
        "model",
        "prompt",
        "best_of",
        "echo",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "max_tokens",
        "n",
        "presence_penalty",
        "seed",
        "stop",
        "stream",
        "stream_options",
        "suffix",
        "temperature",
        "top_p",
        "user",
    }
    | SAMPLING_EXTRAS
)

EMBEDDINGS = frozenset({"model", "input", "encoding_format", "dimensions", "user"})

# the APIs the gateway may pass through natively to upstreams that declare them
RESPONSES = frozenset(
    {"model", "input", "instructions", "include", "max_output_tokens", "max_tool_calls", "metadata",
     "parallel_tool_calls", "previous_response_id", "prompt", "prompt_cache_key", "reasoning",
     "safety_identifier", "service_tier", "store", "stream", "stream_options", "temperature", "text",
     "tool_choice", "tools", "top_logprobs", "top_p", "truncation", "user"}
)  # fmt: skip
MESSAGES = frozenset(
    {"model", "messages", "max_tokens", "metadata", "stop_sequences", "stream", "system", "temperature",
     "thinking", "tool_choice", "tools", "top_k", "top_p", "service_tier"}
)  # fmt: skip

ALLOWED: dict[str, frozenset[str]] = {
    "chat/completions": CHAT,
    "completions": COMPLETIONS,
    "embeddings": EMBEDDINGS,
    "responses": RESPONSES,
    "messages": MESSAGES,
}

# names that configure a connection or carry credentials in litellm, SDKs or proxies: never model
# parameters, so a policy's extra_params may not name them either (checked at load time)
CONNECTION_WORDS = ("api", "base", "url", "key", "token", "secret", "header", "credential", "auth", "password",
                    "provider", "aws_", "vertex", "azure", "region", "project", "location", "proxy", "timeout",
                    "retries", "litellm", "mock", "deployment", "organization")  # fmt: skip


def is_connection_name(name: str) -> bool:
    """True for a field name that looks like a connection or credential setting."""
    lowered = name.lower()
    return any(word in lowered for word in CONNECTION_WORDS)


def allowed_fields(path: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The body fields an upstream may receive on `path` (an unknown path passes only `model`)."""
    base = ALLOWED.get(path, frozenset({"model"}))
    return base | frozenset(extra) if extra else base


def model_params(body: dict[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    """The body's allowed fields, in the body's order."""
    return {k: v for k, v in body.items() if k in allowed}
