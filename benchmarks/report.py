"""benchmarks/RESULTS.md from the results of one run (rewritten on every run)."""

from __future__ import annotations

from collections.abc import Sequence

import report_aims
import report_cqrs
import report_messaging
from load import PYTHON_LOADGEN
from results import (
    FAASKIT,
    FAASKIT_NO_METRICS,
    FAASKIT_NO_RECORDS,
    FAASKIT_TRACING,
    IMPORT_NOTES,
    REFERENCE,
    REFERENCE_IMPORT,
    STARLETTE,
    Results,
    fmt_ms,
    fmt_ratio,
    fmt_rounds,
    fmt_rps,
    fmt_verdict,
    hello_aims,
    import_aim,
    md_table,
    startup_aim,
)

NOTES = """\
- Every server runs with `FAASKIT_LOG_LEVEL=WARNING` (faaskit's per-request INFO line is
  off, as uvicorn's access log is off for every contender) and its own fresh `FAASKIT_HOME`.
- This is a shared 2-core machine: other workloads ran during the measurement, so single
  numbers move by several percent. The hello contenders are measured in interleaved rounds
  (A B C D, A B C D, ...) and each row shows the round with the median requests/s, so a
  slow minute hurts every contender alike; read the ratios, not the absolute numbers.
- Each hello app is written the way its documentation shows: Starlette's `JSONResponse`
  (stdlib `json`), FastAPI and Powertools return a dict, faaskit returns a dict (orjson).
  faaskit also does per request what the others do not: an `x-request-id` (a random id when
  the client sent none), a Context with a unit of work, and invocation metrics. Powertools'
  ASGI resolver sends no content-length, so uvicorn frames its answers as chunked.
- "raw ASGI (ceiling)" is a bare ASGI callable with no framework: what uvicorn itself can
  do here. The distance from it to a framework is what the framework costs per request.
- In the write runs the SQLite writer thread shares the server's core with the event loop;
  PostgreSQL's backends are not pinned and share both cores with the server and wrk.
- Write ids are uuid4 hex strings made by the handler, so every request inserts a new
  document. "rows in store" is counted after the server stopped; "2xx answered" counts the
  probe, warm-up and measured requests. Rows may exceed answers by up to one request per
  connection and wrk run (requests in flight when wrk stopped still commit); fewer rows
  than answers would mean an acknowledged write was lost.
- "reference (earlier)" quotes the issue: numbers measured before this harness existed,
  under conditions not recorded here. Absolute numbers differ from run to run on this
  shared machine; compare the ratios.
- faaskit is measured as the working tree stood at the run ("faaskit commit" above).
- Benchmarks are not tests: nothing here asserts a time; `make bench` regenerates this file.
"""


# --- RESULTS.md ---------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return md_table(header, rows)


def _machine_section(results: Results) -> list[str]:
    m, s = results.machine, results.settings
    versions = ", ".join(f"{name} {version}" for name, version in m.versions.items())
    lines = [
        f"- Date: {m.date}",
        f"- Machine: {m.cpu}, {m.cores} cores; load average before {m.load_before}, "
        f"after {m.load_after}",
        f"- Python {m.python}; {versions}",
    ]
    lines += [f"- {name}: {value}" for name, value in m.extra.items()]
    lines += [
        "",
        "## Method",
        "",
        f"- Load generator: **{s.tool}**, {s.connections} keep-alive connections, one thread; "
        f"{s.warmup:g} s warm-up (discarded), then {s.duration:g} s measured; "
        + (
            "requests/s, p50 and p99 from `wrk --latency`."
            if s.tool != PYTHON_LOADGEN
            else "requests/s, p50 and p99 from the client's own latency list."
        ),
        f"- Every server: its own process, `uvicorn {s.uvicorn}`; CPU pinning: {s.pinning}.",
        f"- HTTP protocol: {s.protocols}.",
        f"- Hello: {s.rounds} interleaved round(s) per contender; the row is the round with "
        "the median requests/s (all rounds listed).",
        "- Writes: `POST /items` with a JSON body through a faaskit handler that calls "
        "`ctx.documents(items).insert(uuid4, body)`; wrk posts with `benchmarks/post_items.lua`.",
        f'- Imports: median of {s.import_runs} runs each of `python -X importtime -c "import X"` '
        "(cumulative µs of the top-level module) and of the wall time of "
        '`python -c "import X"` minus `python -c "pass"`; one warm-up run first.',
        f"- Start-up: spawn uvicorn (same flags) and poll `GET /hello` every 2 ms on a new "
        f"connection until the first 200; median of {s.startup_runs}. faaskit's own modules "
        "load from cached bytecode like every other contender's (its server writes "
        "`__pycache__` for the editable source, which `PYTHONDONTWRITEBYTECODE` would skip).",
    ]
    if s.tool == PYTHON_LOADGEN:
        lines.append(
            "- **wrk was not available: these numbers come from the Python fallback "
            "client and are not comparable with wrk runs.**"
        )
    return lines


def _hello_section(results: Results) -> list[str]:
    rows = []
    for row in results.hello:
        r = row.median
        rows.append(
            [
                row.name,
                fmt_rps(r.rps if r else None),
                fmt_ms(r.p50_ms if r else None),
                fmt_ms(r.p99_ms if r else None),
                fmt_ratio(results.starlette_ratio(r)),
                fmt_rounds(row),
                str(r.errors) if r else row.error or "failed",
                REFERENCE.get(row.name, ""),
            ]
        )
    lines = ['## Hello: `GET /hello` → `{"message": "hello"}`', ""]
    lines += _table(
        [
            "contender",
            "req/s",
            "p50 ms",
            "p99 ms",
            "vs Starlette",
            "rounds req/s",
            "errors",
            "reference (earlier)",
        ],
        rows,
    )
    on, off = results.rps(FAASKIT), results.rps(FAASKIT_NO_RECORDS)
    if on and off:
        lines += [
            "",
            f"Invocation records (on by default) cost {1 - on / off:.1%} of hello's "
            f"throughput: {on:,.0f} req/s with them, {off:,.0f} without, in the same rounds.",
        ]
    unmetered = results.rps(FAASKIT_NO_METRICS)
    if on and unmetered:
        lines += [
            "",
            f"Metrics (on by default: invocations, durations, errors, cold starts, queue "
            f"gauges) cost {1 - on / unmetered:.1%} of hello's throughput: {on:,.0f} req/s "
            f"with them, {unmetered:,.0f} with `FAASKIT_METRICS=off`, in the same rounds.",
        ]
    traced = results.rps(FAASKIT_TRACING)
    if on and traced:
        lines += [
            "",
            f"Tracing (OpenTelemetry, a span per request through a `BatchSpanProcessor` into "
            f"an exporter that drops them) costs {1 - traced / on:.1%} of hello's throughput: "
            f"{traced:,.0f} req/s with it, {on:,.0f} without (faaskit's default: off), in the "
            "same rounds.",
        ]
    lines += ["", "Aims of the issue:", ""]
    lines += _table(
        ["aim", "measured", "verdict"],
        [[aim, measured, fmt_verdict(met)] for aim, measured, met in hello_aims(results)],
    )
    return lines


def _writes_section(results: Results) -> list[str]:
    faaskit_hello = results.rps(FAASKIT)
    rows = []
    for row in results.writes:
        r = row.median
        rows.append(
            [
                row.name,
                fmt_rps(r.rps if r else None),
                fmt_ms(r.p50_ms if r else None),
                fmt_ms(r.p99_ms if r else None),
                fmt_ratio(results.starlette_ratio(r)),
                fmt_ratio(r.rps / faaskit_hello if r and faaskit_hello else None),
                "—" if row.rows_written is None else f"{row.rows_written:,}",
                "—" if row.answered is None else f"{row.answered:,}",
                str(r.errors) if r else row.error or "failed",
            ]
        )
    lines = ["## Writes: `POST /items` → one document insert per request", ""]
    lines += _table(
        [
            "backend",
            "req/s",
            "p50 ms",
            "p99 ms",
            "vs Starlette hello",
            "vs faaskit hello",
            "rows in store",
            "2xx answered",
            "errors",
        ],
        rows,
    )
    return lines


def _imports_section(results: Results) -> list[str]:
    base = results.import_of("aws_lambda_powertools")
    rows = [
        [
            f"`{i.module}`",
            f"{i.importtime_ms:.1f}",
            f"{i.wall_ms:.1f}",
            fmt_ratio(i.importtime_ms / base.importtime_ms if base else None),
            REFERENCE_IMPORT.get(i.module, ""),
            IMPORT_NOTES.get(i.module, ""),
        ]
        for i in results.imports
    ]
    rows += [
        [f"`{module}`", "failed", error, "", "", ""]
        for module, error in results.import_errors.items()
    ]
    lines = ["## Import time", ""]
    lines += _table(
        [
            "module",
            "-X importtime ms",
            "wall - empty ms",
            "vs Powertools (importtime)",
            "reference (earlier)",
            "what",
        ],
        rows,
    )
    aim, measured, met = import_aim(results)
    lines += ["", "Aim of the issue:", ""]
    lines += _table(["aim", "measured", "verdict"], [[aim, measured, fmt_verdict(met)]])
    return lines


def _startup_section(results: Results) -> list[str]:
    base = next((r.median_ms for r in results.startup if r.name == STARLETTE), None)
    rows = [
        [
            row.name,
            fmt_ms(row.median_ms),
            fmt_ratio(row.median_ms / base if row.median_ms and base else None),
            " / ".join(f"{s * 1e3:.0f}" for s in row.seconds) or row.error or "failed",
        ]
        for row in results.startup
    ]
    lines = ["## Start-up: process spawn → first 200 on `GET /hello`", ""]
    lines += _table(["server", "median ms", "vs Starlette", "runs ms"], rows)
    aim, measured, met = startup_aim(results)
    lines += ["", "Aim of the issue:", ""]
    lines += _table(["aim", "measured", "verdict"], [[aim, measured, fmt_verdict(met)]])
    return lines


def _later_sections(results: Results) -> list[str]:
    """Messaging and CQRS, when this run measured them."""
    lines: list[str] = []
    m = results.messaging
    if m.throughput or m.latency or m.raw:
        lines += report_messaging.section(results, _table)
    if results.cqrs.events or results.cqrs.search:
        lines += report_cqrs.section(results, _table)
    return lines


def markdown(results: Results) -> str:
    lines = [
        "# faaskit benchmarks",
        "",
        "Generated by `make bench` (`benchmarks/run.py`); every run rewrites this file.",
        "",
        "## Machine",
        "",
        *_machine_section(results),
        "",
        *_hello_section(results),
        "",
        *_writes_section(results),
        "",
        *_imports_section(results),
        "",
        *_startup_section(results),
        "",
        *_later_sections(results),
        "## Notes",
        "",
        NOTES.rstrip(),
    ]
    if results.log:
        lines += ["", "## Run log", "", *(f"- {entry}" for entry in results.log)]
    return report_aims.refresh("\n".join(lines))
