"""The CQRS section of RESULTS.md: event sourcing vs the eventsourcing library, and search."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from results import Results, fmt_ms, fmt_ratio, fmt_rps, fmt_verdict
from results_cqrs import (
    EVENTSOURCING,
    FAASKIT,
    REFERENCE,
    SEARCH_AIM,
    TANTIVY,
    WORKLOADS,
    CqrsResults,
    SearchRow,
    SearchRun,
    aims,
    percentile,
    search_aims,
    search_ratios,
)

Table = Callable[[Sequence[str], Sequence[Sequence[str]]], list[str]]

METHOD = """\
- Both sides in-process on SQLite (WAL), each in its own fresh process and database files,
  the same workload: an `Order` aggregate with `OrderPlaced` and `ItemAdded` events
  (faaskit: `benchmarks/bench_apps.py` app `shop`, run by `benchmarks/cqrs.py`;
  eventsourcing: `benchmarks/es_side.py`, `PERSISTENCE_MODULE=eventsourcing.sqlite`).
- **(a)** faaskit: one invocation (`Runtime.invoke`, one unit of work) per new order:
  `order.place(...)`, `ctx.aggregates(Order).save(order)`, with 256 invocations in flight so
  their commits share SQLite group commits (that is what the worker and the HTTP gateway
  do under load). The one-at-a-time line shows a single caller awaiting each commit.
  eventsourcing: `app.save(Order(...))` per order, one after another (its application is
  synchronous; SQLite has one writer).
- **(b)** one aggregate, 100 saves of 100 events (the first save carries the creation
  event): faaskit one invocation per save, one after another; both sides keep the
  aggregate object in memory between saves (no reload).
- **Projection**: after (a) and (b), a projection of every `OrderPlaced` into a read-model
  record, catching up from the start of the log. faaskit: the app's `@app.projection`
  through the worker's `ProjectionRunner.catch_up()` (batches of 200 events, each batch one
  unit of work with its checkpoint; one document insert per event). eventsourcing: a
  `ProcessApplication` following the orders application that records an `OrderSummary`
  aggregate per `Order.Placed` (its read model, with the tracking record in the same
  transaction, one transaction per event), caught up with `pull_and_process` — what its
  system runners call when prompted; `topics` limits it to `Order.Placed`, as faaskit's
  `events=[OrderPlaced]` does.
- Durability: both at `synchronous=NORMAL` (faaskit's default; eventsourcing's connections
  are opened with `PRAGMA synchronous = NORMAL` by the benchmark). eventsourcing's own
  default is SQLite's `FULL` (an fsync per commit), shown on its own line for (a) with a
  fifth of the aggregates.
"""

SEARCH_METHOD = """\
- faaskit's search read model (`orders_view`: text = customer name, product names, city;
  filters = status, customer id; range = created_at; sort = created_at, total, status),
  seeded in-process through units of work of 500 document inserts, 8 in flight (the
  documents and their full-text rows commit together). SQLite: FTS5; PostgreSQL: tsvector +
  GIN, fresh schema.
- Then the queries through `ctx.documents(orders_view).search(...)`, in turn: 2-word text
  by relevance; a city word + status filter sorted by date; status filter + date range
  sorted by total (no text); one word, page 5 sorted by date. 20 per page; each query also
  counts its total. Each query has a deadline (SQLite: `interrupt()`, PostgreSQL:
  `statement_timeout`); a kind that misses it once is not run again (the rest counted as
  skipped), so a pathological plan cannot stall the run.
- "after ANALYZE" (SQLite, only when the default run timed out): the same queries after
  `ANALYZE` on the file (faaskit does not run it): what fixing the query plan would give.
- Filters, ranges and sorts read typed columns kept beside the full-text row (SQLite: a
  side table; PostgreSQL: columns of the search table), btree-indexed; counts on the search
  table alone; documents and highlights fetched for the page only. The first query of each
  kind runs before the timed ones: it fills the typed columns of the fields it uses from the
  documents (once per collection and field), makes the indexes of its shape (equality
  columns, then the sort or range columns), and on PostgreSQL vacuums and analyses the
  search table; its time is in the "first query" column.
- tantivy (`benchmarks/search_tantivy.py`, the embedded engine a user would pick instead):
  the same 100,000 orders (same generator and seed) in an in-memory index (text fields
  stored, positions; status raw; created_at a date and total a float fast field), indexed
  in one writer after faaskit's run in the same process, then the same queries with the
  same random choices: every word a prefix in any text field and all words required, the
  count, 20 hits with their stored fields, and highlights of the three text fields for the
  page (none for the query without text, as faaskit). The aim of issue 10: every kind's
  p50 within 15x of tantivy's in the same run, on both backends.
"""


def _events(results: CqrsResults, table: Table) -> list[str]:
    rows = []
    for row in results.events:
        rates = [fmt_rps(row.rate(workload)) for workload in WORKLOADS]
        rows.append([row.name, row.setup, *rates, row.error or ""])
        one = row.measured.get("create_one_by_one")
        if one is not None:
            rows.append([row.name, "(a) one invocation at a time", fmt_rps(one.per_s), "", "", ""])
    ours, theirs = results.row(FAASKIT), results.row(EVENTSOURCING)
    if ours and theirs:
        ratios = []
        for workload in WORKLOADS:
            mine, base = ours.rate(workload), theirs.rate(workload)
            ratios.append(f"**{fmt_ratio(mine / base if mine and base else None)}**")
        rows.append(["faaskit / eventsourcing", "", *ratios, ""])
    rows.append(["eventsourcing, earlier (issue)", "", *REFERENCE.values(), ""])
    return table(
        [
            "contender",
            "setup",
            "(a) events/s",
            "(b) events/s",
            "projection events/s",
            "error",
        ],
        rows,
    )


def _run_rows(row: SearchRow, label: str, run: SearchRun) -> list[list[str]]:
    lines = []
    for kind, latencies in run.latencies.items():
        missed = run.timeouts.get(kind, 0)
        note = f"1 timed out, {missed - 1} skipped" if missed else ""
        lines.append(
            [
                row.name,
                label,
                kind,
                str(len(latencies)),
                fmt_ms(percentile(latencies, 0.5)),
                fmt_ms(percentile(latencies, 0.99)),
                note,
            ]
        )
    every = run.all_latencies
    lines.append(
        [
            row.name,
            label,
            "**all kinds**",
            str(len(every)),
            f"**{fmt_ms(percentile(every, 0.5))}**",
            f"**{fmt_ms(percentile(every, 0.99))}**",
            f"{run.timed_out} kind(s) timed out" if run.timed_out else "",
        ]
    )
    return lines


def _search(results: CqrsResults, table: Table) -> list[str]:
    seeded = [
        [
            row.name,
            f"{row.documents:,}",
            f"{row.seed_seconds:.1f}" if row.seed_seconds else "—",
            fmt_rps(row.documents / row.seed_seconds) if row.seed_seconds else "—",
            row.error or "",
        ]
        for row in results.search
    ]
    lines = table(["backend", "documents", "seed s", "documents/s", "error"], seeded)
    rows: list[list[str]] = []
    for row in results.search:
        if row.default is not None:
            rows += _run_rows(row, "as faaskit runs it", row.default)
            if row.default.tantivy is not None:
                anchor = SearchRow(TANTIVY, row.documents)
                rows += _run_rows(anchor, f"same run as {row.name}", row.default.tantivy)
        if row.analyzed is not None:
            rows += _run_rows(row, "after ANALYZE", row.analyzed)
    lines += ["", *table(["backend", "plan", "query", "n", "p50 ms", "p99 ms", "note"], rows)]
    ratios = []
    for row in results.search:
        first = row.default.first_ms if row.default else {}
        for kind, mine, theirs, ratio in search_ratios(row):
            met = None if ratio is None else ratio <= SEARCH_AIM
            ratios.append(
                [
                    row.name,
                    kind,
                    fmt_ms(mine),
                    fmt_ms(theirs),
                    f"**{fmt_ratio(ratio)}**",
                    fmt_verdict(met),
                    fmt_ms(first.get(kind)),
                ]
            )
    if ratios:
        header = ["backend", "query", "faaskit p50 ms", "tantivy p50 ms", "ratio"]
        header += [f"≤ {SEARCH_AIM:g}x", "first query ms"]
        lines += ["", *table(header, ratios)]
    indexed = [
        r.default.tantivy.index_seconds for r in results.search if r.default and r.default.tantivy
    ]
    if any(seconds is not None for seconds in indexed):
        shown = ", ".join(f"{seconds:.1f} s" for seconds in indexed if seconds is not None)
        lines += ["", f"tantivy indexed the orders in {shown} (one writer, one commit)."]
    return lines


def section(results: Results, table: Table) -> list[str]:
    c = results.cqrs
    lines = ["## CQRS: event sourcing vs the eventsourcing library", "", METHOD.rstrip(), ""]
    if c.events:
        lines += [*_events(c, table), "", "Aims of the issue:", ""]
        lines += table(
            ["aim", "measured", "verdict"],
            [[aim, measured, fmt_verdict(met)] for aim, measured, met in aims(c)],
        )
        lines.append("")
    if c.search:
        documents = max((row.documents for row in c.search), default=0)
        lines += [f"### Search over {documents:,} projected orders", "", SEARCH_METHOD.rstrip()]
        lines += ["", *_search(c, table), ""]
        found = search_aims(c)
        if found:
            lines += ["Aims of the issue (search):", ""]
            lines += table(
                ["aim", "measured", "verdict"],
                [[aim, measured, fmt_verdict(met)] for aim, measured, met in found],
            )
            lines.append("")
    return lines
