"""Coalescer: script calls issued while one round trip is in flight ride together in the next one.

Why: under a burst every request needs its admission script at once. One connection per request meant
hundreds of new Redis connections at a time (redis-py opens one per concurrent caller): connects timed
out, the guard declared an outage and limits failed open. Queued here, a burst costs one pipelined round
trip per batch on one connection, and a quiet gateway still sends each call at once.

Scripts run by EVALSHA, the whole batch written at once on one connection of the client's pool, then
one reply read per call (what a redis-py pipeline does, without its per-argument packing: an admission
call has 22 arguments and redis-py's packer cost more client CPU than the rest of the round trip; see
`command`). A NOSCRIPT reply (Redis restarted, or the script cache flushed) loads the script and sends
those calls again. The batch runs under the store's Guard, so an outage answers every caller in it with
DOWN; a connection that failed or was interrupted mid-batch is closed, never handed back half read.

The client given here should have no socket timeout: `deadline_s` bounds each batch as a whole (connect,
write, every reply), one timer per batch. redis-py's socket timeout costs a task per write (wait_for)
and a timer per reply, on every request's admission.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, ResponseError

from router.store.guard import DOWN, Down, Guard

Call = tuple[AsyncScript, Sequence[str], Sequence[Any], "asyncio.Future[Any]"]


class Coalescer:
    def __init__(self, redis: Redis, guard: Guard, deadline_s: float | None = None) -> None:
        self._r = redis
        self._guard = guard
        self._deadline_s = deadline_s  # None: the guard's own
        self._queue: list[Call] = []
        self._runner: asyncio.Task[None] | None = None

    async def run(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """The script's reply, or DOWN."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((script, keys, args, future))
        if self._runner is None:
            self._runner = loop.create_task(self._drain())
        return await future

    async def run_many(self, calls: Sequence[tuple[AsyncScript, Sequence[str], Sequence[Any]]]) -> list[Any] | Down:
        """Several calls in the same round trip; DOWN if any of them could not be sent."""
        replies = await asyncio.gather(*(self.run(*call) for call in calls))
        return DOWN if any(isinstance(r, Down) for r in replies) else list(replies)

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    replies: list[Any] | Down = await self._guard.run(lambda b=batch: self._send(b), self._deadline_s)  # type: ignore[misc]
                except BaseException as exc:  # cancelled or a bug: no caller may wait forever
                    for *_, future in batch:
                        if not future.done():
                            future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
                    raise
                for i, (*_, future) in enumerate(batch):
                    if future.done():
                        continue
                    reply = DOWN if isinstance(replies, Down) else replies[i]
                    if isinstance(reply, Exception):
                        future.set_exception(reply)
                    else:
                        future.set_result(reply)
        finally:
            self._runner = None

    async def _send(self, batch: list[Call]) -> list[Any]:
        replies = await self._pipeline(batch)
        missing = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
        if missing:
            for script in {id(batch[i][0]): batch[i][0] for i in missing}.values():
                script.sha = await self._r.script_load(script.script)
            again = await self._pipeline([batch[i] for i in missing])
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        return replies

    async def _pipeline(self, batch: list[Call]) -> list[Any]:
        payload = b"".join(command("EVALSHA", script.sha, len(keys), *keys, *args) for script, keys, args, _ in batch)
        pool = self._r.connection_pool
        conn = await pool.get_connection()  # type: ignore[no-untyped-call]
        replies: list[Any] = []
        try:
            await conn.send_packed_command(payload)
            for _ in batch:
                try:
                    replies.append(await conn.read_response())
                except ResponseError as exc:  # this call's error reply; the connection is fine
                    replies.append(exc)
        except BaseException:
            await conn.disconnect(nowait=True)  # unread replies would answer the next batch's calls
            raise
        finally:
            await pool.release(conn)
        for i, reply in enumerate(replies):  # redis-py may hand NOSCRIPT over as a plain ResponseError
            if isinstance(reply, ResponseError) and not isinstance(reply, NoScriptError) and str(reply).startswith("NOSCRIPT"):
                replies[i] = NoScriptError(str(reply))
        return replies


def _arg(value: Any) -> bytes:
    """One argument as redis-py's Encoder writes it (bytes as they are, numbers by repr, text as UTF-8)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value).encode()
    raise TypeError(f"a Redis argument must be bytes, str, int or float, not {type(value).__name__}")


def command(*args: Any) -> bytes:
    """One command in RESP, the Redis wire format: an array of bulk strings."""
    data = [_arg(value) for value in args]
    return b"*%d\r\n" % len(data) + b"".join([b"$%d\r\n%b\r\n" % (len(d), d) for d in data])
