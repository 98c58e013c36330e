"""The sagas section: its part of RESULTS.md (spliced in, so it can be measured alone) and
its terminal tables."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.table import Table as RichTable

from results import fmt_ratio, fmt_verdict
from results_sagas import (
    BACKENDS,
    CONTENDERS,
    DBOS,
    FAASKIT,
    REFERENCE,
    REFERENCE_IMPORT_MS,
    SQLITE,
    Row,
    SagaResults,
    aims,
)

Table = Callable[[Sequence[str], Sequence[Sequence[str]]], list[str]]
HEADING = "## Sagas: a 4-step saga of trivial steps, faaskit vs DBOS Transact"

METHOD = """\
- The saga: 4 steps, each returning a small dict (`{{"step": i, "n": n}}`), no
  compensation. faaskit: `app.saga("four")` with four `@saga.step` actions, started by an
  invocation (`runtime.invoke` of a handler calling `ctx.start_saga`, which commits the
  saga's state and its first step's delivery) and run by a `Worker` (default settings,
  concurrency 64) sharing the process and event loop, as `faaskit dev` runs it. DBOS: four
  `@DBOS.step()` functions called in turn by a `@DBOS.workflow()`, started with
  `DBOS.start_workflow` and awaited with the handle's `get_result()` (its executor threads).
  SQLite: a fresh file (faaskit: WAL, `synchronous=normal`, its default; DBOS: its
  `system_database_url: sqlite:///...`). PostgreSQL: a fresh database per run (the same
  server for both; DBOS's tables in its `dbos` schema).
- Each run is a child process of one contender on one backend: {warmup} sagas of warm-up,
  then **(a) sequential**: {sequential} sagas one at a time, the latency from the start call
  to completed (faaskit: the commit that writes the saga's `completed` state returns;
  DBOS: `get_result()` returns), sagas/s = sagas / the phase's wall time; then **(b) in
  flight**: {inflight} sagas started at once (faaskit: {inflight} starting invocations
  gathered; DBOS: {inflight} `start_workflow` calls), sagas/s = {inflight} / (first start
  to last completed). {rounds} rounds; in each, both contenders on both backends, their
  order alternating from round to round; sagas/s is the median round, the ratio the median
  of the per-round ratios, the percentiles over every round's samples.
- **Commits per saga**, counted inside the process, per phase: faaskit wraps its store's
  writing methods (`commit` — one unit of work: the starting invocation, or a step's
  transition with its delivery's ack and the next step's delivery — and `claim`, `retry`,
  `release`, `dead_letter`), each one transaction on PostgreSQL; on SQLite the row counts
  the group-commit writer's `BEGIN IMMEDIATE … COMMIT` transactions (units of work that
  wait together share one). DBOS: SQLAlchemy's engine `commit` events. On PostgreSQL both
  are checked against the server: `pg_stat_database.xact_commit` of the run's own
  database over the whole child (reads outside a transaction, schema set-up and idle
  polling included), minus that of a child that starts and stops with no saga, divided by
  the sagas the run ran (warm-up, sequential and in flight together).
- Import: `python -c` timing `{faaskit_import}` vs `{dbos_import}` with `perf_counter`
  inside a fresh interpreter; one discarded run each (compiles `.pyc`), then {samples}
  samples each, alternating; the median.
"""


def _n(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _spread(values: list[float]) -> str:
    return " / ".join(f"{v:,.0f}" for v in values) or "—"


def _speed_rows(found: SagaResults) -> list[list[str]]:
    rows = []
    for backend in BACKENDS:
        for contender in CONTENDERS:
            row = found.row(contender, backend)
            if row is None:
                continue
            ours = contender == FAASKIT
            earlier = {key: REFERENCE.get((backend, key), "—") for key in ("per_s", "p50", "p99")}
            reference = (
                f"{earlier['per_s']}/s, p50 {earlier['p50']}, p99 {earlier['p99']}"
                if contender == DBOS
                else ""
            )
            rows.append(
                [
                    row.name,
                    f"**{_n(row.sequential_per_s)}**",
                    _n(row.latency(0.5), 1),
                    _n(row.latency(0.99), 1),
                    fmt_ratio(found.ratio(backend, "sequential")) if ours else "",
                    f"**{_n(row.inflight_per_s)}**",
                    fmt_ratio(found.ratio(backend, "inflight")) if ours else "",
                    f"{_spread(row.sequential_rates)} · {_spread(row.inflight_rates)}",
                    reference,
                    row.error or "",
                ]
            )
    return rows


def _commit_rows(found: SagaResults) -> list[list[str]]:
    rows = []
    for backend in BACKENDS:
        for contender in CONTENDERS:
            row = found.row(contender, backend)
            if row is None or not row.runs:
                continue
            rows.append(
                [
                    row.name,
                    f"**{_n(row.commits('sequential'), 2)}**",
                    f"**{_n(row.commits('inflight'), 2)}**",
                    _n(row.units("sequential"), 2) if contender == FAASKIT else "",
                    _n(row.units("inflight"), 2) if contender == FAASKIT else "",
                    _n(row.xact_per_saga, 2) if backend != SQLITE else "",
                    _breakdown(row, "sequential"),
                    _breakdown(row, "inflight"),
                ]
            )
    return rows


def _breakdown(row: Row, phase: str) -> str:
    counts = row.counts(phase)
    shown = [
        f"{key} {value:.2f}"
        for key, value in sorted(counts.items())
        if not key.endswith("µs") and value
    ]
    return ", ".join(shown) or "—"


def _where_rows(found: SagaResults) -> list[list[str]]:
    """faaskit, sequential: each store method's calls and time awaited per saga."""
    rows = []
    for backend in BACKENDS:
        row = found.row(FAASKIT, backend)
        if row is None or not row.runs:
            continue
        counts = row.counts("sequential")
        latency = row.latency(0.5)
        per_saga_ms = 1e3 / row.sequential_per_s if row.sequential_per_s else None
        awaited = 0.0
        for name in ("commit", "claim"):
            calls = counts.get(name, 0.0)
            ms = counts.get(f"{name} µs", 0.0) / 1e3
            awaited += ms
            empty = counts.get("claim (empty)", 0.0) if name == "claim" else None
            note = "" if empty is None else f" ({empty:.2f} found nothing)"
            rows.append([row.name, f"store.{name}", f"{calls:.2f}{note}", f"{ms:.2f}"])
        rows.append(
            [
                row.name,
                "both, summed (they overlap: the worker's next claim runs while a step's "
                "commit is in flight, so the sum can exceed the wall time)",
                "",
                _n(awaited, 2),
            ]
        )
        rows.append(
            [
                row.name,
                "**one saga (wall / p50 latency)**",
                "",
                f"{_n(per_saga_ms, 2)} / {_n(latency, 2)}",
            ]
        )
    return rows


def section(found: SagaResults, table: Table) -> list[str]:
    versions = ", ".join(f"{name} {version}" for name, version in found.versions.items())
    lines = [
        HEADING,
        "",
        f"- Measured: {found.date} on {found.machine}; load average before "
        f"{found.load_before}, after {found.load_after} (a shared 2-core machine where "
        "others run tests: the interleaving keeps the ratios fair, not the absolute numbers)",
        f"- {versions}; DBOS installed with faaskit's own venv (`pip install --dry-run` "
        "showed it adds SQLAlchemy and greenlet and changes no package faaskit uses)",
        METHOD.format(
            warmup=found.warmup,
            sequential=found.sequential,
            inflight=found.inflight,
            rounds=found.rounds,
            samples=len(found.imports[0].samples_ms) if found.imports else 0,
            faaskit_import="import faaskit, faaskit.sagas",
            dbos_import="import dbos",
        ).rstrip(),
        *(f"- {note}" for note in found.notes),
        "",
        "### Sagas per second and latency",
        "",
    ]
    lines += table(
        [
            "contender",
            "(a) sequential sagas/s",
            "p50 ms",
            "p99 ms",
            "vs DBOS",
            "(b) in flight sagas/s",
            "vs DBOS",
            "rounds /s (a) · (b)",
            "DBOS measured earlier (issue)",
            "error",
        ],
        _speed_rows(found),
    )
    lines += ["", "### Commits per saga", ""]
    lines += table(
        [
            "contender",
            "(a) sequential",
            "(b) in flight",
            "faaskit store writes (a)",
            "faaskit store writes (b)",
            "server xact_commit per saga",
            "counted per saga (a)",
            "counted per saga (b)",
        ],
        _commit_rows(found),
    )
    lines += [
        "",
        "### Where faaskit's time goes, (a) sequential, per saga",
        "",
        "Calls of each store method per saga and the milliseconds awaited in them (the",
        "round trip, the SQLite writer's queue and PostgreSQL's WAL flush at commit",
        "included). The start is one commit, and the worker's claim takes the first step;",
        "every step after is one commit — its transition, the ack and the next step's",
        "delivery, which the same commit leases for the worker (no claim of its own).",
        "",
    ]
    lines += table(["run", "what", "calls per saga", "ms per saga"], _where_rows(found))
    lines += ["", "### Import", ""]
    import_rows = []
    for row in found.imports:
        import_rows.append(
            [
                f"`{row.statement}`",
                f"**{_n(row.median_ms, 0)}**",
                " / ".join(f"{v:.0f}" for v in row.samples_ms),
                f"{REFERENCE_IMPORT_MS}" if row.name == DBOS else "",
                row.error or "",
            ]
        )
    lines += table(
        ["import", "median ms", "samples ms", "measured earlier (issue)", "error"], import_rows
    )
    lines += ["", "Aims of the issue:", ""]
    lines += table(
        ["aim", "measured", "verdict"],
        [[aim, measured, fmt_verdict(met)] for aim, measured, met in aims(found)],
    )
    return [*lines, ""]


# --- the terminal -------------------------------------------------------------------------


def terminal_tables(found: SagaResults) -> list[RichTable]:
    if not found.rows:
        return []
    speed = RichTable(title="Sagas: 4 trivial steps (median round)")
    columns = ("contender", "seq /s", "p50 ms", "p99 ms", "vs DBOS", "in flight /s", "vs DBOS")
    columns += ("commits (a)", "commits (b)", "xact/saga")
    for column in columns:
        speed.add_column(column, justify="left" if column == "contender" else "right")
    for backend in BACKENDS:
        for contender in CONTENDERS:
            row = found.row(contender, backend)
            if row is None:
                continue
            ours = contender == FAASKIT
            speed.add_row(
                row.name,
                _n(row.sequential_per_s) if not row.error else f"failed: {row.error[:40]}",
                _n(row.latency(0.5), 1),
                _n(row.latency(0.99), 1),
                fmt_ratio(found.ratio(backend, "sequential")) if ours else "",
                _n(row.inflight_per_s),
                fmt_ratio(found.ratio(backend, "inflight")) if ours else "",
                _n(row.commits("sequential"), 2),
                _n(row.commits("inflight"), 2),
                _n(row.xact_per_saga, 2),
            )
    imports = RichTable(title="Sagas: import (median ms)")
    for column in ("import", "ms"):
        imports.add_column(column)
    for imported in found.imports:
        imports.add_row(
            imported.statement,
            _n(imported.median_ms) if not imported.error else imported.error[:40],
        )
    aim_table = RichTable(title="Sagas: aims")
    for column in ("aim", "measured", "verdict"):
        aim_table.add_column(column)
    for aim, measured, met in aims(found):
        aim_table.add_row(aim, measured, fmt_verdict(met).strip("*"))
    return [speed, imports, aim_table]
