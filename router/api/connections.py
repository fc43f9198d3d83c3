"""HTTP connections with limits: uvicorn's httptools protocol, hardened for a listener anyone can reach.

uvicorn keeps a connection that never sends a request open forever, reads a request head of any size
(httptools buffers a header until it ends), and its `limit_concurrency` answers every request over the
limit with a plain-text 503, health probes included. This protocol adds, from the policy's `server`
section (read per connection, so a reload applies to new connections):

- a deadline for a request's head (`head_timeout_s`, from the connection's first byte or the end of
  the previous exchange) and one for its body (`body_timeout_s`, from the end of the head): a
  slowloris client gets 408 and is closed; a connection that sends nothing is closed;
- a cap on the head's size (`max_header_bytes`): 431, then close, before buffering more than the cap
  and one read;
- a cap on open connections (`max_connections`): a request arriving while more are open gets an
  OpenAI-shaped 503 with Retry-After and its connection is closed; /healthz and /readyz are answered
  all the same, so probes see the truth under a flood; a connection accepted over the cap has
  OVER_LIMIT_HEAD_S to send its head.

The deadlines are kept as numbers, and a timer is armed only when a read leaves a request incomplete,
at the current phase's deadline (the head's end moves it to the body's). A request that arrives with its
body in one read, which is almost every request, never arms one (two timers armed and cancelled per
request were a measurable cost on the hot path). `raise_file_limit` lifts the process's open-file limit
to its hard limit at start-up, so a flood meets these caps before it meets EMFILE.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from router.errors import error_body
from router.policy.schema import ServerSpec

if TYPE_CHECKING:
    from router.gateway import Gateway

log = logging.getLogger("router")
GATEWAY_STATE = "router.gateway"  # the lifespan state key under which the app publishes its Gateway
PROBES = frozenset({"/healthz", "/readyz"})
OVER_LIMIT_HEAD_S = 2.0
WARN_EVERY_S = 10.0  # a flood logs one line per this, not one per refused request
_WARNED_AT = "router.connections_warned_at"  # lifespan state key: when the last over-limit warning was logged
_DEFAULTS = ServerSpec()


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with head/body deadlines, a head-size cap and a connection cap."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for = 0.0  # the deadline the timer is set to
        self._phase = "idle"  # idle | head | body: what the deadline guards
        self._deadline = 0.0  # loop time by which the phase must be over
        self._began = False  # some byte of the current head arrived
        self._head_read = 0  # bytes of reads that were all head
        self._refused = False
        self._limits = _DEFAULTS

    def _spec(self) -> ServerSpec:
        gateway: Gateway | None = self.app_state.get(GATEWAY_STATE)
        return gateway.policies.current.spec.server if gateway is not None else _DEFAULTS

    # connection events

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._limits = limits = self._spec()
        self.timeout_keep_alive = limits.keep_alive_s  # type: ignore[assignment]  # uvicorn hands it to call_later
        over = len(self.connections) > limits.max_connections
        self._start("head", min(limits.head_timeout_s, OVER_LIMIT_HEAD_S) if over else limits.head_timeout_s)
        self._wait()  # a connection that never sends a byte is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._phase == "idle":  # bytes after an exchange: the next head's deadline runs from now
            self._start("head", self._limits.head_timeout_s)
        was_head = self._phase == "head" and self._began
        super().data_received(data)
        if self._refused:
            return
        if was_head and self._phase == "head":
            # the whole read was head bytes (a read in which a head began is not counted: at most one read of slack)
            self._head_read += len(data)
            if self._head_read > self._limits.max_header_bytes:
                self._refuse_head_too_large()
                return
        self._wait()

    # parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._began, self._head_read = True, 0
        if self._phase != "head":
            self._start("head", self._limits.head_timeout_s)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        limits = self._limits
        parsed = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)  # URL and headers
        if parsed > limits.max_header_bytes:
            self._refuse_head_too_large()
            return
        path = self.url.split(b"?", 1)[0]
        if len(self.connections) > limits.max_connections and path.decode("latin-1") not in PROBES:
            self._warn_over_limit(limits.max_connections)
            self._refuse(
                503,
                "service_unavailable",
                "too many open connections to the gateway; retry shortly",
                "service_unavailable",
                ((b"retry-after", b"1"),),
            )
            return
        super().on_headers_complete()
        self._began = False
        self._start("body", limits.body_timeout_s)

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._disarm()
        self._phase = "idle"
        super().on_message_complete()

    def _warn_over_limit(self, cap: int) -> None:
        now = self.loop.time()
        if now - self.app_state.get(_WARNED_AT, -WARN_EVERY_S) >= WARN_EVERY_S:
            self.app_state[_WARNED_AT] = now
            log.warning(
                "%d client connections open (server.max_connections %d): new requests get 503", len(self.connections), cap
            )

    # deadlines

    def _start(self, phase: str, seconds: float) -> None:
        """A phase begins now and must be over within `seconds` (the timer follows in _wait)."""
        self._phase, self._deadline = phase, self.loop.time() + seconds

    def _wait(self) -> None:
        """The request is still incomplete after a read: make sure the timer is set to its deadline."""
        if self._phase == "idle" or (self._timer is not None and self._armed_for == self._deadline):
            return
        self._disarm()
        self._armed_for = self._deadline
        self._timer = self.loop.call_at(self._deadline, self._expired)

    def _arm(self, phase: str, seconds: float) -> None:
        self._start(phase, seconds)
        self._wait()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self._refused or self.transport.is_closing():
            return
        cycle = self.cycle
        if self._phase == "head":
            if cycle is not None and not cycle.response_complete:
                self._arm("head", self._limits.head_timeout_s)  # a pipelined head waits on an answer still going
            elif self._began:
                self._refuse(408, "invalid_request_error", "the request head was not received in time", "request_timeout")
            else:
                self.transport.close()  # connected and sent nothing: nobody to answer
        elif self._phase == "body":
            if self.pipeline:
                self._arm("body", self._limits.body_timeout_s)  # queued behind an answer still going
            elif cycle is not None and not cycle.response_started:
                self._refuse(408, "invalid_request_error", "the request body was not received in time", "request_timeout")
            else:
                self.transport.close()

    # refusals

    def _refuse_head_too_large(self) -> None:
        message = f"the request head exceeds {self._limits.max_header_bytes} bytes"
        self._refuse(431, "invalid_request_error", message, "request_header_too_large")

    def _refuse(self, status: int, type_: str, message: str, code: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        """Answer with an OpenAI-shaped error and close: the rest of this connection's bytes are not read."""
        self._refused = True
        self._disarm()
        cycle = self.cycle
        if cycle is None or not cycle.response_started or cycle.response_complete:  # never inside another answer
            body = error_body(message, type_, None, code)
            lines = [b"HTTP/1.1 %d %s\r\n" % (status, HTTPStatus(status).phrase.encode())]
            for name, value in [(b"content-type", b"application/json"), *headers, (b"connection", b"close")]:
                lines.append(name + b": " + value + b"\r\n")
            lines.append(b"content-length: %d\r\n\r\n" % len(body))
            self.transport.write(b"".join(lines) + body)
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the application reading this request sees the client gone
            cycle.message_event.set()
        self.transport.close()


def raise_file_limit() -> tuple[int, int]:
    """Lift the soft open-file limit to the hard one; returns (soft, hard) as they are afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft, hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
        return soft, hard
    return target, hard
