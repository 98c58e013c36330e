"""The Celery contender of the messaging section: the app its worker runs, and the driver.

The worker runs ``celery -A celery_side worker`` (prefork, ``-c`` processes) on the local
Redis broker. The task is the equivalent of faaskit's subscriber: it records the time it was
published (its argument) and the time it ran with one ``RPUSH`` to a Redis list, so the
driver counts handled tasks and reads the same two timestamps as from faaskit's documents.
Settings chosen to match faaskit's delivery semantics and keep Celery lean: ``acks_late``
(ack after the task ran, at-least-once like faaskit), no result backend, no heartbeats,
mingle or gossip; prefetch at Celery's default (4 per process).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery import Celery

HERE = Path(__file__).resolve().parent
BROKER = os.environ.get("FAASKIT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
"""A database of its own on the machine's Redis; nothing else in it is touched."""

app = Celery("bench", broker=BROKER)
app.conf.update(
    task_ignore_result=True,
    task_acks_late=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)
_client: Any = None


def _redis() -> Any:
    global _client
    if _client is None:  # one connection per (forked) worker process
        import redis

        _client = redis.Redis.from_url(BROKER)
    return _client


@app.task(name="bench.handle")  # type: ignore[untyped-decorator]
def handle(n: int, published: float, key: str) -> None:
    _redis().rpush(key, f"{published} {time.time()}")


@dataclass
class Lane:
    """One run's queue and result list, unique so runs never see each other's tasks."""

    queue: str
    key: str

    @classmethod
    def new(cls) -> Lane:
        tag = uuid.uuid4().hex[:8]
        return cls(f"faaskit-bench-{tag}", f"faaskit-bench-{tag}:handled")

    def publish(self, count: int) -> None:
        """``count`` tasks with ``.delay()``, as a Celery user publishes them."""
        app.conf.task_default_queue = self.queue
        for n in range(count):
            handle.delay(n, time.time(), self.key)

    def handled(self) -> int:
        return int(_redis().llen(self.key))

    def timestamps(self) -> list[tuple[float, float]]:
        """(published, handled) of every task that ran."""
        pairs = []
        for raw in _redis().lrange(self.key, 0, -1):
            published, handled = raw.decode().split()
            pairs.append((float(published), float(handled)))
        return pairs

    def clean(self) -> None:
        client = _redis()
        keys = list(client.scan_iter(match=f"*{self.queue}*"))
        if keys:
            client.delete(*keys)


@contextmanager
def worker(lane: Lane, processes: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A ``celery worker`` of ``processes`` prefork children consuming the lane's queue."""
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "celery_side",
        "worker",
        "--pool",
        "prefork",
        "--concurrency",
        str(processes),
        "--queues",
        lane.queue,
        "--without-heartbeat",
        "--without-mingle",
        "--without-gossip",
        "--loglevel",
        "WARNING",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=HERE, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # warm shutdown
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_ready(process: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    """Until the worker logs ``ready.`` (it consumes from then on)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"celery worker exited with {process.returncode}: {_tail(log)}")
        if b" ready." in log.read_bytes():
            return
        time.sleep(0.02)
    raise RuntimeError(f"celery worker not ready within {timeout:.0f} s: {_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-1500:]


def ping() -> str:
    """The Redis server version (raises when Redis is down)."""
    return str(_redis().info("server")["redis_version"])
