"""Connections cannot exhaust the gateway: idle floods, slowloris heads and bodies, giant headers.

Bounded floods against gateways started with small limits: a few hundred idle sockets fill the
connection cap, requests beyond it get a clean 503 while /healthz and /readyz still answer, and the
gateway serves again once the flood is gone; slow heads and bodies are answered 408 and closed within
their deadlines; a head larger than the cap gets 431 before the gateway buffers it; the open-file limit
is raised to the hard limit at start-up.
"""

from __future__ import annotations

import json
import resource
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.procs import Gateway, Upstream, start_gateway, two_tier_policy

MSG = [{"role": "user", "content": "hello"}]
CAP = 50
HEAD_S = 2.0
BODY_S = 3.0
HEADER_CAP = 8192


def policy(slm: Upstream, llm: Upstream, **server: object) -> str:
    data = json.loads(two_tier_policy(slm.base_url, llm.base_url))
    data["server"].update(server)
    return json.dumps(data)


@pytest.fixture(scope="module")
def strict(slm: Upstream, llm: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """Short deadlines and a small head cap."""
    text = policy(slm, llm, head_timeout_s=HEAD_S, body_timeout_s=BODY_S, max_header_bytes=HEADER_CAP)
    gw = start_gateway(text, tmp_path_factory.mktemp("strict"))
    yield gw
    gw.stop()


def connect(gw: Gateway) -> socket.socket:
    return socket.create_connection(("127.0.0.1", gw.port), timeout=30)


def wait_closed(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """Read until the server closes the connection; what it sent and how long that took."""
    started = time.monotonic()
    sock.settimeout(limit)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        raise AssertionError(f"the gateway kept the connection open {limit} s; it sent {received[:200]!r}") from None
    except ConnectionResetError:
        pass
    return received, time.monotonic() - started


def chat(gw: Gateway) -> httpx.Response:
    return httpx.post(gw.base_url + "/chat/completions", json={"model": "small", "messages": MSG}, timeout=30)


def test_an_idle_flood_meets_the_connection_cap(slm: Upstream, llm: Upstream, tmp_path: Path) -> None:
    gw = start_gateway(policy(slm, llm, max_connections=CAP, head_timeout_s=60), tmp_path)
    flood: list[socket.socket] = []
    try:
        assert chat(gw).status_code == 200
        flood = [connect(gw) for _ in range(300)]  # connect, send nothing
        deadline = time.monotonic() + 20
        while (r := chat(gw)).status_code != 503:  # once the gateway has taken the flood in
            assert r.status_code == 200 and time.monotonic() < deadline, "no 503 beyond the connection cap"
            time.sleep(0.1)
        error = r.json()["error"]
        assert (error["type"], error["code"]) == ("service_unavailable", "service_unavailable")
        assert r.headers["retry-after"] == "1" and r.headers["connection"] == "close"
        # the probes tell the truth under the flood
        assert httpx.get(gw.url + "/healthz", timeout=10).status_code == 200
        assert httpx.get(gw.url + "/readyz", timeout=10).json()["ready"] is True
        # sockets accepted over the cap are closed soon; those within it wait for their head deadline
        for sock in flood[-100:]:
            wait_closed(sock, 30)
        for sock in flood:
            sock.close()
        deadline = time.monotonic() + 20
        while (status := chat(gw).status_code) != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status == 200  # the flood is gone: served again
        assert f"client connections open (server.max_connections {CAP}): new requests get 503" in gw.logs()
    finally:
        for sock in flood:
            sock.close()
        gw.stop()


def test_a_connection_that_sends_nothing_is_closed(strict: Gateway) -> None:
    _, took = wait_closed(connect(strict), HEAD_S + 20)
    assert took >= HEAD_S - 0.5


def test_a_slow_head_is_answered_408_and_closed(strict: Gateway) -> None:
    sock = connect(strict)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    sock.settimeout(0.3)
    received = b""
    try:
        while time.monotonic() - started < HEAD_S + 20:  # one header line every 0.3 s, never the blank line
            sock.sendall(b"X-Slow: 1\r\n")
            try:
                received += sock.recv(65536)
                break
            except TimeoutError:
                continue
        rest, _ = wait_closed(sock, 10)
    except (BrokenPipeError, ConnectionResetError):
        rest = b""
    took = time.monotonic() - started
    assert took < HEAD_S + 20, "the slow head was never cut off"
    response = received + rest
    assert response.startswith(b"HTTP/1.1 408 "), response[:200]
    assert b'"code":"request_timeout"' in response


def test_a_slow_body_is_answered_408_and_closed(strict: Gateway) -> None:
    sock = connect(strict)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
    )
    started = time.monotonic()
    sock.settimeout(0.3)
    received = b""
    while time.monotonic() - started < BODY_S + 20:
        try:
            sock.sendall(b" ")
            received += sock.recv(65536)
            if received:
                break
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            break
    rest, _ = wait_closed(sock, 10)
    assert received.startswith(b"HTTP/1.1 408 "), (received + rest)[:200]
    assert b"request body was not received in time" in received + rest
    assert chat(strict).status_code == 200  # and the request path is fine


def test_a_header_over_the_cap_is_refused_before_it_is_buffered(strict: Gateway) -> None:
    sock = connect(strict)
    sent = 0
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        piece = b"a" * 65536
        while sent < 64 * 1024 * 1024:  # a 64 MiB header, if the gateway took it all
            sock.sendall(piece)
            sent += len(piece)
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert sent < 64 * 1024 * 1024, "the gateway read a 64 MiB header"
    try:
        response, _ = wait_closed(sock, 10)
    except ConnectionResetError:
        response = b""
    # the answer may be lost to the reset that unread bytes cause; when it arrives it is a 431
    assert response == b"" or response.startswith(b"HTTP/1.1 431 "), response[:200]
    # a head over the cap that arrives in one read is refused too, with the answer
    sock = connect(strict)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (HEADER_CAP + 100) + b"\r\n\r\n")
    response, _ = wait_closed(sock, 10)
    assert response.startswith(b"HTTP/1.1 431 "), response[:200]
    assert json.loads(response.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "request_header_too_large"
    assert httpx.get(strict.url + "/healthz", headers={"x-ok": "a" * 1000}).status_code == 200


def test_keep_alive_requests_pass_their_deadlines(strict: Gateway) -> None:
    with httpx.Client(timeout=30) as client:  # one connection, requests spread past the head deadline
        for _ in range(3):
            r = client.post(strict.base_url + "/chat/completions", json={"model": "small", "messages": MSG})
            assert r.status_code == 200
            time.sleep(HEAD_S / 2)


def test_the_open_file_limit_is_raised_at_start(slm: Upstream, llm: Upstream, tmp_path: Path) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 1024:
        pytest.skip("the hard open-file limit is too low to show a raise")

    def low_soft_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))

    gw = start_gateway(policy(slm, llm), tmp_path, preexec_fn=low_soft_limit)
    try:
        limits = Path(f"/proc/{gw.proc.pid}/limits").read_text()
        [line] = [line for line in limits.splitlines() if line.startswith("Max open files")]
        assert line.split()[3] == line.split()[4] != "1024", line
    finally:
        gw.stop()
