"""The adapters section: its part of RESULTS.md (spliced in, so it can be measured alone)
and its terminal tables."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Group
from rich.table import Table as RichTable

import display as terminal
from adapters import spread
from results import Results, fmt_ratio, fmt_verdict
from results_adapters import BARE, REFERENCE_US, AdapterResults, aims

Table = Callable[[Sequence[str], Sequence[Sequence[str]]], list[str]]
HEADING = "## Adapters: a Lambda HTTP event in-process → JSON hello → the answer"
COLD_HEADING = "### Cold-start proxy: a fresh interpreter imports the handler, serves one event"

DOES = {
    "faaskit": "event → gateway, directly (routing, validation, auth check, problem+json, "
    "security headers, x-request-id, Context + unit of work, metrics) → answer",
    "Powertools": "event → routing → JSON answer",
    "Chalice": "event → routing → JSON answer",
    "Mangum + Starlette": "event → ASGI → Starlette routing → answer",
    "bare function (floor)": "returns a fixed answer (`json.dumps`)",
}

METHOD = """\
- Each contender is a handler module written into a work folder, as a user would deploy
  it, serving `GET /hello` → `{{"message": "hello"}}` (the apps as their documentation shows
  them): faaskit's is the handler module `faaskit package --target aws-sam` writes
  (`handler = lambda_handler(app)`, then `handler.start()` at module scope: the runtime,
  the gateway and opening the store happen in the import, Lambda's init phase; the app
  in its own module; SQLite store in the work folder); Powertools `APIGatewayHttpResolver` and
  `app.resolve(event, context)`; Chalice `app(event, context)`; `Mangum(starlette_app,
  lifespan="off")` over a bare Starlette app; a bare function returning a fixed answer
  (the floor: what calling a handler costs on this machine).
- The event: Powertools' HTTP API (payload 2.0) sample event
  (`tests/fixtures/aws/powertools-apiGatewayProxyV2Event.json`) as `GET /hello`, with its
  cookies, query string, JWT authorizer and stage variables, and the headers API Gateway
  adds (host, user-agent, x-forwarded-*, x-amzn-trace-id, ...); a context object with the
  fields the runtime gives (`aws_request_id`, `get_remaining_time_in_millis()`, ...).
  **Chalice takes only REST API proxy (payload 1.0) events**, so it gets Powertools'
  REST sample event as `GET /hello` with the same headers.
- **Per event**: one child process (not pinned to a core) imports every handler, checks each
  answer once (status 200, the JSON body; and that the handler leaves the event as it
  was, since the same event object is reused), warms each up, then times {events:,} calls
  per contender per round, {rounds} rounds, the contenders interleaved in an order that
  rotates every round (`gc.collect()` before each contender's batch). The row is the median
  round; "vs Powertools" is the median over rounds of the two contenders' ratio in the same
  round; "over the floor" the median of (µs - the bare function's µs) in the same round.
- **Cold-start proxy**: per sample a fresh `python -c` (pinned: {pinning}) loads `json`, reads
  the event and builds the context (as the Lambda runtime has done before it imports a
  handler), then times with `perf_counter` the import of the handler module and the first
  event, separately; each sample a fresh, empty faaskit store folder (a new environment's
  `/tmp`). One discarded run per contender first (compiles the `.pyc` files, which every
  contender then loads: `PYTHONDONTWRITEBYTECODE` is dropped for these runs, so faaskit's
  bytecode is cached as pip caches the others'), then
  {samples} samples each, interleaved across contenders; the medians.
- faaskit's import therefore includes its start-up: the runtime, the gateway's import
  (pydantic among it) and opening (here: creating) the SQLite store. Without
  `handler.start()` at module scope the first event would pay that instead.
"""


def _us(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _dispatch_rows(found: AdapterResults) -> list[list[str]]:
    rows = []
    for row in found.dispatch:
        median = row.median_us
        rows.append(
            [
                row.name,
                row.event,
                f"**{_us(median)}**" if median is not None else "—",
                fmt_ratio(found.ratio(row.name)),
                "—" if row.name == BARE else _us(found.over_floor_us(row.name)),
                spread(row.rounds_us),
                REFERENCE_US.get(row.name, ""),
                row.error or DOES.get(row.name, ""),
            ]
        )
    return rows


def _cold_rows(found: AdapterResults) -> list[list[str]]:
    rows = []
    for row in found.cold:
        rows.append(
            [
                row.name,
                _ms(row.median_import_ms),
                _ms(row.median_first_ms),
                f"**{_ms(row.median_total_ms)}**" if row.median_total_ms else "—",
                fmt_ratio(found.cold_ratio(row.name, "import")),
                fmt_ratio(found.cold_ratio(row.name, "total")),
                " / ".join(
                    f"{a:.0f}+{b:.0f}" for a, b in zip(row.import_ms, row.first_ms, strict=True)
                ),
                row.error or "",
            ]
        )
    return rows


def section(found: AdapterResults, table: Table) -> list[str]:
    versions = ", ".join(f"{name} {version}" for name, version in found.versions.items())
    lines = [
        HEADING,
        "",
        f"- Measured: {found.date} on {found.machine}; load average before "
        f"{found.load_before}, after {found.load_after} (a shared 2-core machine, where other "
        "work may run: the interleaving keeps the ratios fair, not the absolute numbers)",
        f"- {versions}",
        METHOD.format(
            pinning=found.pinning,
            events=found.events_per_round,
            rounds=found.rounds,
            samples=found.samples,
        ).rstrip(),
        *(f"- {note}" for note in found.notes),
        "",
        "### Per-event dispatch, warm",
        "",
    ]
    lines += table(
        [
            "contender",
            "event",
            "µs/event",
            "vs Powertools",
            "over the floor µs",
            "rounds µs min / median / max",
            "reference µs (earlier)",
            "what it does per event, or error",
        ],
        _dispatch_rows(found),
    )
    lines += [
        "",
        "### Cold-start proxy: a fresh interpreter imports the handler, serves one event",
        "",
    ]
    lines += table(
        [
            "contender",
            "import ms",
            "first event ms",
            "import + first ms",
            "import vs Powertools",
            "total vs Powertools",
            "samples ms (import+first)",
            "error",
        ],
        _cold_rows(found),
    )
    lines += ["", "Aims of the issue:", ""]
    lines += table(
        ["aim", "measured", "verdict"],
        [[aim, measured, fmt_verdict(met)] for aim, measured, met in aims(found)],
    )
    return [*lines, ""]


# --- the terminal -------------------------------------------------------------------------


def terminal_tables(found: AdapterResults) -> list[RichTable]:
    dispatch = RichTable(title="Adapters: per event (median round)")
    for column in ("contender", "event", "µs/event", "vs Powertools", "over floor µs", "rounds"):
        dispatch.add_column(column, justify="left" if column in ("contender", "event") else "right")
    for row in found.dispatch:
        dispatch.add_row(
            row.name,
            row.event,
            _us(row.median_us) if not row.error else f"failed: {row.error[:40]}",
            fmt_ratio(found.ratio(row.name)),
            "" if row.name == BARE else _us(found.over_floor_us(row.name)),
            str(len(row.rounds_us)),
        )
    cold = RichTable(title="Adapters: cold-start proxy (median)")
    for column in ("contender", "import ms", "first event ms", "total ms", "import vs Powertools"):
        cold.add_column(column, justify="left" if column == "contender" else "right")
    for c in found.cold:
        cold.add_row(
            c.name,
            _ms(c.median_import_ms) if not c.error else f"failed: {c.error[:40]}",
            _ms(c.median_first_ms),
            _ms(c.median_total_ms),
            fmt_ratio(found.cold_ratio(c.name, "import")),
        )
    aim_table = RichTable(title="Adapters: aims")
    for column in ("aim", "measured", "verdict"):
        aim_table.add_column(column)
    for aim, measured, met in aims(found):
        aim_table.add_row(aim, measured, fmt_verdict(met).strip("*"))
    tables = [table for table in (dispatch, cold) if table.row_count]
    return [*tables, aim_table] if tables else []


class Display(terminal.Display):
    """run.py's live display, with the adapters' numbers so far under the others."""

    def __init__(self, console: Any, results: Results, found: AdapterResults) -> None:
        self.found = found
        super().__init__(console, results)

    def _refresh(self) -> None:
        tables: list[Any] = [terminal.live_table(self.results)]
        later = terminal.sections_table(self.results)
        if later.row_count:
            tables.append(later)
        if any(row.rounds_us for row in self.found.dispatch):
            tables += terminal_tables(self.found)[:-1]  # the aims wait for the end
        self.live.update(Group(*tables, self.progress))
