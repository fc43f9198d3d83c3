"""Which endpoints are known to refuse every request without a key."""

from __future__ import annotations

from router.policy.schema import ModelSpec
from router.upstream.base import Target
from router.upstream.keys import key_missing


def _target(endpoint: dict[str, str]) -> Target:
    spec = ModelSpec.model_validate({"tier": "llm", "endpoint": {"model": "m", **endpoint}})
    return Target("hosted", spec, "m")


def test_a_hosted_api_without_a_key_is_missing_one() -> None:
    missing = key_missing(_target({"base_url": "https://api.openai.com/v1"}))
    assert missing is not None and "hosted" in missing.message and "api.openai.com" in missing.message


def test_a_key_a_local_server_or_a_litellm_provider_is_never_judged() -> None:
    assert key_missing(_target({"base_url": "https://api.openai.com/v1", "api_key": "sk-test"})) is None
    assert key_missing(_target({"base_url": "http://127.0.0.1:8000/v1"})) is None  # vLLM, llama.cpp, Ollama
    assert key_missing(_target({"base_url": "https://api.openai.com.example.org/v1"})) is None  # only the API's own host
    assert key_missing(_target({"provider": "anthropic"})) is None  # litellm reads its own variables
