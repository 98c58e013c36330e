"""One circuit breaker shared by three real ``faaskit worker`` processes, on every backend.

The workers run ``tests/e2e/breaker_app.py`` (``--concurrency 1`` each, so at most three
calls are ever in flight) against one SQLite file or one PostgreSQL schema; its messages
call an outside service that is down until the test brings it back. Whatever process
counts them, ``THRESHOLD`` failures open the one breaker; then every process fails fast;
after ``RECOVERY`` seconds exactly one trial (in whichever process asks first) reaches the
service: while it is down the trial opens the breaker again, once it is back the trial
closes it and every message goes through. The service's own log (``calls.log``, written
outside any unit of work) is the witness.
"""

from __future__ import annotations

from pathlib import Path

from faaskit.store.protocol import Breaker
from faaskit.testing import AppHarness
from tests.e2e import breaker_app
from tests.e2e.breaker_app import RECOVERY, THRESHOLD
from tests.e2e.test_workers import Workers, eventually, store_reader
from tests.e2e.test_workers import workers as workers  # the fixture

APP = "tests.e2e.breaker_app:app"
CALLS = 9


async def breaker(h: AppHarness) -> Breaker:
    return await breaker_app.service.state(h.runtime)


async def test_three_workers_see_one_breaker_open_and_exactly_one_trial(
    workers: Workers, backend_url: str, tmp_path: Path
) -> None:
    down = workers.log_dir / "down"
    down.touch()
    started = [workers.start(APP, "--concurrency", "1") for _ in range(3)]
    await workers.wait_started(*started)
    async with store_reader(breaker_app.app, backend_url, tmp_path) as h:
        assert (await h.http.post("/calls", json={"count": CALLS})).status_code == 202

        async def reopened() -> bool:  # opened, its one trial failed, opened again
            return (await breaker(h)).opens >= 2

        await eventually(reopened, "the breaker to open, try once and open again", workers)
        down.unlink()  # the service is back

        async def all_done() -> bool:
            return len(await h.runtime.store.find("done", {})) == CALLS

        await eventually(all_done, "every call to go through", workers)
        final = await breaker(h)
        assert await h.dead_letters() == []
    for process in started:
        assert workers.stop(process) == 0, workers.output(process)

    calls = sorted(workers.log("calls.log"), key=lambda line: float(line[4]))
    failed_calls = [
        float(t) for _, _, kind, outcome, t in calls if (kind, outcome) == ("call", "down")
    ]
    trials = [(outcome, float(t)) for _, _, kind, outcome, t in calls if kind == "trial"]
    # Only calls let through while it was closed failed: the THRESHOLD that opened it and
    # at most the two others then in flight; after that, nothing but trials while down.
    assert THRESHOLD <= len(failed_calls) <= THRESHOLD + 2, calls
    assert [outcome for outcome, _ in trials] == ["down"] * (final.opens - 1) + ["ok"], calls
    assert (final.state, final.failures) == ("closed", 0)
    first_ok = next(line for line in calls if line[3] == "ok")
    assert first_ok[2] == "trial", calls  # nothing passed the open breaker before the trial
    # each trial came a recovery timeout after the opening before it, not sooner
    opened_by = sorted(failed_calls)[THRESHOLD - 1]  # the call whose failure opened it
    for _, at in trials:
        assert at >= opened_by + RECOVERY - 0.01, (at, opened_by)
        opened_by = at
    # every process saw the one breaker open and failed fast
    refused_by = {int(line[0]) for line in workers.log("refused.log")}
    assert refused_by == {process.pid for process in started}, refused_by
