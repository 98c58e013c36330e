"""The cold-start section: its part of RESULTS.md (spliced in, so it can be measured alone)
and its terminal table."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.table import Table as RichTable

from results import fmt_ratio
from results_coldstart import COMPARED, DIRECT, ColdRow, ColdRun, ColdStartResults

Table = Callable[[Sequence[str], Sequence[Sequence[str]]], list[str]]
PREFIX = "## Cold start of the shop"
"""What the section's heading starts with (how a run of it alone finds it to replace)."""
HEADING = f"{PREFIX}: process spawn → its first authenticated read"
IMPORT_WHAT = {
    "aws_lambda_powertools": "Powertools for AWS Lambda, the package",
    "chalice": "Chalice, the package",
}

METHOD = """\
- The request: {request} for the customer who placed the order; the gateway verifies the
  JWT (HS256, key from `FAASKIT_SECRET_JWT_SIGNING_KEY`), the handler reads the order from
  the read model and its saga, and it answers 200. A seeding process placed the order once
  (`faaskit.testing.AppHarness`: a user, an order, the projection and the saga drained) in a
  SQLite file; each sample starts on its own copy of that file (a new environment meeting a
  database that exists). Invocation records on and metrics on, as by default; log level
  WARNING.
- **Direct door**: a fresh `python benchmarks/coldstart_child.py` (pinned: {pinning}) does
  what faaskit's Lambda handler does in an environment's init phase: imports faaskit and the
  shop, builds the runtime and the gateway on a new event loop and awaits `runtime.start()`
  (store opened, keys loaded); then it sends the request through `Gateway.respond` once
  (the cold request: the first invocation of the process) and {warm} times more (warm). Each
  phase is timed from the spawn (`perf_counter` is `CLOCK_MONOTONIC`, one clock for the
  parent and the child).
- **HTTP**: `faaskit dev`'s server (`faaskit.serving.asgi_from_environment` under uvicorn
  with the flags above, its worker alongside) on a fresh process, polled from the spawn with
  the request itself on a new connection every 2 ms. A poll refused before the server
  listens never reaches it (uvicorn listens after the lifespan has started the runtime), so
  the first answered poll is the first request: "first request" is its connect + answer;
  warm are {warm} more, each on a new connection too.
- "prewarm": the same with `FAASKIT_PREWARM=1` (`faaskit dev --prewarm`: every
  `@app.resource` created at start).
- {samples} samples per variant, after one discarded round that compiles the `.pyc` files;
  the variants interleaved in an order that rotates every round; each cell is the median
  over the samples (the warm columns: the median of the samples' own p50 and p99).
- Beside them, in the same run and on the same core: the import time of Powertools and
  Chalice as the import-time section measures it (`benchmarks/imports.py`): the median
  cumulative `-X importtime` of the package, and the wall time of `python -c "import X"`
  minus an empty interpreter's ({empty} ms here).
"""


def _ms(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _over_empty(found: ColdStartResults, row: ColdRow) -> float | None:
    total = row.median(lambda run: run.total_ms)
    return total - found.empty_ms if total is not None and found.empty_ms is not None else None


def _first_over_warm(row: ColdRow) -> float | None:
    first, warm = row.median(lambda r: r.first_ms), row.median(lambda r: r.warm_p50_ms)
    return first / warm if first and warm else None


def _rows(found: ColdStartResults) -> list[list[str]]:
    phases: list[Callable[[ColdRun], float | None]] = [
        lambda r: r.interpreter_ms,
        lambda r: r.import_ms,
        lambda r: r.start_ms,
    ]
    rows = []
    for row in found.rows:
        total = row.median(lambda r: r.total_ms)
        rows.append(
            [
                row.door,
                "yes" if row.prewarm else "no",
                f"**{_ms(total)}**" if total is not None else "—",
                _ms(_over_empty(found, row)),
                *(_ms(row.median(phase)) for phase in phases),
                f"**{_ms(row.median(lambda r: r.first_ms), 2)}**" if row.runs else "—",
                _ms(row.median(lambda r: r.warm_p50_ms), 3),
                _ms(row.median(lambda r: r.warm_p99_ms), 3),
                fmt_ratio(_first_over_warm(row)),
                " / ".join(f"{run.total_ms:.0f}" for run in row.runs) or row.error or "failed",
            ]
        )
    return rows


def _import_rows(found: ColdStartResults) -> list[list[str]]:
    rows = [
        [
            f"`{i.module}`",
            f"{i.importtime_ms:.1f}",
            f"{i.wall_ms:.1f}",
            IMPORT_WHAT.get(i.module, ""),
        ]
        for i in found.imports
    ]
    rows += [[f"`{module}`", "failed", error, ""] for module, error in found.import_errors.items()]
    return rows


def summary(found: ColdStartResults) -> list[str]:
    """The sentences under the tables: the cold start against the imports beside it, cold
    against warm, prewarm against not."""
    lines: list[str] = []
    direct = found.row(DIRECT)
    over = _over_empty(found, direct) if direct else None
    imported = [found.import_of(module) for module in COMPARED]
    if direct and over is not None and all(imported):
        powertools, chalice = (i.wall_ms for i in imported if i is not None)
        lines.append(
            "A Lambda environment's init phase imports the handler: Powertools' import alone "
            f"takes {powertools:.1f} ms and Chalice's {chalice:.1f} ms (wall, over an empty "
            f"interpreter). The whole cold start of the shop through the direct door — faaskit "
            f"and the shop imported ({_ms(direct.median(lambda r: r.import_ms))} ms, "
            f"{found.routes or '?'} routes declared), the runtime started "
            f"({_ms(direct.median(lambda r: r.start_ms))} ms) and its first authenticated read "
            f"answered ({_ms(direct.median(lambda r: r.first_ms), 2)} ms) — takes {over:.1f} ms "
            f"over an empty interpreter: {fmt_ratio(over / powertools if powertools else None)} "
            f"Powertools' import and {fmt_ratio(over / chalice if chalice else None)} "
            "Chalice's, which serve nothing yet."
        )
    for row in found.rows:
        ratio = _first_over_warm(row)
        if not row.prewarm and ratio is not None:
            lines.append(
                f"{row.door}: the first request takes "
                f"{_ms(row.median(lambda r: r.first_ms), 2)} ms, {fmt_ratio(ratio)} a warm one "
                f"({_ms(row.median(lambda r: r.warm_p50_ms), 3)} ms)."
            )
    cold, prewarmed = found.row(DIRECT), found.row(DIRECT, prewarm=True)
    if cold and prewarmed and cold.runs and prewarmed.runs:
        with_it = prewarmed.median(lambda r: r.first_ms)
        without = cold.median(lambda r: r.first_ms)
        declared = (
            "the shop declares no `@app.resource`, so prewarm has nothing to create and "
            "the difference is noise"
            if found.resources == 0
            else f"the shop declares {found.resources} resource(s), created at start with it"
        )
        lines.append(
            f"`FAASKIT_PREWARM=1` (direct door): the first request takes {_ms(with_it, 2)} ms "
            f"with it, {_ms(without, 2)} ms without; {declared}."
        )
    return [line for sentence in lines for line in (sentence, "")]


def section(found: ColdStartResults, table: Table) -> list[str]:
    versions = ", ".join(f"{name} {version}" for name, version in found.versions.items())
    lines = [
        HEADING,
        "",
        f"- Measured: {found.date} on {found.machine}; load average before "
        f"{found.load_before}, after {found.load_after} (a shared 2-core machine: compare the "
        "rows of this run, not absolute numbers across runs)",
        f"- {versions}",
        METHOD.format(
            request=found.request,
            pinning=found.pinning,
            warm=found.warm_requests,
            samples=found.samples,
            empty=_ms(found.empty_ms),
        ).rstrip(),
        *(f"- {note}" for note in found.notes),
        "",
    ]
    lines += table(
        [
            "door",
            "prewarm",
            "spawn → first answer ms",
            "over an empty interpreter ms",
            "interpreter ms",
            "import faaskit + shop ms",
            "start ms",
            "first request ms",
            "warm p50 ms",
            "warm p99 ms",
            "first / warm",
            "samples ms (spawn → first answer)",
        ],
        _rows(found),
    )
    lines += ["", "Imports in the same run:", ""]
    lines += table(["module", "-X importtime ms", "wall - empty ms", "what"], _import_rows(found))
    return [*lines, "", *summary(found)]


def terminal_table(found: ColdStartResults) -> RichTable | None:
    if not found.rows:
        return None
    table = RichTable(title="Cold start of the shop (medians)")
    for column in ("door", "spawn → first ms", "first ms", "warm p50 ms", "first / warm"):
        table.add_column(column, justify="left" if column == "door" else "right")
    for row in found.rows:
        table.add_row(
            row.name,
            _ms(row.median(lambda r: r.total_ms)) if not row.error else f"failed: {row.error[:40]}",
            _ms(row.median(lambda r: r.first_ms), 2),
            _ms(row.median(lambda r: r.warm_p50_ms), 3),
            fmt_ratio(_first_over_warm(row)),
        )
    for i in found.imports:
        table.add_row(f"import {i.module} (wall - empty)", _ms(i.wall_ms), "", "", "")
    return table
