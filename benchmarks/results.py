"""What one run measured: the contenders' names, the results, their formatting and the
issue's aims (met or not)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

import results_aims
from imports import ImportTime
from load import LoadResult
from results_coldstart import ColdStartResults
from results_cqrs import CqrsResults
from results_messaging import MessagingResults

STARLETTE = "Starlette"
FAASKIT = "faaskit"
FAASKIT_NO_RECORDS = "faaskit, invocation records off"
FAASKIT_NO_METRICS = "faaskit, metrics off"
FAASKIT_TRACING = "faaskit, tracing on"
FASTAPI = "FastAPI"
POWERTOOLS = "Powertools"
RAW_ASGI = "raw ASGI (ceiling)"

REFERENCE = {STARLETTE: "~4,700 req/s", POWERTOOLS: "0.85x", FASTAPI: "0.69x"}
"""Earlier measurements on this machine kind (32 connections), quoted by the issue."""
REFERENCE_IMPORT = {"aws_lambda_powertools": "~90 ms"}
IMPORT_NOTES = {
    "faaskit": "the public API (`from faaskit import App, Context`)",
    "aws_lambda_powertools": "the package",
    "chalice": "the package",
    "faaskit.http.gateway": "informational: what a faaskit HTTP server loads",
}


@dataclass
class HttpRow:
    """One contender (or one backend) measured in one or more rounds."""

    name: str
    rounds: list[LoadResult] = field(default_factory=list)
    rows_written: int | None = None
    answered: int | None = None
    """Successful answers over the whole run: probe, warm-up and measured requests."""
    error: str | None = None

    @property
    def median(self) -> LoadResult | None:
        if not self.rounds:
            return None
        ordered = sorted(self.rounds, key=lambda r: r.rps)
        return ordered[(len(ordered) - 1) // 2]


@dataclass
class StartupRow:
    name: str
    seconds: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median_ms(self) -> float | None:
        return statistics.median(self.seconds) * 1e3 if self.seconds else None


@dataclass
class Machine:
    date: str
    cpu: str
    cores: int
    python: str
    versions: dict[str, str]
    load_before: str
    load_after: str = ""
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class Settings:
    connections: int
    warmup: float
    duration: float
    rounds: int
    import_runs: int
    startup_runs: int
    tool: str
    pinning: str
    uvicorn: str
    protocols: str = ""


@dataclass
class Results:
    machine: Machine
    settings: Settings
    hello: list[HttpRow] = field(default_factory=list)
    writes: list[HttpRow] = field(default_factory=list)
    imports: list[ImportTime] = field(default_factory=list)
    import_errors: dict[str, str] = field(default_factory=dict)
    startup: list[StartupRow] = field(default_factory=list)
    messaging: MessagingResults = field(default_factory=MessagingResults)
    cqrs: CqrsResults = field(default_factory=CqrsResults)
    coldstart: ColdStartResults = field(default_factory=ColdStartResults)
    log: list[str] = field(default_factory=list)

    def row(self, name: str) -> HttpRow | None:
        return next((row for row in self.hello if row.name == name), None)

    def rps(self, name: str) -> float | None:
        row = self.row(name)
        result = row.median if row else None
        return result.rps if result else None

    def starlette_ratio(self, result: LoadResult | None) -> float | None:
        base = self.rps(STARLETTE)
        return result.rps / base if result and base else None

    def import_of(self, module: str) -> ImportTime | None:
        return next((i for i in self.imports if i.module == module), None)


# --- formatting ---------------------------------------------------------------------------


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A markdown table's lines."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def fmt_rps(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def fmt_ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def fmt_rounds(row: HttpRow) -> str:
    return " / ".join(f"{r.rps:,.0f}" for r in row.rounds) or "—"


def fmt_verdict(met: bool | str | None) -> str:
    if isinstance(met, str):
        return f"**{met}**"
    return "n/a" if met is None else ("**met**" if met else "**not met**")


# --- the aims -----------------------------------------------------------------------------


def hello_aims(results: Results) -> list[tuple[str, str, bool | None]]:
    """(aim, measured, met) for the hello section."""
    faaskit, starlette = results.rps(FAASKIT), results.rps(STARLETTE)
    aims: list[tuple[str, str, bool | None]] = []
    ratio = faaskit / starlette if faaskit and starlette else None
    aims.append(
        (
            results_aims.HELLO.row,
            f"{fmt_rps(faaskit)} vs {fmt_rps(starlette)} req/s = {fmt_ratio(ratio)}",
            None if ratio is None else ratio >= results_aims.HELLO_RATIO,
        )
    )
    for other in (FASTAPI, POWERTOOLS):
        theirs = results.rps(other)
        measured = f"{fmt_rps(faaskit)} vs {fmt_rps(theirs)} req/s"
        aims.append(
            (
                f"faaskit faster than {other}",
                measured,
                None if not (faaskit and theirs) else faaskit > theirs,
            )
        )
    return aims


def import_aim(results: Results) -> tuple[str, str, bool | str | None]:
    """Issue 10: ``import faaskit`` at most 0.8x Powertools' import; what was measured, and
    whether both methods (-X importtime, wall time) agree that it is met."""
    ours, theirs = results.import_of("faaskit"), results.import_of("aws_lambda_powertools")
    aim, limit = results_aims.IMPORT.row, results_aims.IMPORT_RATIO
    if ours is None or theirs is None or not (theirs.importtime_ms and theirs.wall_ms):
        return aim, "—", None
    by_time = ours.importtime_ms / theirs.importtime_ms
    by_wall = ours.wall_ms / theirs.wall_ms
    measured = (
        f"-X importtime {ours.importtime_ms:.1f} vs {theirs.importtime_ms:.1f} ms = "
        f"{fmt_ratio(by_time)}; wall {ours.wall_ms:.1f} vs {theirs.wall_ms:.1f} ms = "
        f"{fmt_ratio(by_wall)}"
    )
    met_time, met_wall = by_time <= limit, by_wall <= limit
    if met_time == met_wall:
        return aim, measured, met_time
    return (
        aim,
        measured,
        f"mixed: {'met' if met_time else 'not met'} by -X importtime, "
        + ("met by wall time" if met_wall else "not met by wall time"),
    )


def startup_aim(results: Results) -> tuple[str, str, bool | None]:
    """Issue 10: faaskit's process spawn → first 200 at most 1.2x bare Starlette's."""
    medians = {row.name: row.median_ms for row in results.startup}
    ours, theirs = medians.get(FAASKIT), medians.get(STARLETTE)
    ratio = ours / theirs if ours and theirs else None
    return (
        results_aims.STARTUP.row,
        f"{fmt_ms(ours)} vs {fmt_ms(theirs)} ms (medians) = {fmt_ratio(ratio)}",
        None if ratio is None else ratio <= results_aims.STARTUP_RATIO,
    )


def splice(markdown: str, heading: str, section_lines: list[str]) -> str:
    """``markdown`` with the section whose heading starts with ``heading`` (``## Sagas``)
    replaced by ``section_lines``, or, when it has none, the section put before
    "## Notes", else at the end: how a section measured alone replaces only its part.
    The summary of issue 10's aims at the top is rebuilt from the sections after (it sums
    up their verdict rows: see ``report_aims``)."""
    from report_aims import refresh  # report_aims imports this module

    lines = markdown.rstrip("\n").split("\n")
    new = [*section_lines]
    if new and new[-1] != "":
        new.append("")
    start = next((i for i, line in enumerate(lines) if line.startswith(heading)), None)
    if start is not None:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        lines[start:end] = new
    else:
        notes = next((i for i, line in enumerate(lines) if line == "## Notes"), len(lines))
        lines[notes:notes] = new
    return refresh("\n".join(lines))
