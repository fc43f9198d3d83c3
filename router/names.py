"""Which names may travel in response headers, metric labels and store keys (adapters, tenants).

Apart from the wire module so that the pipeline, which checks an adapter name before it reaches a header,
does not import the HTTP layer that calls it.
"""

from __future__ import annotations

import re

_NAME = re.compile(r"[\x21-\x7e]{1,128}")  # visible ASCII: safe in headers, metric labels and store keys


def valid_name(value: str) -> bool:
    """A name that can travel in response headers, metric labels and store keys (adapter, tenant)."""
    return _NAME.fullmatch(value) is not None
