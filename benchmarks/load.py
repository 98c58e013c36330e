"""Load generators: wrk (preferred) or, when wrk cannot be had, a small asyncio client.

Both keep ``connections`` keep-alive connections busy for ``seconds`` and report requests/s
and the 50th/99th latency percentiles. The fallback is labelled ``python-loadgen`` wherever
its numbers appear: it spends more CPU per request than wrk, so its numbers are lower and
not comparable with wrk runs. Run as a script, this module *is* the fallback client (so it
can be pinned to its own core like wrk).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

WRK = "wrk"
PYTHON_LOADGEN = "python-loadgen"
POST_SCRIPT = Path(__file__).with_name("post_items.lua")
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}
_PERCENTILE = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_TOTAL = re.compile(r"^\s+(\d+) requests in ([\d.]+)(us|ms|s|m)", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


@dataclass(frozen=True)
class Load:
    """What to send: ``GET /hello`` or ``POST /items`` with a JSON body."""

    method: str
    path: str
    body: bytes = b""

    @property
    def wrk_script(self) -> Path | None:
        return POST_SCRIPT if self.method == "POST" else None


HELLO = Load("GET", "/hello")
ITEMS = Load("POST", "/items", b'{"name": "widget", "price": 9.5}')


@dataclass(frozen=True)
class LoadResult:
    tool: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    """Non-2xx answers plus socket errors: a run with errors is not a clean number."""


def find_wrk(log: list[str]) -> str | None:
    """The path of wrk, installing the Debian package once if it is missing."""
    found = shutil.which(WRK)
    if found:
        return found
    for command in (
        ["apt-get", "install", "-y", "wrk"],
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "wrk"],
    ):
        if shutil.which(command[0]) is None:
            break
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        log.append(f"$ {' '.join(command)} -> exit {done.returncode}")
        if command[-1] == "wrk" and done.returncode == 0:
            return shutil.which(WRK)
    return None


def run_load(
    wrk: str | None,
    url: str,
    load: Load,
    *,
    connections: int,
    seconds: float,
    cpu: list[str],
) -> LoadResult:
    """One timed run against ``url`` (scheme://host:port), pinned with the ``cpu`` prefix."""
    if wrk is not None:
        return _run_wrk(wrk, url, load, connections=connections, seconds=seconds, cpu=cpu)
    return _run_python(url, load, connections=connections, seconds=seconds, cpu=cpu)


def _run_wrk(
    wrk: str, url: str, load: Load, *, connections: int, seconds: float, cpu: list[str]
) -> LoadResult:
    command = [
        *cpu,
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    if load.wrk_script is not None:
        command += ["-s", str(load.wrk_script)]
    done = subprocess.run([*command, url + load.path], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return parse_wrk(done.stdout)


def parse_wrk(text: str) -> LoadResult:
    """requests/s, p50, p99 and errors from ``wrk --latency`` output."""
    percentiles = {int(q): float(v) * _UNITS[unit] for q, v, unit in _PERCENTILE.findall(text)}
    total, rps = _TOTAL.search(text), _RPS.search(text)
    if total is None or rps is None or set(percentiles) != {50, 99}:
        raise ValueError(f"cannot parse wrk output:\n{text}")
    non_2xx = _NON_2XX.search(text)
    sockets = _SOCKET_ERRORS.search(text)
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (
        sum(int(n) for n in sockets.groups()) if sockets else 0
    )
    seconds = float(total.group(2)) * _UNITS[total.group(3)] / 1e3
    return LoadResult(
        WRK,
        int(total.group(1)),
        seconds,
        float(rps.group(1)),
        percentiles[50],
        percentiles[99],
        errors,
    )


def _run_python(
    url: str, load: Load, *, connections: int, seconds: float, cpu: list[str]
) -> LoadResult:
    command = [
        *cpu,
        sys.executable,
        __file__,
        url,
        "--method",
        load.method,
        "--path",
        load.path,
        "--body",
        load.body.decode(),
        "-c",
        str(connections),
        "-d",
        str(seconds),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"python load generator failed: {last}")
    return LoadResult(**json.loads(done.stdout))


# --- the fallback client ------------------------------------------------------------------


def _request_bytes(host: str, load: Load) -> bytes:
    lines = [f"{load.method} {load.path} HTTP/1.1", f"Host: {host}"]
    if load.body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(load.body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + load.body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    length, chunked = 0, False
    for line in header_lines:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    if chunked:
        await _read_chunks(reader)
    elif length:
        await reader.readexactly(length)
    return int(status_line.split()[1])


async def _read_chunks(reader: asyncio.StreamReader) -> None:
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        await reader.readexactly(size + 2)  # the chunk and its CRLF (the last: no trailers)
        if size == 0:
            return


async def _connection(
    host: str, port: int, raw: bytes, deadline: float, latencies: list[float], counts: Counter[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (started := time.perf_counter()) < deadline:
            writer.write(raw)
            status = await _read_response(reader)
            latencies.append(time.perf_counter() - started)
            counts[status // 100] += 1
    finally:
        writer.close()


async def _drive(url: str, load: Load, connections: int, seconds: float) -> LoadResult:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    raw = _request_bytes(f"{host}:{port}", load)
    latencies: list[float] = []
    counts: Counter[int] = Counter()
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(_connection(host, port, raw, deadline, latencies, counts) for _ in range(connections))
    )
    elapsed = time.perf_counter() - started
    latencies.sort()
    return LoadResult(
        PYTHON_LOADGEN,
        len(latencies),
        elapsed,
        len(latencies) / elapsed,
        _percentile(latencies, 0.50) * 1e3,
        _percentile(latencies, 0.99) * 1e3,
        len(latencies) - counts[2],
    )


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description="fallback HTTP load generator (keep-alive)")
    parser.add_argument("url")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--path", default="/hello")
    parser.add_argument("--body", default="")
    parser.add_argument("-c", "--connections", type=int, default=32)
    parser.add_argument("-d", "--duration", type=float, default=10.0)
    args = parser.parse_args()
    try:
        from uvloop import run
    except ImportError:
        from asyncio import run
    load = Load(args.method, args.path, args.body.encode())
    result = run(_drive(args.url, load, args.connections, args.duration))
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
