"""``faaskit sagas list|show|retry|cancel`` in real subprocesses, on every backend, against
sagas that a real ``faaskit worker`` runs (``tests/e2e/saga_cli_app.py``)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from faaskit.sagas import saga_result
from tests.e2e import saga_cli_app
from tests.e2e.test_cli import run
from tests.e2e.test_workers import DEADLINE, Workers, problems, store_reader
from tests.e2e.worker_app import LOG_DIR_VARIABLE

APP = "tests.e2e.saga_cli_app:app"
WIDE = {"COLUMNS": "250"}  # rich fits tables to the terminal; make it wide


@pytest.fixture
def workers(backend_url: str, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(backend_url, tmp_path)
    try:
        yield started
    finally:
        started.cleanup()


def sagas(
    workers: Workers, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``faaskit sagas ARGS --database-url …`` (or the URL in FAASKIT_DATABASE_URL)."""
    url = [] if env and "FAASKIT_DATABASE_URL" in env else ["--database-url", workers.database_url]
    extra = {**WIDE, LOG_DIR_VARIABLE: str(workers.log_dir), **(env or {})}
    result: subprocess.CompletedProcess[str] = run("sagas", *args, *url, env=extra)
    return result


def one_line_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("faaskit: error: "), lines
    assert message in lines[0], lines


async def test_list_show_and_retry_of_a_compensation_failed_saga(
    workers: Workers, backend_url: str, tmp_path: Path
) -> None:
    worker = workers.start(APP, "--concurrency", "4")
    await workers.wait_started(worker)
    async with store_reader(saga_cli_app.app, backend_url, tmp_path) as h:
        stuck = {"fail": "ship", "refund_failures": 2, "amount": 7}
        assert (await h.http.post("/refunds/r-stuck", json=stuck)).status_code == 202
        assert (await h.http.post("/refunds/r-ok", json={})).status_code == 202
        assert (await saga_result(h.runtime, "r-ok", within=DEADLINE)).status == "completed"
        state = await saga_result(h.runtime, "r-stuck", within=DEADLINE)
        assert state.status == "compensation_failed"

        listed = sagas(workers, "list")
        assert listed.returncode == 0, listed.stderr
        assert "2 sagas" in listed.stdout
        assert "r-stuck" in listed.stdout and "r-ok" in listed.stdout
        assert "compensation_failed" in listed.stdout and "ship: no carrier" in listed.stdout
        only = sagas(workers, "list", "--status", "compensation_failed", "--since", "15m")
        assert only.returncode == 0, only.stderr
        assert "1 saga" in only.stdout and "r-stuck" in only.stdout and "r-ok" not in only.stdout
        assert "0 sagas" in sagas(workers, "list", "--status", "running").stdout
        assert "0 sagas" in sagas(workers, "list", "--name", "other").stdout
        from_env = sagas(workers, "list", env={"FAASKIT_DATABASE_URL": backend_url})
        assert from_env.returncode == 0 and "2 sagas" in from_env.stdout, from_env.stderr

        shown = sagas(workers, "show", "r-stuck")
        assert shown.returncode == 0, shown.stderr
        out = shown.stdout
        assert "saga r-stuck — refund, compensation_failed" in out
        assert "current step  charge" in out
        assert "failure       ship (failed): no carrier" in out and '"zone":"north"' in out
        rows = [line for line in out.splitlines() if "│" in line]
        assert any(
            "step" in r and "charge" in r and "completed" in r and '{"amount":7}' in r for r in rows
        )
        assert any(
            "step" in r and "ship" in r and "failed" in r and "no carrier" in r for r in rows
        )
        [undo] = [r for r in rows if "compensation" in r and "failed" in r]
        assert "charge" in undo and "ConnectionError: refund API down" in undo
        assert " 2 " in undo  # its attempts
        [again] = [r for r in rows if "compensation" in r and "retrying" in r]
        assert "ConnectionError: refund API down" in again and " 1 " in again  # attempt 1

        running = sagas(workers, "retry", "r-ok", APP)
        one_line_error(running, "saga 'r-ok' is completed, not compensation_failed")

        retried = sagas(workers, "retry", "r-stuck", APP)
        assert retried.returncode == 0, retried.stderr
        assert retried.stdout.strip() == "retrying saga r-stuck: compensating charge again"
        state = await saga_result(h.runtime, "r-stuck", within=DEADLINE)
        assert state.status == "compensated"
        refund = await h.runtime.store.get("refunds", "r-stuck")
        assert refund is not None and refund.data == {"amount": 7}
        assert len(workers.log("refunds.log")) == 3  # two failed, one after the retry

        after = sagas(workers, "show", "r-stuck")
        assert "saga r-stuck — refund, compensated" in after.stdout
        [done] = [
            r for r in after.stdout.splitlines() if "compensation" in r and "compensated" in r
        ]
        assert '{"refunded":7}' in done
        assert "compensated" in sagas(workers, "list", "--status", "compensated").stdout
        one_line_error(sagas(workers, "retry", "r-stuck", APP), "is compensated, not")
    assert workers.stop(worker) == 0
    assert all("refund API down" in line for line in problems(workers.output(worker)))


async def test_cancel_compensates_a_running_saga_and_refuses_a_finished_one(
    workers: Workers, backend_url: str, tmp_path: Path
) -> None:
    worker = workers.start(APP, "--concurrency", "4")
    await workers.wait_started(worker)
    async with store_reader(saga_cli_app.app, backend_url, tmp_path) as h:
        assert (await h.http.post("/refunds/r-wait", json={"wait": True})).status_code == 202

        async def waiting() -> bool:
            state = await h.saga("r-wait")
            return state.step("ship").status == "waiting"

        from tests.e2e.test_workers import eventually

        await eventually(waiting, "ship to wait for its token", workers)
        shown = sagas(workers, "show", "r-wait")
        assert (
            "saga r-wait — refund, running" in shown.stdout and "current step  ship" in shown.stdout
        )
        assert any(
            "waiting" in r and "for its completion token" in r for r in shown.stdout.splitlines()
        )
        one_line_error(
            sagas(workers, "retry", "r-wait", APP), "is running, not compensation_failed"
        )

        cancelled = sagas(workers, "cancel", "r-wait", APP, "--reason", "customer asked")
        assert cancelled.returncode == 0, cancelled.stderr
        assert cancelled.stdout.strip() == "cancelled saga r-wait: compensating charge"
        state = await saga_result(h.runtime, "r-wait", within=DEADLINE)
        assert state.status == "compensated"
        assert state.failure is not None and state.failure["reason"] == "customer asked"
        assert state.step("ship").status == "cancelled"
        refund = await h.runtime.store.get("refunds", "r-wait")
        assert refund is not None and refund.data == {"amount": 42}
        after = sagas(workers, "show", "r-wait")
        assert any(
            "ship" in r and "cancelled" in r and "customer asked" in r
            for r in after.stdout.splitlines()
        )
        one_line_error(
            sagas(workers, "cancel", "r-wait", APP), "is compensated: only a running one cancels"
        )
    assert workers.stop(worker) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "nope"], "no saga 'nope'; see `faaskit sagas list`"),
        (["retry", "nope", APP], "no saga 'nope'"),
        (["cancel", "nope", APP], "no saga 'nope'"),
        (["list", "--status", "done"], "--status 'done' is not a saga status; use one of: started"),
        (["list", "--since", "1y"], "--since '1y' is not a duration like 30s, 15m, 1h or 2d"),
        (["list", "--since", "0h"], "is not a duration"),
        (["retry", "nope", "no_such_module"], "cannot find app 'no_such_module'"),
    ],
)
def test_sagas_mistakes_print_one_line_and_exit_non_zero(
    workers: Workers, args: list[str], message: str
) -> None:
    one_line_error(sagas(workers, *args), message)
