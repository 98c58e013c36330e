"""Every server faaskit starts limits request heads, hides its banner, and restarts at once.

The limits are tested over real HTTP on raw sockets, against the live server every test
uses (so every test server has them too), on each backend.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from faaskit import App
from faaskit.serving import HeaderLimits, uvicorn_config
from tests.conftest import LiveServer, free_port

ROOT = Path(__file__).resolve().parents[2]
LIMITS = HeaderLimits()
MiB = 1024 * 1024

# No routes of its own: the gateway answers GET /healthz.
tiny = App("limits")


@pytest.fixture
def server(live_server: Callable[[Any], LiveServer]) -> LiveServer:
    """The tiny app over real HTTP, once per backend."""
    return live_server(tiny)


def _resident_bytes() -> int:
    """This process's resident set (the live server runs in one of its threads)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def _connect(server: LiveServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def _head(*headers: tuple[str, str], target: str = "/healthz") -> bytes:
    lines = [f"GET {target} HTTP/1.1", "Host: test", *(f"{n}: {v}" for n, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _assert_rejected_and_closed(sock: socket.socket, data: bytes) -> None:
    """``data`` sent on ``sock`` is answered 431 with ``connection: close``, then EOF."""
    sock.sendall(data)
    answer = _read_until_closed(sock)  # returns only once the server has closed
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), answer[:200]
    assert b"\r\nconnection: close\r\n" in answer.lower()


@pytest.fixture
def prober(server: LiveServer) -> Iterator[list[float]]:
    """Latencies of GET /healthz on its own keep-alive connection, every 20 ms meanwhile."""
    latencies: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            while not stop.is_set():
                started = time.monotonic()
                assert client.get("/healthz").status_code == 200
                latencies.append(time.monotonic() - started)
                stop.wait(0.02)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    yield latencies
    stop.set()
    thread.join(timeout=15)
    assert not thread.is_alive(), "a concurrent request hung"


def _wait_for_answers(latencies: list[float], count: int) -> None:
    deadline = time.monotonic() + 5
    while len(latencies) < count:
        assert time.monotonic() < deadline, "concurrent requests were not answered"
        time.sleep(0.01)


def test_one_64_mib_header_is_answered_431_at_once_without_buffering_it(
    server: LiveServer, prober: list[float]
) -> None:
    _wait_for_answers(prober, 1)
    resident_before = _resident_bytes()
    chunk = b"a" * (64 * 1024)
    started = time.monotonic()
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: " + chunk[: 16 * 1024])
        # half a limit of header is pending on this connection: others are still answered
        _wait_for_answers(prober, len(prober) + 3)
        sent = 16 * 1024
        while sent < 64 * MiB:
            # stop as soon as the server has answered (or closed)
            if select.select([sock], [], [], 0)[0]:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        answer = _read_until_closed(sock)
    took = time.monotonic() - started
    grown = _resident_bytes() - resident_before

    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"over 32768 bytes" in answer
    assert took < 5, f"took {took:.1f} s"
    assert sent < 32 * MiB, "the server kept reading the header"
    assert grown < 8 * MiB, f"the server grew by {grown / MiB:.1f} MiB"
    _wait_for_answers(prober, len(prober) + 1)
    assert max(prober) < 1, f"a concurrent request waited {max(prober):.2f} s"


def test_a_header_over_the_limit_in_one_write_is_answered_431(server: LiveServer) -> None:
    with _connect(server) as sock:
        _assert_rejected_and_closed(sock, _head(("X-Big", "a" * LIMITS.max_bytes)))


def test_a_request_target_over_the_limit_is_answered_431(server: LiveServer) -> None:
    with _connect(server) as sock:
        _assert_rejected_and_closed(sock, _head(target="/healthz?" + "a" * LIMITS.max_bytes))


def test_more_than_100_headers_are_answered_431(server: LiveServer) -> None:
    # Host and 100 more: 101 header fields
    headers = [(f"X-H{i}", "1") for i in range(LIMITS.max_count)]
    with _connect(server) as sock:
        _assert_rejected_and_closed(sock, _head(*headers))


def test_many_small_headers_over_the_byte_limit_are_answered_431(server: LiveServer) -> None:
    headers = [(f"X-H{i}", "v" * 1024) for i in range(LIMITS.max_bytes // 1024 + 1)]
    with _connect(server) as sock:
        _assert_rejected_and_closed(sock, _head(*headers))


def test_a_head_just_under_both_limits_is_served_and_kept_alive(server: LiveServer) -> None:
    # Host and 99 more headers (100 fields), the whole head 100 bytes short of the limit
    headers = [(f"X-H{i:02}", "") for i in range(LIMITS.max_count - 1)]
    pad = LIMITS.max_bytes - 100 - len(_head(*headers))
    headers[0] = ("X-H00", "v" * pad)
    request = _head(*headers)
    assert LIMITS.max_bytes - 100 <= len(request) < LIMITS.max_bytes
    with _connect(server) as sock:
        for _ in range(2):  # the connection stays open for the next request
            # sent in small pieces: the head spans many reads
            for start in range(0, len(request), 1000):
                sock.sendall(request[start : start + 1000])
            assert _read_one_response(sock).startswith(b"HTTP/1.1 200 ")


def test_a_large_body_does_not_count_against_the_head_limit(server: LiveServer) -> None:
    body = b"x" * MiB
    with _connect(server) as sock:
        sock.sendall(
            b"POST /healthz HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body
        )
        answer = _read_one_response(sock)
    assert not answer.startswith(b"HTTP/1.1 431"), answer[:200]


def test_answers_carry_no_server_header(server: LiveServer) -> None:
    response = httpx.get(f"{server.url}/healthz")
    assert response.status_code == 200
    assert "server" not in response.headers
    with _connect(server) as sock:
        sock.sendall(_head(*[(f"X-H{i}", "1") for i in range(LIMITS.max_count)]))
        assert b"\r\nserver:" not in _read_until_closed(sock).lower()


def test_the_limits_come_from_the_environment(
    backend_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAASKIT_MAX_HEADERS", "5")
    monkeypatch.setenv("FAASKIT_MAX_HEADER_BYTES", "2048")
    with LiveServer(tiny, backend_url, tmp_path / ".faaskit") as server:
        with _connect(server) as sock:  # Host and 4 more: at the limit
            sock.sendall(_head(*[(f"X-H{i}", "1") for i in range(4)]))
            assert _read_one_response(sock).startswith(b"HTTP/1.1 200 ")
        with _connect(server) as sock:
            _assert_rejected_and_closed(sock, _head(*[(f"X-H{i}", "1") for i in range(5)]))
        with _connect(server) as sock:
            _assert_rejected_and_closed(sock, _head(("X-Big", "a" * 2048)))


@pytest.mark.parametrize("value", ["0", "-1", "lots", "1.5"])
def test_a_limit_that_is_not_a_positive_integer_is_refused(value: str) -> None:
    from faaskit.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="FAASKIT_MAX_HEADERS must be a positive"):
        HeaderLimits.from_environment({"FAASKIT_MAX_HEADERS": value})


def test_without_httptools_the_server_falls_back_to_h11_bounded_by_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "httptools" else real_find_spec(name, *args),
    )
    config = uvicorn_config(tiny, host="127.0.0.1", port=0, limits=HeaderLimits(4096, 10))
    assert config.http == "h11"
    assert config.h11_max_incomplete_event_size == 4096
    assert config.server_header is False


def _wait_until_answering(port: int, process: subprocess.Popen[bytes], within: float) -> float:
    """Seconds until ``GET /healthz`` on ``port`` answers 200; fails when ``process`` dies."""
    started = time.monotonic()
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
                if _read_until_closed(sock).startswith(b"HTTP/1.1 200"):
                    return time.monotonic() - started
        except OSError:
            pass
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}")
        if time.monotonic() - started > within:
            pytest.fail(f"the server did not answer within {within} s")
        time.sleep(0.05)


def _read_until_closed(sock: socket.socket, timeout: float = 5) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _read_one_response(sock: socket.socket, timeout: float = 5) -> bytes:
    """One response with a Content-Length body, leaving the connection open."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection before answering"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection mid-body"
        body += chunk
    return head + b"\r\n\r\n" + body


def test_dev_restarts_on_its_port_at_once_after_kill_9(tmp_path: Path, backend_url: str) -> None:
    """A supervisor restarting ``faaskit dev`` after SIGKILL must not wait out TIME_WAIT."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "faaskit",
        "dev",
        "examples/shop",
        "--port",
        str(port),
        "--database-url",
        backend_url,
    ]
    env = {**os.environ, "FAASKIT_HOME": str(tmp_path / ".faaskit")}
    processes: list[subprocess.Popen[bytes]] = []

    def start(name: str) -> subprocess.Popen[bytes]:
        # its own session: the reloader's child dies with it when the group is killed
        with open(tmp_path / f"{name}.log", "wb") as log:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        processes.append(process)
        return process

    try:
        first = start("first")
        _wait_until_answering(port, first, within=30)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            assert _read_one_response(client).startswith(b"HTTP/1.1 200")
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
        # The server's end of that keep-alive connection now sits in TIME_WAIT.
        second = start("second")
        try:
            took = _wait_until_answering(port, second, within=15)
        except pytest.fail.Exception:
            raise AssertionError((tmp_path / "second.log").read_text()) from None
        assert took < 15
        # the dev server (the reloader's child) has the limits and no banner too
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.sendall(_head(*[(f"X-H{i}", "1") for i in range(LIMITS.max_count)]))
            answer = _read_until_closed(client)
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        assert b"\r\nserver:" not in answer.lower()
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
