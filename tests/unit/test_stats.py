"""``faaskit stats``: the invocation records summarised per function — count, error rate,
p50/p95/p99 duration, CPU share and cold-start share — as a table and as JSON."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from faaskit.observability.stats import percentile, summarize
from faaskit.store import create_store
from faaskit.store.protocol import InvocationRecord, RecordInvocations, WriteSet
from tests.unit.cli_run import faaskit


def record(
    function: str,
    duration: float,
    *,
    cpu: float = 0.0,
    cold: bool = False,
    outcome: str = "success",
    trigger: str = "http",
    ago: float = 10.0,
    init: float | None = None,
) -> InvocationRecord:
    started = time.time() - ago
    return InvocationRecord(function, trigger, started, duration, cpu, None, cold, init, outcome)


def test_percentiles_are_nearest_rank() -> None:
    ordered = [float(n) for n in range(1, 101)]
    assert (percentile(ordered, 0.5), percentile(ordered, 0.95), percentile(ordered, 0.99)) == (
        50.0,
        95.0,
        99.0,
    )
    assert percentile([7.0], 0.99) == 7.0


def test_a_summary_per_function_and_trigger() -> None:
    records = [record("get", 0.010 * n, cpu=0.005 * n) for n in range(1, 101)]
    records[0] = record("get", 0.010, cpu=0.005, cold=True, init=0.8)
    records += [record("get", 0.5, outcome="error"), record("on_paid", 0.2, trigger="message")]

    found = {(s.function, s.trigger): s for s in summarize(records)}

    get = found[("get", "http")]
    assert get.count == 101 and get.error_rate == pytest.approx(1 / 101)
    assert (get.p50, get.p99) == (pytest.approx(0.5), pytest.approx(0.99))  # 101 values
    assert get.cpu_share == pytest.approx(sum(0.005 * n for n in range(1, 101)) / (50.5 + 0.5))
    assert get.cold_share == pytest.approx(1 / 101) and get.init_p50 == 0.8
    assert found[("on_paid", "message")].count == 1
    assert next(s.function for s in summarize(records)) == "get"  # the busiest first


@pytest.fixture
def recorded(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'app.db'}"

    async def fill() -> None:
        store = create_store(url)
        await store.open()
        try:
            rows = [record("get", 0.01 * n) for n in range(1, 21)]
            rows += [record("old", 0.1, ago=7200), record("pay", 0.3, outcome="error")]
            await store.commit(WriteSet([RecordInvocations([r.row() for r in rows])]))
        finally:
            await store.close()

    asyncio.run(fill())
    return url


def test_stats_json_and_table(recorded: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = faaskit(capsys, "stats", "--database-url", recorded, "--json")
    assert (code, err) == (0, "")
    by_function = {row["function"]: row for row in json.loads(out)}
    assert sorted(by_function) == ["get", "pay"]  # "old" is outside the last hour
    assert by_function["get"]["count"] == 20 and by_function["get"]["p95"] == pytest.approx(0.19)
    assert by_function["pay"]["error_rate"] == 1.0

    code, out, _ = faaskit(capsys, "stats", "--database-url", recorded, "--since", "3h")
    assert code == 0 and "old" in out and "get" in out and "p99" in out

    code, out, _ = faaskit(
        capsys, "stats", "--database-url", recorded, "--function", "pay", "--json"
    )
    assert [row["function"] for row in json.loads(out)] == ["pay"]


def test_a_bad_window_is_one_line(recorded: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = faaskit(capsys, "stats", "--database-url", recorded, "--since", "soon")
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and "--since='soon'" in err
