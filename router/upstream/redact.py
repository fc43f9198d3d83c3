"""What of an upstream's error may be told to a caller: its message, scrubbed of the endpoint's secrets.

Providers and litellm put keys ("Incorrect API key provided: sk-..."), base URLs, hosts and Python
tracebacks into error text. The caller gets the provider's own words without any of that.
"""

from __future__ import annotations

import re

from router.errors import scrub
from router.upstream.base import Target

MIN_SECRET = 4  # shorter values are not secrets worth redacting, and would mangle ordinary words
MAX_READ = 4000  # of an error text, only the start is read (what a caller sees is shorter still)
_LITELLM_WRAPPING = re.compile(
    r"\blitellm\.\w+:\s*|\b\w*Exception\s*-\s*|\s*(?:Handle with|Received Model Group|Available Model Group).*$",
    re.IGNORECASE | re.DOTALL,
)


def secrets_of(target: Target) -> tuple[str, ...]:
    """The endpoint's key and header values: never shown to a caller, nor logged."""
    endpoint = target.spec.endpoint
    values = [endpoint.api_key, *endpoint.headers.values()]
    return tuple(sorted({v for v in values if len(v) >= MIN_SECRET}, key=len, reverse=True))


def provider_message(text: str, secrets: tuple[str, ...]) -> str:
    """The provider's error message without secrets, URLs, paths, reprs or litellm's own wrapping."""
    if len(text) > MAX_READ:
        text = _cut(text, secrets)
    cleaned = scrub(_LITELLM_WRAPPING.sub("", text), secrets)
    return cleaned or "the upstream refused the request"


def _cut(text: str, secrets: tuple[str, ...]) -> str:
    """The first MAX_READ characters, without the start of a secret the cut went through."""
    text = text[:MAX_READ]
    for secret in secrets:
        for k in range(len(secret) - 1, MIN_SECRET - 1, -1):
            if text.endswith(secret[:k]):
                return text[:-k]
    return text
