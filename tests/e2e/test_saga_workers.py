"""Sagas in real ``faaskit worker`` processes, on every backend: a worker SIGKILLed inside
a step or inside a compensation, or right after a step's or a compensation's commit
(before the next runs), then replaced, finishes the saga with every effect applied exactly
once.

The workers run ``tests/e2e/saga_app.py``; the test starts sagas and reads the store
in-process (its harness never delivers). Waits poll with deadlines, never fixed sleeps.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from faaskit.runtime.runtime import FAULTS_VARIABLE
from faaskit.sagas import saga_result
from faaskit.sagas.transitions import NO_OUTCOME
from tests.e2e import saga_app
from tests.e2e.test_workers import DEADLINE, Workers, eventually, problems, store_reader

SAGA_APP = "tests.e2e.saga_app:app"


@pytest.fixture
def workers(backend_url: str, tmp_path: Path) -> object:
    started = Workers(backend_url, tmp_path)
    try:
        yield started
    finally:
        started.cleanup()


@pytest.mark.parametrize(
    ("block", "fail", "status", "effects"),
    [
        ("two:do", None, "completed", ["one:do", "two:do", "three:do"]),
        ("one:undo", "three", "compensated", ["one:do", "two:do", "two:undo", "one:undo"]),
    ],
    ids=["inside-a-step", "inside-a-compensation"],
)
async def test_a_worker_killed_inside_a_saga_is_replaced_and_no_effect_is_applied_twice(
    workers: Workers,
    backend_url: str,
    tmp_path: Path,
    block: str,
    fail: str | None,
    status: str,
    effects: list[str],
) -> None:
    first = workers.start(SAGA_APP, "--lease", "2", "--concurrency", "4")
    await workers.wait_started(first)
    async with store_reader(saga_app.app, backend_url, tmp_path) as h:
        body = {"block": block, "fail": fail}
        assert (await h.http.post("/chains/c-1", json=body)).status_code == 202
        step, phase = block.split(":")

        async def blocked() -> bool:
            workers.check_alive()
            return any(e[1:3] == [step, phase] for e in workers.log("sagas.log"))

        await eventually(blocked, f"{block} to start", workers)
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=DEADLINE) == -signal.SIGKILL
        # what committed before the kill is there; the killed attempt wrote nothing
        store = h.runtime.store
        assert await store.get("effects", f"c-1:{step}:{phase}") is None
        before = await h.saga("c-1")
        assert before.status in ("running", "compensating", "started")

        second = workers.start(SAGA_APP, "--lease", "2", "--concurrency", "4")
        state = await saga_result(h.runtime, "c-1", within=DEADLINE)
        assert workers.stop(second) == 0

        assert state.status == status
        found = {d.id.removeprefix("c-1:"): d for d in await store.find("effects", {})}
        assert sorted(found) == sorted(effects)
        assert all(d.data["count"] == 1 and d.version == 1 for d in found.values())
        assert found[block].data["pid"] == second.pid
        # the blocked one started twice (killed, then again elsewhere); the rest once
        starts = Counter(f"{e[1]}:{e[2]}" for e in workers.log("sagas.log"))
        expected = Counter(effects) + Counter({block: 1})
        if fail:
            expected[f"{fail}:do"] += 1
        assert starts == expected
        blocked_runs = [e[3:] for e in workers.log("sagas.log") if f"{e[1]}:{e[2]}" == block]
        assert blocked_runs == [[str(first.pid), "1"], [str(second.pid), "2"]]
        # the killed attempt is in the saga's record: it left no outcome
        record = state.step(step) if phase == "do" else state.step(step).undo
        assert record is not None
        assert [(f["attempt"], f["error"]) for f in record.failures] == [(1, NO_OUTCOME)]
        assert await h.scheduled() == [] and await h.dead_letters() == []
        assert problems(workers.output(second)) == []


@pytest.mark.parametrize(
    ("point", "fail", "status", "effects"),
    [
        ("one:do", None, "completed", ["one:do", "two:do", "three:do"]),
        ("two:undo", "three", "compensated", ["one:do", "two:do", "two:undo", "one:undo"]),
    ],
    ids=["between-steps", "between-compensations"],
)
async def test_a_worker_killed_right_after_a_commit_is_replaced_and_no_effect_is_applied_twice(
    workers: Workers,
    backend_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    point: str,
    fail: str | None,
    status: str,
    effects: list[str],
) -> None:
    """The fault point ``FUNCTION:committed`` SIGKILLs the first worker right after the
    unit of ``point`` committed (its effect, the saga's transition, the ack and the next
    task's message are in), before the next step or compensation runs anywhere."""
    step, phase = point.split(":")
    monkeypatch.setenv(FAULTS_VARIABLE, f"saga.chain.{step}.{phase}:committed=kill")
    first = workers.start(SAGA_APP, "--lease", "2", "--concurrency", "4")
    monkeypatch.delenv(FAULTS_VARIABLE)
    await workers.wait_started(first)
    async with store_reader(saga_app.app, backend_url, tmp_path) as h:
        assert (await h.http.post("/chains/c-2", json={"fail": fail})).status_code == 202
        assert first.wait(timeout=DEADLINE) == -signal.SIGKILL  # it dies at the fault point

        store = h.runtime.store
        committed = await store.get("effects", f"c-2:{point}")
        assert committed is not None and committed.data == {"count": 1, "pid": first.pid}
        before = await h.saga("c-2")
        index = [s.name for s in before.steps].index(step)
        if phase == "do":  # step one completed, step two scheduled, nothing more
            assert (before.status, before.current_step) == ("running", "two")
            assert before.steps[index].status == "completed"
            assert before.steps[index + 1].status == "scheduled"
        else:  # two compensated, one's compensation scheduled
            assert (before.status, before.current_step) == ("compensating", "one")
            assert before.steps[index].undo is not None
            assert before.steps[index].undo.status == "compensated"
        done_before = sorted(d.id for d in await store.find("effects", {}))

        second = workers.start(SAGA_APP, "--lease", "2", "--concurrency", "4")
        state = await saga_result(h.runtime, "c-2", within=DEADLINE)
        assert workers.stop(second) == 0

        assert state.status == status
        found = {d.id.removeprefix("c-2:"): d for d in await store.find("effects", {})}
        assert sorted(found) == sorted(effects)
        assert all(d.data["count"] == 1 and d.version == 1 for d in found.values())
        # what committed before the kill was not done again; the rest was done by the second
        for name, doc in found.items():
            assert doc.data["pid"] == (first.pid if f"c-2:{name}" in done_before else second.pid)
        starts = Counter(f"{e[1]}:{e[2]}" for e in workers.log("sagas.log") if e[0] == "c-2")
        assert starts[point] == 1
        assert await h.scheduled() == [] and await h.dead_letters() == []
        assert problems(workers.output(second)) == []
