"""benchmarks/report.py and report_aims.py: the summary of issue 10's aims at the top of
RESULTS.md agrees with the sections' verdict rows, after a full report and after a section
measured alone is spliced in (nothing here measures anything)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.append(str(BENCHMARKS))  # the benchmarks import each other by module name

import report  # noqa: E402
import report_aims  # noqa: E402
import report_coldstart  # noqa: E402
import report_messaging  # noqa: E402
import results_aims  # noqa: E402
from imports import ImportTime  # noqa: E402
from load import LoadResult  # noqa: E402
from results import (  # noqa: E402
    FAASKIT_TRACING,
    HttpRow,
    Machine,
    Results,
    Settings,
    StartupRow,
    splice,
)
from results_adapters import AdapterResults  # noqa: E402
from results_coldstart import DIRECT, HTTP, ColdRow, ColdRun, ColdStartResults  # noqa: E402
from results_cqrs import EVENTSOURCING, EventsRow, Measured, SearchRow, SearchRun  # noqa: E402
from results_cqrs import FAASKIT as FAASKIT_EVENTS  # noqa: E402
from results_messaging import RAW_SQLITE, RawRow, ThroughputRow  # noqa: E402
from results_sagas import SagaResults  # noqa: E402

KINDS = ("text", "text + filter", "filter + range", "page 5")


def _load(rps: float) -> LoadResult:
    return LoadResult("wrk", int(rps * 10), 10.0, rps, 1.0, 2.0, 0)


def _search(name: str, faaskit_ms: tuple[float, ...], tantivy_ms: tuple[float, ...]) -> SearchRow:
    """Each query kind's p50 in ms, faaskit's and tantivy's."""

    def run(p50s: tuple[float, ...]) -> SearchRun:
        return SearchRun(
            {kind: [ms] * 5 for kind, ms in zip(KINDS, p50s, strict=True)},
            dict.fromkeys(KINDS, 0),
            dict.fromkeys(KINDS, 1),
        )

    default = run(faaskit_ms)
    default.tantivy = run(tantivy_ms)
    return SearchRow(name, 100_000, 10.0, default)


def _throughput(contender: str, backend: str, per_s: float, round_: int = 0) -> ThroughputRow:
    # publishing takes no time worth counting: end to end ≈ drained
    return ThroughputRow(contender, backend, 1, 10_000, 1e-9, 10_000 / per_s, round=round_)


def synthetic() -> Results:
    """A run shaped like RESULTS.md at 706835f (the SQLite search's text + filter 17x)."""
    machine = Machine("today", "cpu", 2, "3.11", {}, "0 0 0")
    settings = Settings(32, 2.0, 10.0, 1, 7, 5, "wrk", "none", "uvicorn")
    found = Results(machine, settings)
    found.hello = [HttpRow("Starlette", [_load(28_000)]), HttpRow("faaskit", [_load(27_000)])]
    found.imports = [
        ImportTime("faaskit", 2.3, 2.1, 7),
        ImportTime("aws_lambda_powertools", 32.6, 38.0, 7),
    ]
    found.startup = [StartupRow("Starlette", [0.124]), StartupRow("faaskit", [0.137])]
    m = found.messaging
    m.throughput = [
        _throughput("faaskit", "SQLite", 14_212),
        _throughput("faaskit", "PostgreSQL", 5_556, 1),
        _throughput("PgQueuer (batch_size=100)", "PostgreSQL", 4_072, 1),
        _throughput("Celery", "Redis", 728, 1),
    ]
    m.raw = [RawRow(RAW_SQLITE, "", 279_187, 1.0)]
    rates = {"create": 24_670, "batch": 84_000, "projection": 47_318}
    theirs = {"create": 12_045, "batch": 61_164, "projection": 7_001}
    found.cqrs.events = [
        EventsRow(FAASKIT_EVENTS, "", {k: Measured(v, 1.0) for k, v in rates.items()}),
        EventsRow(EVENTSOURCING, "", {k: Measured(v, 1.0) for k, v in theirs.items()}),
    ]
    found.cqrs.search = [
        _search("faaskit + SQLite", (10.8, 6.68, 1.1, 4.5), (0.74, 0.38, 0.57, 0.40)),
        _search("faaskit + PostgreSQL", (5.0, 5.5, 5.2, 5.4), (0.76, 0.41, 0.59, 0.43)),
    ]
    return found


def summary_rows(markdown: str) -> dict[str, list[str]]:
    """The summary table's rows by aim: [ratio, verdict, section]."""
    lines = markdown.split("\n")
    start = lines.index(report_aims.HEADING)
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("## "))
    rows = [line[2:-2].split(" | ") for line in lines[start:end] if line.startswith("| ")]
    return {row[0]: row[1:] for row in rows[1:]}  # after the header


def test_summary_holds_every_aim_of_issue_10_with_its_ratio_and_verdict() -> None:
    text = report.markdown(synthetic())
    rows = summary_rows(text)

    assert list(rows) == [aim.summary for aim in results_aims.ALL]
    assert rows[results_aims.SQLITE_RAW.summary] == ["5.1%", "**not met**", "Messaging"]
    assert rows[results_aims.PGQUEUER.summary][:2] == ["1.36x", "**not met**"]
    assert rows[results_aims.CELERY_ONE_WORKER.summary][:2] == ["7.63x", "**met**"]
    assert rows[results_aims.EVENTS_CREATE.summary][:2] == ["2.05x", "**met**"]
    assert rows[results_aims.EVENTS_BATCH.summary][:2] == ["1.37x", "**not met**"]
    sqlite, postgres = results_aims.SEARCH_AIMS.values()
    assert rows[sqlite.summary][:2] == ["17.58x", "**not met**"]  # the worst kind
    assert rows[postgres.summary][:2] == ["13.41x", "**met**"]
    assert rows[results_aims.IMPORT.summary][:2] == ["0.07x / 0.06x", "**met**"]
    assert rows[results_aims.STARTUP.summary][:2] == ["1.10x", "**met**"]
    assert rows[results_aims.HELLO.summary][:2] == ["0.96x", "**met**"]
    assert rows[results_aims.PROJECTION.summary][:2] == ["6.76x", "**met**"]
    # near the top: before the first section, and each row comes from its section's table
    assert text.index(report_aims.HEADING) < text.index("## Machine")
    assert f"| {results_aims.STARTUP.row} | " in text


def test_summary_follows_a_section_measured_alone() -> None:
    text = report.markdown(synthetic())
    faster = synthetic()
    faster.messaging.throughput[0] = _throughput("faaskit", "SQLite", 40_000)

    spliced = splice(text, "## Messaging", report_messaging.section(faster, report._table))

    rows = summary_rows(spliced)
    assert rows[results_aims.SQLITE_RAW.summary][:2] == ["14.3%", "**met**"]
    assert rows[results_aims.STARTUP.summary][:2] == ["1.10x", "**met**"]  # kept as it was
    assert spliced.count(report_aims.HEADING) == 1
    assert report_aims.refresh(spliced) == spliced


@pytest.mark.parametrize("dropped", ["## Messaging", "## CQRS"])
def test_an_aim_whose_section_is_missing_says_so(dropped: str) -> None:
    text = report.markdown(synthetic())
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(dropped))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("## "))

    rows = summary_rows(report_aims.refresh("\n".join(lines[:start] + lines[end:])))

    section = results_aims.MESSAGING if dropped == "## Messaging" else results_aims.CQRS
    missing = [aim.summary for aim in results_aims.ALL if aim.section == section]
    assert missing
    assert all(rows[aim] == ["—", report_aims.NOT_MEASURED, section] for aim in missing)
    assert rows[results_aims.HELLO.summary][1] == "**met**"


def test_a_search_kind_that_timed_out_fails_the_search_aim() -> None:
    found = synthetic()
    postgres = found.cqrs.search[1].default
    assert postgres is not None
    postgres.timeouts["page 5"] = 3  # every ratio of the others stays within 15x

    rows = summary_rows(report.markdown(found))

    aim = results_aims.SEARCH_AIMS["faaskit + PostgreSQL"]
    assert rows[aim.summary][:2] == ["13.41x", "**not met**"]


# -- hello: what tracing costs ------------------------------------------------------------


def test_hello_says_what_tracing_costs_in_the_same_rounds() -> None:
    found = synthetic()
    found.hello.append(HttpRow(FAASKIT_TRACING, [_load(24_300)]))

    text = report.markdown(found)

    assert "Tracing (OpenTelemetry" in text
    assert "costs 10.0% of hello's throughput: 24,300 req/s with it, 27,000 without" in text


def test_hello_says_nothing_of_tracing_when_its_contender_failed() -> None:
    found = synthetic()
    found.hello.append(HttpRow(FAASKIT_TRACING, error="the server exited with 1"))

    assert "Tracing (OpenTelemetry" not in report.markdown(found)


# -- the cold start of the shop -----------------------------------------------------------


def _cold(total: float, first: float, warm: float, *, direct: bool = True) -> ColdRun:
    if not direct:
        return ColdRun(total, first, warm, warm * 2)
    return ColdRun(total, first, warm, warm * 2, 20.0, total - 120.0, 100.0 - first)


def cold_synthetic() -> ColdStartResults:
    """Three samples per variant; Powertools' and Chalice's imports of the same run."""
    found = ColdStartResults(samples=3, warm_requests=200, routes=20, resources=0)
    found.request = "`GET /orders/{id}`"
    found.empty_ms = 25.0
    found.rows = [
        ColdRow(DIRECT, False, [_cold(t, 1.6, 0.2) for t in (500.0, 480.0, 700.0)]),
        ColdRow(DIRECT, True, [_cold(t, 1.5, 0.2) for t in (490.0, 470.0, 690.0)]),
        ColdRow(HTTP, False, [_cold(t, 2.4, 0.8, direct=False) for t in (520.0, 510.0, 530.0)]),
        ColdRow(HTTP, True, error="the server exited with 3 before answering"),
    ]
    found.imports = [
        ImportTime("aws_lambda_powertools", 63.0, 71.0, 7),
        ImportTime("chalice", 33.0, 36.0, 7),
    ]
    return found


def test_the_cold_start_section_puts_the_shop_beside_the_imports_of_the_same_run() -> None:
    lines = report_coldstart.section(cold_synthetic(), report._table)
    text = "\n".join(lines)

    direct = next(line for line in lines if line.startswith(f"| {DIRECT} | no |"))
    cells = direct[2:-2].split(" | ")
    # spawn → first answer (median), over the empty interpreter, the phases, first, warm
    assert cells[2:8] == ["**500.0**", "475.0", "20.0", "380.0", "98.4", "**1.60**"]
    assert cells[8:11] == ["0.200", "0.400", "8.00x"]
    assert cells[11] == "500 / 480 / 700"
    http = next(line for line in lines if line.startswith(f"| {HTTP} | no |"))
    assert http[2:-2].split(" | ")[4:7] == ["—", "—", "—"]  # phases inside the server
    failed = next(line for line in lines if line.startswith(f"| {HTTP} | yes |"))
    assert "the server exited with 3" in failed
    assert "| `aws_lambda_powertools` | 63.0 | 71.0 |" in text
    assert "Powertools' import alone takes 71.0 ms and Chalice's 36.0 ms" in text
    assert "takes 475.0 ms over an empty interpreter: 6.69x Powertools' import" in text
    assert "13.19x Chalice's" in text
    assert "the first request takes 1.60 ms, 8.00x a warm one (0.200 ms)" in text
    assert "1.50 ms with it, 1.60 ms without; the shop declares no `@app.resource`" in text


def test_the_cold_start_section_without_imports_leaves_out_the_comparison() -> None:
    found = cold_synthetic()
    found.imports = []
    found.import_errors = {"chalice": "No module named 'chalice'"}

    text = "\n".join(report_coldstart.section(found, report._table))

    assert "Powertools' import alone" not in text
    assert "| `chalice` | failed | No module named 'chalice' |" in text


def test_a_cold_start_run_alone_replaces_only_its_section(tmp_path: Path) -> None:
    import run

    output = tmp_path / "RESULTS.md"
    output.write_text(report.markdown(synthetic()))
    options = run.parse_options(["--only", "coldstart", "--output", str(output)])
    found = synthetic()
    found.hello, found.coldstart = [], cold_synthetic()

    once = run.markdown(options, found, AdapterResults(), SagaResults())
    output.write_text(once)
    found.coldstart.rows[0].runs = [_cold(900.0, 3.0, 0.3)]
    twice = run.markdown(options, found, AdapterResults(), SagaResults())

    assert once.count(report_coldstart.PREFIX) == twice.count(report_coldstart.PREFIX) == 1
    assert once.index(report_coldstart.PREFIX) < once.index("## Notes")
    assert "| faaskit | 27,000 |" in twice  # the hello section of the file, kept
    assert f"| {DIRECT} | no | **900.0** |" in twice
    assert "**500.0**" not in twice.split(report_coldstart.PREFIX)[1].split("## ")[0]
