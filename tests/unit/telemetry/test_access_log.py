"""AccessLog and Batched: one JSON line per request, reported in batches, never failing a request."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path

import pytest

from router.telemetry import batch, logs
from router.telemetry.batch import Batched
from router.telemetry.logs import AccessLog
from router.telemetry.record import RequestRecord


def _record(i: int, status: int = 200) -> RequestRecord:
    return RequestRecord(f"req-{i}", "chat", "auto", tenant="acme", tier="slm", model="small", status=status)


class Seen:
    def __init__(self, fail_on: str | None = None) -> None:
        self.ids: list[str] = []
        self.fail_on = fail_on

    def observe(self, record: RequestRecord) -> None:
        if record.request_id == self.fail_on:
            raise RuntimeError("broken observer")
        self.ids.append(record.request_id)


def test_lines_wait_for_the_batch_then_arrive_together() -> None:
    sink = io.BytesIO()
    access = AccessLog(sink)
    reporting = Batched([access], then=[access])

    async def scenario() -> tuple[bytes, bytes]:
        for i in range(3):
            reporting.observe(_record(i))
        before = sink.getvalue()
        await asyncio.sleep(batch.FLUSH_S * 3)
        return before, sink.getvalue()

    before, after = asyncio.run(scenario())
    assert before == b""
    lines = [json.loads(line) for line in after.splitlines()]
    assert [line["request_id"] for line in lines] == ["req-0", "req-1", "req-2"]
    assert lines[0]["tenant"] == "acme" and lines[0]["status"] == 200 and "ts" in lines[0]


def test_a_batch_reaches_every_observer_in_order_and_a_failing_one_spoils_nothing() -> None:
    broken, healthy = Seen(fail_on="req-1"), Seen()
    reporting = Batched([broken, healthy])

    async def scenario() -> tuple[list[str], list[str]]:
        for i in range(3):
            reporting.observe(_record(i))
        early = list(healthy.ids)
        reporting.flush()  # what a scrape of /metrics does
        return early, list(healthy.ids)

    early, flushed = asyncio.run(scenario())
    assert early == []
    assert flushed == ["req-0", "req-1", "req-2"]
    assert broken.ids == ["req-0", "req-2"]


def test_a_full_batch_is_reported_at_once() -> None:
    seen = Seen()
    reporting = Batched([seen])

    async def scenario() -> None:
        for i in range(batch.MAX_PENDING):
            reporting.observe(_record(i))

    asyncio.run(scenario())
    assert len(seen.ids) == batch.MAX_PENDING


def test_a_full_buffer_is_written_at_once() -> None:
    sink = io.BytesIO()
    access = AccessLog(sink)
    i = 0
    while sink.getvalue() == b"":
        access.observe(_record(i))
        i += 1
    assert 2 < i < logs.MAX_BUFFER  # written once the buffer filled, not per line and not never
    assert len(sink.getvalue().splitlines()) == i


def test_without_an_event_loop_lines_are_written_at_once_and_close_flushes(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    access = AccessLog.open(str(path))
    Batched([access], then=[access]).observe(_record(1, status=502))
    assert json.loads(path.read_text())["status"] == 502
    access.observe(_record(2))
    access.close()
    assert [json.loads(line)["request_id"] for line in path.read_text().splitlines()] == ["req-1", "req-2"]
    assert access.sink is not None and access.sink.closed


def test_off_writes_nothing_and_a_broken_sink_fails_no_request(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    off = AccessLog.open("off")
    off.observe(_record(1))
    off.flush()
    off.close()
    assert capfd.readouterr() == ("", "")  # nothing on stdout or stderr
    broken = io.BytesIO()
    broken.close()
    access = AccessLog(broken)
    access.observe(_record(2))
    with caplog.at_level(logging.WARNING, logger="router.telemetry"):
        access.flush()  # ValueError on a closed stream: swallowed and logged, the lines dropped
        access.observe(_record(3))
        access.flush()  # and the next batch fails the same quiet way, nothing piles up
    assert [r.getMessage() for r in caplog.records] == ["access log: could not write 1 lines"] * 2
