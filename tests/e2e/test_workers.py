"""Real ``faaskit worker`` processes sharing one store, on every backend.

The workers run ``tests/e2e/worker_app.py`` with ``python -m faaskit worker``; the test
fills and reads the store in-process through :class:`faaskit.testing.AppHarness` (whose own
worker never runs here: it does not drain). Waits poll with deadlines, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from faaskit import App
from faaskit.testing import AppHarness
from tests.e2e import worker_app

ROOT = Path(__file__).resolve().parents[2]
JOBS_APP = "tests.e2e.worker_app:app"
CRON_APP = "tests.e2e.worker_app:cron_app"
DEADLINE = 30.0


class Workers:
    """``faaskit worker`` subprocesses of one test; whatever is left is killed at the end."""

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        self.database_url = database_url
        self.tmp_path = tmp_path
        self.log_dir = tmp_path / "logs"
        self.log_dir.mkdir()
        self.processes: list[subprocess.Popen[bytes]] = []
        self.stderr: dict[int, Path] = {}

    def start(self, app: str, *options: str) -> subprocess.Popen[bytes]:
        index = len(self.processes)
        stderr_path = self.tmp_path / f"worker-{index}.stderr"
        env = {
            **os.environ,
            worker_app.LOG_DIR_VARIABLE: str(self.log_dir),
            "FAASKIT_HOME": str(self.tmp_path / ".faaskit"),
            "FAASKIT_LOG_LEVEL": "INFO",
        }
        command = [sys.executable, "-m", "faaskit", "worker", app]
        command += ["--database-url", self.database_url, *options]
        with stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr
            )
        self.processes.append(process)
        self.stderr[process.pid] = stderr_path
        return process

    def output(self, process: subprocess.Popen[bytes]) -> str:
        return self.stderr[process.pid].read_text(errors="replace")

    def all_output(self) -> str:
        return "\n".join(f"--- worker {p.pid}\n{self.output(p)}" for p in self.processes)

    def check_alive(self) -> None:
        for process in self.processes:
            if process.poll() is not None and process.returncode not in (0, -signal.SIGKILL):
                pytest.fail(
                    f"worker {process.pid} exited with {process.returncode}:\n"
                    + self.output(process)
                )

    async def wait_started(self, *processes: subprocess.Popen[bytes]) -> None:
        async def started() -> bool:
            self.check_alive()
            return all("worker started" in self.output(p) for p in processes)

        await eventually(started, "the workers to start", self)

    def stop(self, process: subprocess.Popen[bytes]) -> int:
        """SIGTERM (graceful) and wait; the exit code."""
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail(f"worker {process.pid} ignored SIGTERM:\n{self.output(process)}")

    def log(self, name: str) -> list[list[str]]:
        path = self.log_dir / name
        if not path.exists():
            return []
        return [line.split() for line in path.read_text().splitlines()]

    def cleanup(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def workers(backend_url: str, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(backend_url, tmp_path)
    try:
        yield started
    finally:
        started.cleanup()


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, workers: Workers, within: float = DEADLINE
) -> None:
    """Poll ``check`` until it holds; fail with the workers' logs after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{workers.all_output()}")
        await asyncio.sleep(0.1)


def store_reader(app: App, database_url: str, tmp_path: Path) -> AppHarness:
    """A harness on the workers' store, its clock at the real now: it publishes and reads."""
    return AppHarness(
        app,
        database_url=database_url,
        start=datetime.now(UTC),
        data_dir=tmp_path / "harness",
    )


def problems(output: str) -> list[str]:
    """Log lines of failed attempts, lost leases, dead letters and errors."""
    return [
        line
        for line in output.splitlines()
        if '"level":"warning"' in line or '"level":"error"' in line or "Traceback" in line
    ]


async def test_message_of_a_worker_killed_mid_message_is_handled_once_by_another(
    workers: Workers, backend_url: str, tmp_path: Path
) -> None:
    first = workers.start(JOBS_APP, "--lease", "2", "--concurrency", "4")
    await workers.wait_started(first)
    async with store_reader(worker_app.app, backend_url, tmp_path) as h:
        jobs: list[dict[str, Any]] = [{"id": "stuck", "block": True}, {"id": "j-1"}, {"id": "j-2"}]
        assert (await h.http.post("/jobs", json={"jobs": jobs})).status_code == 202
        store = h.runtime.store

        async def stuck_started() -> bool:
            workers.check_alive()
            return any(entry[0] == "stuck" for entry in workers.log("jobs.log"))

        await eventually(stuck_started, "the blocking handler to start", workers)
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=DEADLINE) == -signal.SIGKILL
        assert await store.get("jobs", "stuck") is None  # the killed attempt wrote nothing

        second = workers.start(JOBS_APP, "--lease", "2", "--concurrency", "4")

        async def all_done() -> bool:
            workers.check_alive()
            done = [await store.get("jobs", job["id"]) for job in jobs]
            return all(doc is not None for doc in done)

        await eventually(all_done, "the second worker to handle the message", workers)
        assert workers.stop(second) == 0

        stuck = await store.get("jobs", "stuck")
        assert stuck is not None
        assert stuck.version == 1
        assert stuck.data == {"pid": second.pid, "attempt": 2}
        starts = [entry for entry in workers.log("jobs.log") if entry[0] == "stuck"]
        assert starts == [["stuck", str(first.pid), "1"], ["stuck", str(second.pid), "2"]]
        assert await h.scheduled() == []
        assert await h.dead_letters() == []
        assert problems(workers.output(second)) == []


async def test_three_workers_share_300_messages_each_handled_exactly_once(
    workers: Workers, backend_url: str, tmp_path: Path
) -> None:
    processes = [workers.start(JOBS_APP, "--concurrency", "4") for _ in range(3)]
    await workers.wait_started(*processes)
    ids = [f"j-{n:03}" for n in range(300)]
    async with store_reader(worker_app.app, backend_url, tmp_path) as h:
        jobs = [{"id": job_id, "work": 0.05} for job_id in ids]
        assert (await h.http.post("/jobs", json={"jobs": jobs})).status_code == 202
        store = h.runtime.store

        async def all_handled() -> bool:
            workers.check_alive()
            return len(await store.find("jobs", {})) == len(ids)

        await eventually(all_handled, "300 jobs to be handled", workers, within=60)
        for process in processes:
            assert workers.stop(process) == 0

        documents = await store.find("jobs", {})
        assert sorted(doc.id for doc in documents) == ids
        assert {doc.version for doc in documents} == {1}
        handled = Counter(entry[0] for entry in workers.log("jobs.log"))
        assert sorted(handled) == ids
        assert [job_id for job_id, count in handled.items() if count > 1] == []
        pids = {doc.data["pid"] for doc in documents}
        assert pids <= {p.pid for p in processes}
        assert len(pids) >= 2, "one worker did all the work"
        assert await h.scheduled() == []
        assert await h.dead_letters() == []
        assert problems(workers.all_output()) == []


async def test_cron_tick_runs_once_however_many_workers_run(
    workers: Workers, backend_url: str, tmp_path: Path
) -> None:
    processes = [workers.start(CRON_APP) for _ in range(3)]
    await workers.wait_started(*processes)
    async with store_reader(worker_app.cron_app, backend_url, tmp_path) as h:
        store = h.runtime.store

        async def several_ticks() -> bool:
            workers.check_alive()
            return len(await store.find("ticks", {})) >= 4

        await eventually(several_ticks, "four cron ticks", workers)
        for process in processes:
            assert workers.stop(process) == 0

        handled = Counter(entry[0] for entry in workers.log("ticks.log"))
        assert len(handled) >= 4
        assert [tick for tick, count in handled.items() if count > 1] == []
        documents = await store.find("ticks", {})
        assert sorted(doc.id for doc in documents) == sorted(handled)
        assert {doc.version for doc in documents} == {1}
        # Every tick is a distinct second of the schedule.
        seconds = sorted(datetime.fromisoformat(doc.id) for doc in documents)
        assert all(s.microsecond == 0 for s in seconds)
        assert len(set(seconds)) == len(seconds)
        assert await h.dead_letters() == []
        assert [p for p in await h.scheduled() if p.attempts] == []
        assert problems(workers.all_output()) == []
