"""What the cold-start section measured: the shop's first request in fresh processes, and
the import times of Powertools and Chalice taken in the same run."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from imports import ImportTime

DIRECT = "direct (Gateway.respond)"
HTTP = "HTTP (faaskit dev)"
COMPARED = ("aws_lambda_powertools", "chalice")
"""The imports measured beside the shop: what a Lambda function built on them pays first."""


@dataclass(frozen=True)
class ColdRun:
    """One fresh process: milliseconds from its spawn, by phase (None where the door does
    not show it: an HTTP server's phases are inside it)."""

    total_ms: float
    """Spawn → the first answer of the request, done."""
    first_ms: float
    """The first request's own latency (the first invocation of the process)."""
    warm_p50_ms: float
    """The median of the later requests of the same kind, in the same process."""
    warm_p99_ms: float
    interpreter_ms: float | None = None
    """Spawn → the child's first line: the interpreter starting."""
    import_ms: float | None = None
    """faaskit and the shop imported (every route, model and handler declared)."""
    start_ms: float | None = None
    """Runtime and gateway built, ``runtime.start()``: the store opened, keys loaded."""


@dataclass
class ColdRow:
    """One way of serving the shop (door, prewarm or not) over several fresh processes."""

    door: str
    prewarm: bool
    runs: list[ColdRun] = field(default_factory=list)
    error: str | None = None

    @property
    def name(self) -> str:
        return f"{self.door}{', prewarm' if self.prewarm else ''}"

    def median(self, phase: Callable[[ColdRun], float | None]) -> float | None:
        values = [value for value in map(phase, self.runs) if value is not None]
        return statistics.median(values) if values else None


@dataclass
class ColdStartResults:
    date: str = ""
    machine: str = ""
    pinning: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    load_before: str = ""
    load_after: str = ""
    samples: int = 0
    warm_requests: int = 0
    request: str = ""
    """The request measured, as text (``GET /orders/{id}``, its token's scopes)."""
    routes: int | None = None
    resources: int | None = None
    """How many ``@app.resource`` the shop declares: what ``--prewarm`` creates at start."""
    rows: list[ColdRow] = field(default_factory=list)
    empty_ms: float | None = None
    """The median wall time of an empty interpreter (``python -c pass``) in this run."""
    imports: list[ImportTime] = field(default_factory=list)
    import_errors: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def row(self, door: str, prewarm: bool = False) -> ColdRow | None:
        return next((r for r in self.rows if r.door == door and r.prewarm == prewarm), None)

    def import_of(self, module: str) -> ImportTime | None:
        return next((i for i in self.imports if i.module == module), None)
