"""AccessLog: one JSON line per request, written in batches, never failing a request."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

from router.telemetry import logs
from router.telemetry.logs import AccessLog
from router.telemetry.record import RequestRecord


def _record(i: int, status: int = 200) -> RequestRecord:
    return RequestRecord(f"req-{i}", "chat", "auto", tenant="acme", tier="slm", model="small", status=status)


def test_lines_wait_for_the_batch_then_arrive_together() -> None:
    sink = io.BytesIO()
    access = AccessLog(sink)

    async def scenario() -> tuple[bytes, bytes]:
        for i in range(3):
            access.observe(_record(i))
        before = sink.getvalue()
        await asyncio.sleep(logs.FLUSH_S * 2)
        return before, sink.getvalue()

    before, after = asyncio.run(scenario())
    assert before == b""
    lines = [json.loads(line) for line in after.splitlines()]
    assert [line["request_id"] for line in lines] == ["req-0", "req-1", "req-2"]
    assert lines[0]["tenant"] == "acme" and lines[0]["status"] == 200 and "ts" in lines[0]


def test_a_full_buffer_is_written_at_once() -> None:
    sink = io.BytesIO()
    access = AccessLog(sink)

    async def scenario() -> int:
        i = 0
        while sink.getvalue() == b"":
            access.observe(_record(i))
            i += 1
        return i

    n = asyncio.run(scenario())
    assert 2 < n < logs.MAX_BUFFER  # written once the buffer filled, not per line and not never
    assert len(sink.getvalue().splitlines()) == n


def test_without_an_event_loop_lines_are_written_at_once_and_close_flushes(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    access = AccessLog.open(str(path))
    access.observe(_record(1, status=502))
    assert json.loads(path.read_text())["status"] == 502
    access.close()
    assert access.sink is not None and access.sink.closed


def test_off_writes_nothing_and_a_broken_sink_fails_no_request() -> None:
    AccessLog.open("off").observe(_record(1))
    broken = io.BytesIO()
    broken.close()
    AccessLog(broken).observe(_record(2))  # ValueError on a closed stream is swallowed and logged
