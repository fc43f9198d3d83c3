"""Timeouts are told by type, whichever library raised them (not by the class's name)."""

from __future__ import annotations

import aiohttp
import httpx

from router.policy.schema import Price
from router.upstream.base import timed_out


class ReadTimeoutLookalike(Exception):
    """Named like a timeout, but is not one."""


def test_timeouts_of_python_aiohttp_and_httpx_are_timeouts() -> None:
    assert timed_out([aiohttp.ServerTimeoutError("slow")])
    assert timed_out([aiohttp.ConnectionTimeoutError("slow")])
    assert timed_out([ValueError("outer"), TimeoutError()])  # anywhere in the chain
    assert timed_out([httpx.ReadTimeout("slow")])


def test_other_errors_are_not_timeouts_whatever_their_name() -> None:
    assert not timed_out([ConnectionRefusedError(), httpx.ConnectError("refused"), None])
    assert not timed_out([ReadTimeoutLookalike()])


def test_one_cost_formula() -> None:
    assert Price(input_per_mtok=2.5, output_per_mtok=10.0).usd(1_000_000, 100_000) == 3.5
