"""Endpoints that cannot answer without an API key: told apart before they are called.

The packaged default policy points the LLM and embeddings at api.openai.com with `${OPENAI_API_KEY:-}`.
Without the variable, calling would only fetch a 401 "Incorrect API key" from OpenAI, which reads like a
fault of the caller's own key. A fast-path endpoint on a known hosted API with an empty key is therefore
not called: dispatch skips it, like a full model (no breaker report, no retry), and says what to set.
Local servers (vLLM, llama.cpp, Ollama) and litellm providers (which read their own variables) are never
judged here.
"""

from __future__ import annotations

from router.errors import Unavailable
from router.upstream.base import Target

# hosts of hosted OpenAI-compatible APIs, each of which refuses every request without a key
HOSTED_APIS = frozenset(
    {
        "api.openai.com",
        "api.anthropic.com",
        "api.mistral.ai",
        "api.groq.com",
        "api.together.xyz",
        "api.deepseek.com",
        "api.fireworks.ai",
        "openrouter.ai",
    }
)


class MissingKey(Unavailable):
    code = "upstream_key_missing"


def key_missing(target: Target) -> MissingKey | None:
    """The error for a model whose endpoint would refuse the request for want of a key, else None."""
    endpoint = target.spec.endpoint
    if endpoint.api_key or not endpoint.fast_path or not endpoint.base_url:
        return None
    host = endpoint.base_url.split("/")[2].rsplit("@", 1)[-1].split(":")[0].lower()
    if host not in HOSTED_APIS:
        return None
    return MissingKey(
        f"model {target.name!r} is not configured: its endpoint ({host}) needs an API key and endpoint.api_key is "
        "empty (the packaged policy reads OPENAI_API_KEY; or point LLM_BASE_URL at a server that needs none)"
    )
