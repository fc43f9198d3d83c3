"""What a request may cost, judged before any expensive work: cheap, bounded, and never below the truth
for the budget.

Admission runs before classification, so it cannot use the classifier's token count. It reads only sizes:
the characters of the prompt's text (CHARS_PER_TOKEN per token for tokens/min; real tokenizers average
about 4 for English, and the settlement corrects the estimate with the upstream's count afterwards; one
token per character, at most the context window, for the budget's upper bound), plus the
output the caller allows (`max_tokens` or `max_completion_tokens`, else the model's context window) for
each of `n` choices. The budget reserves the most the request can cost on any model the route may call;
tokens/min reserves the prompt plus the output the caller allows (DEFAULT_OUTPUT_TOKENS per choice
when it sets no maximum). `n` and the output maximums are validated here, for every request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from router.errors import BadRequest
from router.policy.compiled import Policy
from router.policy.schema import ModelSpec, RouteSpec

CHARS_PER_TOKEN = 3  # a little below the usual ~4: the prompt estimate errs on the high side
PER_MESSAGE_TOKENS = 4  # role and framing per message
MAX_N = 128  # OpenAI's own limit on choices per request
MAX_OUTPUT_TOKENS = 2**31 - 1  # beyond any context window: larger values are refused, not passed on
DEFAULT_OUTPUT_TOKENS = 256  # tokens/min reservation per choice when the caller sets no maximum
LEASE_MARGIN_S = 60.0


@dataclass(frozen=True, slots=True)
class Estimate:
    prompt_tokens: int
    tokens: int  # reserved against tokens/min
    usd: float  # the most this request can cost on any candidate model
    lease_s: float  # how long its concurrency slot and reservation may live unsettled


def choices(body: dict[str, Any]) -> int:
    n = body.get("n")
    if n is None:
        return 1
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_N:
        raise BadRequest(f"'n' must be an integer from 1 to {MAX_N}", param="n")
    return n


def output_cap(body: dict[str, Any]) -> int | None:
    """The caller's maximum completion tokens per choice, validated; None when it sets none."""
    caps = []
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_OUTPUT_TOKENS:
            raise BadRequest(f"'{key}' must be an integer from 1 to {MAX_OUTPUT_TOKENS}", param=key)
        caps.append(value)
    return min(caps) if caps else None


def check_output(body: dict[str, Any]) -> None:
    """Validate `n` and the output maximums (400 naming the field), without sizing the request."""
    choices(body)
    output_cap(body)


def _chars(value: Any, budget: int) -> int:
    """Characters of text in a JSON value (strings only), walking at most `budget` nodes: linear and bounded."""
    total, stack, seen = 0, [value], 0
    while stack and seen < budget:
        item = stack.pop()
        seen += 1
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return total


def prompt_size(body: dict[str, Any]) -> tuple[int, int]:
    """(estimated prompt tokens, an upper bound: one token per character)."""
    text = 0
    messages = body.get("messages")
    framing = PER_MESSAGE_TOKENS * min(len(messages) if isinstance(messages, list) else 1, 100_000)
    for key in ("messages", "prompt", "input", "tools", "system"):
        value = body.get(key)
        if value is not None:
            text += _chars(value, 100_000)
    return text // CHARS_PER_TOKEN + framing + 1, text + framing + 1


def route_models(policy: Policy, route: RouteSpec) -> list[str]:
    """Every catalog model a route may call, in any tier, as fallback or as the other tier."""
    names = [*route.models, *(m for tier in route.tiers.values() for m in tier), *route.fallback]
    return [n for n in dict.fromkeys(names) if n in policy.models]


def estimate(policy: Policy, models: Iterable[str], body: dict[str, Any]) -> Estimate:
    n, cap = choices(body), output_cap(body)
    prompt, prompt_hi = prompt_size(body)
    specs: list[ModelSpec] = [policy.models[m] for m in models] or list(policy.models.values())
    usd, lease = 0.0, 0.0
    for spec in specs:
        window = spec.context_window
        out = max(0, window - min(prompt, window)) if cap is None else min(cap, window)
        cost = (min(prompt_hi, window) * spec.price.input_per_mtok + n * out * spec.price.output_per_mtok) / 1e6
        usd = max(usd, cost)
        lease = max(lease, spec.timeouts.total)
    tokens = prompt + n * (DEFAULT_OUTPUT_TOKENS if cap is None else min(cap, max(s.context_window for s in specs)))
    return Estimate(prompt, tokens, usd, lease + LEASE_MARGIN_S)
