"""Servers in their own processes: start one with uvicorn's fixed settings, wait until it
answers, measure, stop it. Also the CPU pinning shared by every contender."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
UVICORN_FLAGS = (
    "--workers",
    "1",
    "--loop",
    "uvloop",
    "--http",
    "httptools",
    "--no-access-log",
    "--log-level",
    "warning",
)
"""The same for every contender; ``--factory servers:NAME`` picks the app."""
HTTPTOOLS = "httptools"
FAASKIT_PROTOCOL = "faaskit"
"""The faaskit contenders run as faaskit serves (``serve_faaskit.py``, the same flags)."""
PROTOCOLS = (
    "faaskit: faaskit's own `LimitedHttpToolsProtocol` (uvicorn's httptools protocol with "
    "bounded request heads, default limits 32 KiB / 100 headers; no `server` header), "
    "through `benchmarks/serve_faaskit.py`, which builds `faaskit.serving.uvicorn_config` "
    "(what `faaskit dev` runs) with the flags above; Starlette, FastAPI, Powertools and raw "
    "ASGI: uvicorn's plain `--http httptools`"
)


def protocol_of(factory: str) -> str:
    return FAASKIT_PROTOCOL if factory.startswith("faaskit_") else HTTPTOOLS


@dataclass(frozen=True)
class Pinning:
    """Command prefixes that pin the server and the load generator to different cores."""

    server: list[str]
    load: list[str]

    @property
    def description(self) -> str:
        if not self.server:
            return "no pinning (taskset missing or a single core)"
        return f"server `{' '.join(self.server)}`, load generator `{' '.join(self.load)}`"


def pinning() -> Pinning:
    taskset = shutil.which("taskset")
    cores = sorted(os.sched_getaffinity(0))
    if taskset is None or len(cores) < 2:
        return Pinning([], [])
    return Pinning([taskset, "-c", str(cores[0])], [taskset, "-c", str(cores[1])])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def uvicorn_command(
    factory: str, port: int, cpu: list[str], protocol: str | None = None
) -> list[str]:
    """The server's command line: ``protocol`` defaults to :func:`protocol_of` the factory."""
    if (protocol or protocol_of(factory)) == FAASKIT_PROTOCOL:
        launcher = str(HERE / "serve_faaskit.py")
        address = ["--host", HOST, "--port", str(port)]
        return [*cpu, sys.executable, launcher, "--factory", f"servers:{factory}", *address]
    return [
        *cpu,
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(HERE),
        "--factory",
        f"servers:{factory}",
        "--host",
        HOST,
        "--port",
        str(port),
        *UVICORN_FLAGS,
    ]


def request(port: int, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """One HTTP request on a fresh connection: (status, body)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        headers = {"Content-Type": "application/json"} if body else {}
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def check_hello(port: int) -> None:
    status, body = request(port, "GET", "/hello")
    if status != 200 or json.loads(body) != {"message": "hello"}:
        raise RuntimeError(f"GET /hello answered {status} {body[:200]!r}")


def check_items(port: int) -> None:
    status, body = request(port, "POST", "/items", b'{"name": "probe", "price": 1}')
    if status != 201 or "id" not in json.loads(body):
        raise RuntimeError(f"POST /items answered {status} {body[:200]!r}")


def _wait_until_up(process: subprocess.Popen[bytes], port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"the server did not listen on port {port} within {timeout:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def serve(
    factory: str,
    env: Mapping[str, str],
    cpu: list[str],
    log: Path,
    *,
    timeout: float = 30,
    protocol: str | None = None,
) -> Iterator[int]:
    """Run ``servers:factory`` under uvicorn until the block ends; yields its port."""
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            uvicorn_command(factory, port, cpu, protocol),
            env=dict(env),
            cwd=log.parent,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_up(process, port, timeout)
            yield port
        except Exception as error:
            _stop(process)
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{factory}: {error}\n--- server log ---\n{tail}") from error
        finally:
            _stop(process)


def time_to_first_200(
    factory: str, env: Mapping[str, str], cpu: list[str], workdir: Path, *, timeout: float = 30
) -> float:
    """Seconds from spawning the server process to its first 200 on ``GET /hello``."""
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        uvicorn_command(factory, port, cpu),
        env=dict(env),
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while time.perf_counter() - started < timeout:
            try:
                if request(port, "GET", "/hello")[0] == 200:
                    return time.perf_counter() - started
            except OSError:
                pass
            if process.poll() is not None:
                raise RuntimeError(f"{factory} exited with {process.returncode} before a 200")
            time.sleep(0.002)
        raise RuntimeError(f"{factory}: no 200 within {timeout:.0f} s")
    finally:
        _stop(process)
