"""A projection whose worker process is killed mid-batch, on every backend.

Real ``python -m faaskit worker tests.e2e.projection_app:app`` processes: the first blocks
inside a batch (its handler sleeps after writing a marker file) and is killed with
SIGKILL; a second one resumes from the last committed checkpoint. The test reads the
store in-process through :class:`faaskit.testing.AppHarness` (whose own worker never
runs here). Waits poll with deadlines, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from faaskit.store.protocol import AppendEvents, NewEvent, Store, WriteSet
from faaskit.testing import AppHarness
from tests.e2e import projection_app

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.e2e.projection_app:app"
DEADLINE = 30.0


class ProjectionWorkers:
    """The ``faaskit worker`` processes of one test; whatever is left is killed at the end."""

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        self.database_url = database_url
        self.tmp_path = tmp_path
        self.marker_dir = tmp_path / "markers"
        self.marker_dir.mkdir()
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *, block_at: int) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            projection_app.BLOCK_AT_VARIABLE: str(block_at),
            projection_app.DIR_VARIABLE: str(self.marker_dir),
            "FAASKIT_HOME": str(self.tmp_path / ".faaskit"),
            "FAASKIT_LOG_LEVEL": "INFO",
        }
        command = [sys.executable, "-m", "faaskit", "worker", APP]
        command += ["--database-url", self.database_url]
        with self._stderr_path(len(self.processes)).open("wb") as stderr:
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr
            )
        self.processes.append(process)
        return process

    def _stderr_path(self, index: int) -> Path:
        return self.tmp_path / f"worker-{index}.stderr"

    def output(self, process: subprocess.Popen[bytes]) -> str:
        return self._stderr_path(self.processes.index(process)).read_text(errors="replace")

    def all_output(self) -> str:
        return "\n".join(f"--- worker {p.pid}\n{self.output(p)}" for p in self.processes)

    def check_alive(self) -> None:
        for process in self.processes:
            if process.poll() is not None and process.returncode not in (0, -signal.SIGKILL):
                output = self.output(process)
                pytest.fail(f"worker {process.pid} exited with {process.returncode}:\n{output}")

    def blocked_pid(self) -> int | None:
        marker = self.marker_dir / "blocked"
        text = marker.read_text() if marker.exists() else ""
        return int(text) if text else None

    def cleanup(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def workers(backend_url: str, tmp_path: Path) -> Iterator[ProjectionWorkers]:
    started = ProjectionWorkers(backend_url, tmp_path)
    try:
        yield started
    finally:
        started.cleanup()


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, workers: ProjectionWorkers
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while True:
        workers.check_alive()
        if await check():
            return
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{workers.all_output()}")
        await asyncio.sleep(0.1)


async def append_ticks(store: Store, numbers: range, at: float) -> None:
    events = [NewEvent("Tick", {"n": n}, {"schema_version": 1}) for n in numbers]
    await store.commit(WriteSet([AppendEvents("ticks", events, None, at)]))


async def tally(store: Store) -> dict[int, tuple[int, int, int]]:
    """Position → (tick number, times applied, pid of the worker that applied it)."""
    return {
        int(d.id): (d.data["n"], d.data["count"], d.data["pid"])
        for d in await store.find("tally", {})
    }


async def test_projection_killed_mid_batch_resumes_without_gaps_or_duplicates(
    workers: ProjectionWorkers, backend_url: str, tmp_path: Path
) -> None:
    async with AppHarness(
        projection_app.app,
        database_url=backend_url,
        start=datetime.now(UTC),
        data_dir=tmp_path / "harness",
    ) as h:
        store = h.runtime.store
        for start in range(1, 61, 15):  # ticks 1..60 in four commits
            await append_ticks(store, range(start, start + 15), h.runtime.now())
        positions = [e.position for e in await store.read_all(limit=1000)]
        assert len(positions) == 60

        first = workers.start(block_at=25)  # in the third batch (ticks 21..30)

        async def blocked() -> bool:
            return workers.blocked_pid() is not None

        await eventually(blocked, "the first worker to block inside tick 25's batch", workers)
        assert workers.blocked_pid() == first.pid
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=DEADLINE) == -signal.SIGKILL

        # Batches 1..10 and 11..20 committed with their checkpoints; 21..30 never did.
        assert await store.checkpoint("tally") == positions[19]
        applied = await tally(store)
        assert applied == {p: (n, 1, first.pid) for n, p in enumerate(positions[:20], start=1)}

        await append_ticks(store, range(61, 71), h.runtime.now())  # more while none runs
        positions = [e.position for e in await store.read_all(limit=1000)]
        second = workers.start(block_at=25)  # the marker exists: this one goes through

        async def caught_up() -> bool:
            head = await store.head_position()
            return await store.checkpoint("tally") == head and len(await tally(store)) == 70

        await eventually(caught_up, "the second worker to catch up", workers)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=DEADLINE) == 0, workers.output(second)

        applied = await tally(store)
        assert sorted(applied) == positions  # no gap
        assert [applied[p][:2] for p in positions] == [(n, 1) for n in range(1, 71)]  # once
        assert {applied[p][2] for p in positions[:20]} == {first.pid}
        assert {applied[p][2] for p in positions[20:]} == {second.pid}
        output = workers.output(second)
        assert "worker started" in output
        problems = [
            line
            for line in output.splitlines()
            if '"level":"warning"' in line or '"level":"error"' in line or "Traceback" in line
        ]
        assert problems == []
